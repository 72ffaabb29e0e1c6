import { Cron } from 'croner';
import { AppError } from '../errors.js';

// A task's schedule: a 5-field cron (minute hour day-of-month month day-of-week) read in the environment's
// IANA time zone by croner, so that `0 9 * * 1` is 09:00 on Mondays there, across daylight-saving changes.

function cronOf(schedule: string, timeZone: string): Cron {
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 5) {
    throw new AppError(
      'invalid_task',
      `schedule "${schedule.slice(0, 100)}" has ${fields.length} fields; give 5: minute hour day-of-month month day-of-week, e.g. "0 9 * * 1" for Mondays at 09:00.`,
    );
  }
  try {
    return new Cron(fields.join(' '), { timezone: timeZone, paused: true });
  } catch (error) {
    throw new AppError(
      'invalid_task',
      `schedule "${schedule.slice(0, 100)}" is not a valid cron expression (${(error as Error).message}); e.g. "*/15 * * * *" for every 15 minutes.`,
    );
  }
}

/** The first slot of `schedule` strictly after `after`; throws a validation error for a bad or never-firing schedule. */
export function nextSlot(schedule: string, timeZone: string, after: Date): Date {
  const next = cronOf(schedule, timeZone).nextRun(after);
  if (!next) throw new AppError('invalid_task', `schedule "${schedule.slice(0, 100)}" never fires; check its day and month fields.`);
  return next;
}

import { DirectoryError } from '../../db/errors.js';
import { setEnvironmentSettings } from '../../db/directory.js';
import { parseEnvironmentRef } from '../../db/names.js';
import { formatScanBudget, InvalidScanBudget, parseScanBudget, type ScanBudget } from '../../lakehouse/scan-budget.js';
import { positional, UsageError, type Command } from '../command.js';

/** `--scan-budget`'s value, or a DirectoryError saying the syntax. */
export function scanBudgetOption(value: string | boolean | undefined): ScanBudget | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    return parseScanBudget(value);
  } catch (error) {
    if (error instanceof InvalidScanBudget) throw new DirectoryError('invalid_scan_budget', error.message);
    throw error;
  }
}

export const envSet: Command = {
  words: ['env', 'set'],
  usage: '<org>/<env> [--time-zone <IANA name>] [--scan-budget <50M|10GB|50M,10GB|unlimited>]',
  summary: "change an environment's settings (its time zone, its scan budget per statement)",
  positionals: ['org/env'],
  options: { 'time-zone': { type: 'string' }, 'scan-budget': { type: 'string' } },
  async run(context, args) {
    const ref = parseEnvironmentRef(positional(args, 0));
    const timeZone = args.values['time-zone'];
    // Checked before anything is written: a bad budget changes nothing, the time zone included.
    const budget = scanBudgetOption(args.values['scan-budget']);
    if (typeof timeZone !== 'string' && !budget) throw new UsageError('missing --time-zone or --scan-budget');
    const db = await context.db();
    const environment = await setEnvironmentSettings(db, ref, {
      ...(typeof timeZone === 'string' ? { timeZone } : {}),
      ...(budget ? { scanBudget: budget } : {}),
    });
    const lines = [
      ...(typeof timeZone === 'string' ? [`time zone: ${environment.time_zone} (was ${environment.previous_time_zone})`] : []),
      ...(budget
        ? [`scan budget: ${formatScanBudget(environment.scan_budget)} (was ${formatScanBudget(environment.previous_scan_budget)})`]
        : []),
    ];
    return { json: { environment }, text: `${environment.organization}/${environment.name} ${lines.join('; ')}` };
  },
};

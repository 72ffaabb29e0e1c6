import { DirectoryError } from '../../db/errors.js';
import { setEnvironmentScanBudget, setEnvironmentTimeZone } from '../../db/directory.js';
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
    const zoned = typeof timeZone === 'string' ? await setEnvironmentTimeZone(db, ref, timeZone) : undefined;
    const budgeted = budget ? await setEnvironmentScanBudget(db, ref, budget) : undefined;
    const environment = { ...zoned, ...budgeted } as NonNullable<typeof zoned | typeof budgeted>;
    const lines = [
      ...(zoned ? [`time zone: ${zoned.time_zone} (was ${zoned.previous_time_zone})`] : []),
      ...(budgeted
        ? [`scan budget: ${formatScanBudget(budgeted.scan_budget)} (was ${formatScanBudget(budgeted.previous_scan_budget)})`]
        : []),
    ];
    return { json: { environment }, text: `${environment.organization}/${environment.name} ${lines.join('; ')}` };
  },
};

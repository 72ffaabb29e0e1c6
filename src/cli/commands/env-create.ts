import { createEnvironment } from '../../db/directory.js';
import { parseEnvironmentRef } from '../../db/names.js';
import { formatScanBudget } from '../../lakehouse/scan-budget.js';
import { positional, type Command } from '../command.js';
import { scanBudgetOption } from './env-set.js';

export const envCreate: Command = {
  words: ['env', 'create'],
  usage: '<org>/<env> [--time-zone <IANA name>] [--scan-budget <50M|10GB|50M,10GB>]',
  summary: 'create an environment of an organization (time zone UTC, scan budget unlimited unless given)',
  positionals: ['org/env'],
  options: { 'time-zone': { type: 'string' }, 'scan-budget': { type: 'string' } },
  async run(context, args) {
    const ref = parseEnvironmentRef(positional(args, 0));
    const timeZone = args.values['time-zone'];
    const scanBudget = scanBudgetOption(args.values['scan-budget']);
    const environment = await createEnvironment(await context.db(), ref, {
      ...(typeof timeZone === 'string' ? { timeZone } : {}),
      ...(scanBudget ? { scanBudget } : {}),
    });
    return {
      json: { environment: { ...environment, ...(scanBudget ? { scan_budget: scanBudget } : {}) } },
      text:
        `created environment ${environment.organization}/${environment.name} (${environment.id}), time zone ${environment.time_zone}` +
        (scanBudget ? `, scan budget ${formatScanBudget(scanBudget)}` : ''),
    };
  },
};

import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { PlanScan } from './scan-estimate.js';

// An environment's scan budget (issue 18): the most rows, and bytes, one statement may be estimated to scan
// before it runs. Set with `admin env set <org>/<env> --scan-budget …`; unlimited (NULL) by default. The
// estimate comes from the engine's plan (scan-estimate.ts); docs/sql-sandbox.md says how it is made.

export interface ScanBudget {
  /** Most rows the scans of one statement may be estimated to read; null: unlimited. */
  rows: number | null;
  /** Most bytes (compressed Parquet, or PostgreSQL's rows × width); null: unlimited. */
  bytes: number | null;
}

export const UNLIMITED: ScanBudget = { rows: null, bytes: null };

export const isLimited = (budget: ScanBudget) => budget.rows !== null || budget.bytes !== null;

/** A statement's estimated scan: rows, and bytes where every scan's are known. */
export interface ScanEstimate {
  rows: number;
  bytes?: number;
}

/** Whether an estimate is over a budget: which of its limits it passes. */
export function overBudget(estimate: ScanEstimate, budget: ScanBudget): { rows: boolean; bytes: boolean } {
  return {
    rows: budget.rows !== null && estimate.rows > budget.rows,
    bytes: budget.bytes !== null && estimate.bytes !== undefined && estimate.bytes > budget.bytes,
  };
}

export async function loadScanBudget(db: Kysely<Database>, environmentId: string): Promise<ScanBudget> {
  const row = await db
    .selectFrom('environments')
    .select(['scan_budget_rows', 'scan_budget_bytes'])
    .where('id', '=', environmentId)
    .executeTakeFirst();
  return { rows: row?.scan_budget_rows ?? null, bytes: row?.scan_budget_bytes ?? null };
}

export class InvalidScanBudget extends Error {
  override name = 'InvalidScanBudget';
}

const ROW_UNITS: Record<string, number> = { '': 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12 };
const BYTE_UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KIB: 2 ** 10,
  MIB: 2 ** 20,
  GIB: 2 ** 30,
  TIB: 2 ** 40,
};
const SYNTAX =
  'give rows as a number with an optional K, M, G or T (thousand … trillion), bytes with a unit (B, KB, MB, GB, TB, KiB … TiB), ' +
  'both separated by a comma (e.g. `50M`, `10GB`, `50M,10GB`), or `unlimited`';

/**
 * `--scan-budget`'s value: `unlimited`, or one or two limits separated by a comma: rows (`50M`, `2500000`,
 * `1.5G`, optionally followed by `rows`) and bytes (`10GB`, `512MiB`). A limit left out is unlimited.
 */
export function parseScanBudget(text: string): ScanBudget {
  const value = text.trim();
  if (/^unlimited$/i.test(value)) return { ...UNLIMITED };
  const budget: ScanBudget = { ...UNLIMITED };
  const parts = value.split(',').map((p) => p.trim());
  if (parts.length > 2 || parts.some((p) => p === '')) throw new InvalidScanBudget(`invalid scan budget "${text}": ${SYNTAX}`);
  for (const part of parts) {
    // The unit stops short of a trailing `rows` (`2500000 rows`, `1.5M rows`), which only a row count may carry.
    const match = /^(\d+(?:\.\d+)?)\s*([a-z]*?)(?:\s*rows)?$/i.exec(part);
    const unit = match?.[2]?.toUpperCase() ?? '';
    const isBytes = unit in BYTE_UNITS;
    const factor = isBytes ? BYTE_UNITS[unit] : ROW_UNITS[unit];
    if (!match || factor === undefined || (isBytes && /rows$/i.test(part)))
      throw new InvalidScanBudget(`invalid scan budget "${part}": ${SYNTAX}`);
    const raw = Number(match[1]) * factor;
    // toPrecision: 1.1 × 1e6 is 1100000.0000000002 in binary (a plain number is taken as written).
    const amount = factor === 1 ? raw : Number(raw.toPrecision(15));
    const kind = isBytes ? 'bytes' : 'rows';
    if (budget[kind] !== null) throw new InvalidScanBudget(`the scan budget "${text}" gives ${kind} twice: ${SYNTAX}`);
    if (raw > Number.MAX_SAFE_INTEGER)
      throw new InvalidScanBudget(`invalid scan budget "${part}": at most ${Number.MAX_SAFE_INTEGER} ${kind} (or \`unlimited\`)`);
    if (!Number.isInteger(amount) || amount < 1)
      throw new InvalidScanBudget(`invalid scan budget "${part}": ${kind} must be a whole number of at least 1`);
    budget[kind] = amount;
  }
  return budget;
}

const grouped = (n: number) => Math.round(n).toLocaleString('en-US');
const rowsOf = (n: number) => `${grouped(n)} ${Math.round(n) === 1 ? 'row' : 'rows'}`;

/** Bytes in decimal units, as `--scan-budget` takes them (e.g. 10 GB). */
export function formatScanBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** A budget in words: `1,000,000 rows and 10 GB`, `unlimited`. */
export function formatScanBudget(budget: ScanBudget): string {
  const parts = [...(budget.rows !== null ? [rowsOf(budget.rows)] : []), ...(budget.bytes !== null ? [formatScanBytes(budget.bytes)] : [])];
  return parts.length > 0 ? parts.join(' and ') : 'unlimited';
}

/** The estimate in words: `~1,130,000 rows (~45 MB)`. */
export const formatScanEstimate = (estimate: ScanEstimate) =>
  `~${rowsOf(estimate.rows)}${estimate.bytes !== undefined ? ` (~${formatScanBytes(estimate.bytes)})` : ''}`;

/** A share of a table that fits `budget` of `estimate` (as a percentage to sample), or undefined. */
function sampleShare(estimate: ScanEstimate, budget: ScanBudget): string | undefined {
  const ratios = [
    ...(budget.rows !== null && estimate.rows > 0 ? [budget.rows / estimate.rows] : []),
    ...(budget.bytes !== null && estimate.bytes ? [budget.bytes / estimate.bytes] : []),
  ];
  if (ratios.length === 0) return undefined;
  const percent = Math.min(...ratios) * 100 * 0.9;
  if (percent < 0.1) return undefined;
  return percent >= 1 ? String(Math.floor(percent)) : percent.toFixed(1);
}

/** The cost guard's verdict: throws scanBudgetRefusal when the estimated scan passes a limit of `budget`. */
export function assertWithinBudget(scan: PlanScan, budget: ScanBudget, dialect: 'duckdb' | 'postgres'): void {
  const over = overBudget(scan, budget);
  if (over.rows || over.bytes) throw scanBudgetRefusal(scan, budget, dialect);
}

/**
 * The refusal of a statement whose estimated scan passes its environment's budget: the estimate, the budget,
 * and what would bring it under (a time filter on the largest unfiltered scan's time column, fewer columns, a
 * sample), or an admin raising the budget. `scan` lists the scans; `dialect` picks the sample syntax.
 */
export function scanBudgetRefusal(scan: PlanScan, budget: ScanBudget, dialect: 'duckdb' | 'postgres'): AppError {
  const over = overBudget(scan, budget);
  const limits = formatScanBudget({ rows: over.rows ? budget.rows : null, bytes: over.bytes ? budget.bytes : null });
  const largest = [...scan.scans].sort((a, b) => b.rows - a.rows)[0];
  const table = largest?.table;
  const unfiltered = [...scan.scans].filter((s) => !s.filtered).sort((a, b) => b.rows - a.rows)[0];
  const advice: string[] = [];
  if (unfiltered?.time_column) {
    const column = unfiltered.time_column;
    const interval = dialect === 'duckdb' ? 'INTERVAL 30 DAY' : "interval '30 days'";
    advice.push(`filter ${unfiltered.table ?? 'the table'} on its time column ${column} (e.g. WHERE ${column} >= now() - ${interval})`);
  } else if (unfiltered) {
    advice.push(`filter ${unfiltered.table ?? 'the largest table'} on its time column (WHERE <time column> >= …)`);
  } else {
    advice.push('narrow its filters (a shorter time range)');
  }
  advice.push(over.bytes ? 'select only the columns you need (bytes count per column read)' : 'select only the columns you need');
  const share = sampleShare(scan, budget) ?? '1';
  const name = table?.split('.').pop() ?? 'events';
  advice.push(
    dialect === 'duckdb'
      ? `sample it (FROM ${name} TABLESAMPLE ${share}%, an estimate to scale up)`
      : `sample it (FROM ${name} TABLESAMPLE SYSTEM (${share}), an estimate to scale up)`,
  );
  const where = table ? `, most of it in ${table}` : '';
  return new AppError(
    'scan_budget_exceeded',
    `Refused before running: the plan is estimated to scan ${formatScanEstimate(scan)}${where}, over this environment's scan budget of ${limits} per statement. ` +
      `To bring it under: ${advice.join('; ')}. explain_sql shows the estimate against the budget. ` +
      'If the whole scan is needed, ask an admin to raise the budget (admin env set <org>/<env> --scan-budget …).',
  );
}

import type { ScanEstimate } from './scan-budget.js';

// How much a statement's plan says it will scan (issue 18's cost guard; docs/sql-sandbox.md): the sum over
// its scan operators of the planner's estimated rows, and bytes where known. DuckDB estimates a Parquet scan's
// rows after the filters pushed into it (fixed selectivities, no histograms); PostgreSQL's Plan Rows is the
// same kind of figure. Both are estimates: the guard compares them, it never counts rows.

/** One scan of a plan: what it reads and how much. */
export interface ScanRead {
  /** `connection.table`, when the scan could be told apart from the other tables. */
  table?: string;
  rows: number;
  bytes?: number;
  /** Whether a filter was pushed into the scan (a WHERE on one of its columns). */
  filtered: boolean;
  /** The table's first TIMESTAMP or DATE column, to name in advice. */
  time_column?: string;
}

export interface PlanScan extends ScanEstimate {
  scans: ScanRead[];
}

export interface DuckOperator {
  name?: string;
  children?: DuckOperator[];
  extra_info?: Record<string, unknown>;
}

/** A table a DuckDB scan may read: its columns, rows and the compressed bytes of each column. */
export interface ScannedTable {
  /** `connection.table` */
  name: string;
  rows: number;
  columns: { name: string; type: string }[];
  /** Compressed bytes of each column in the table's Parquet files; undefined when unknown. */
  columnBytes?: Record<string, number>;
}

/** DuckDB's row group: a LIMIT straight over a scan stops after about one of these per thread. */
export const ROW_GROUP_ROWS = 122_880;

/** Operators that read no table: results of other operators, constants, metadata answers. */
const NOT_TABLE_SCANS = new Set([
  'COLUMN_DATA_SCAN',
  'CTE_SCAN',
  'DUMMY_SCAN',
  'EMPTY_RESULT',
  'DELIM_SCAN',
  'CHUNK_SCAN',
  'EXPRESSION_SCAN',
]);
const isTableScan = (node: DuckOperator) => /SCAN|READ_/.test(node.name ?? '') && !NOT_TABLE_SCANS.has(node.name ?? '');
/** Operators a streamed LIMIT passes through without reading more than it returns. */
const STREAMING = new Set(['PROJECTION', 'STREAMING_LIMIT', 'LIMIT']);

const list = (value: unknown): string[] =>
  (Array.isArray(value) ? value.map(String) : typeof value === 'string' ? value.split('\n') : [])
    .flatMap((v) => v.split(/,\s*/))
    .map((v) => v.trim())
    .filter(Boolean);

const estimated = (node: DuckOperator) => Number(node.extra_info?.['Estimated Cardinality'] ?? NaN);

/** The statement's LIMITs, which DuckDB's plan does not count: the most rows any of them passes on. */
export interface StatementLimits {
  /** The largest LIMIT plus its OFFSET of the statement's SELECTs (every one a constant). */
  rows: number;
  /** How far past a LIMIT its input is read before it stops: about a row group per thread. */
  readAhead: number;
}

const isLimit = (node: DuckOperator) => node.name === 'STREAMING_LIMIT' || node.name === 'LIMIT';

/** An operator's estimated output: a Top-N's N, a LIMIT's bound, else its estimated cardinality. */
function outputRows(node: DuckOperator, limits: StatementLimits | undefined): number | undefined {
  const top = Number(node.extra_info?.Top ?? NaN);
  if (Number.isFinite(top)) return top;
  const rows = estimated(node);
  if (Number.isFinite(rows)) return rows;
  return isLimit(node) ? limits?.rows : undefined;
}

/** The scan's table among `tables`: the one holding every column it reads, the ones the SQL names first. */
function tablesOf(columns: string[], tables: ScannedTable[], preferred: (name: string) => number): ScannedTable[] {
  const fits = tables.filter((t) => columns.every((c) => t.columns.some((tc) => tc.name === c)));
  return fits.sort((a, b) => preferred(a.name) - preferred(b.name));
}

/**
 * The scans of a DuckDB plan (EXPLAIN (FORMAT json)'s operators). `tables`: those the scans may read;
 * `preferred`: a rank of a table name (lower first: those the SQL names, in the session's catalog);
 * `streamCap`: the most rows a scan streamed straight to the caller reads (the worker stops fetching at the
 * answer's limit: about one row group per thread past it); Infinity when the statement runs to its end (an
 * export, EXPLAIN ANALYZE). `limits`: the statement's LIMITs, when each is a constant: a LIMIT stops the scans
 * streamed into it, wherever it is in the plan.
 */
export function duckPlanScan(
  operators: DuckOperator[],
  tables: ScannedTable[],
  preferred: (name: string) => number,
  streamCap: number,
  limits?: StatementLimits,
): PlanScan {
  const scans: ScanRead[] = [];
  /** `cap`: the most rows a scan streamed into this operator reads (Infinity: all of them). */
  const visit = (node: DuckOperator, cap: number, sampled: number | undefined, fetched?: number) => {
    const name = node.name ?? '';
    if (isTableScan(node)) {
      const info = node.extra_info ?? {};
      // Dynamic filters (`optional: …`, from a Top-N or a join) are made while the statement runs.
      const filters = list(info.Filters).filter((f) => !/^optional:/.test(f));
      const projected = list(info.Projections);
      const filterColumns = filters.map((f) => /^"?([A-Za-z_][\w]*)"?/.exec(f)?.[1]).filter((c): c is string => !!c);
      const read = [...new Set([...projected, ...filterColumns])];
      const candidates = tablesOf(read, tables, preferred);
      const table = candidates[0];
      let rows = estimated(node);
      // A sample's scan is estimated at 0: a SYSTEM sample reads its share of the table, others all of it.
      if (sampled !== undefined && table && !(rows > 0)) rows = table.rows * sampled;
      if (!Number.isFinite(rows)) rows = table?.rows ?? 0;
      // The footers count a table's rows exactly: DuckDB guesses for files it has not opened yet (a new version).
      // Which table a scan reads is told by its columns and the names in the SQL, and a statement can hide a name
      // (SQL in a string, query('…')): DuckDB's own count stands when it is exactly another candidate's, and a
      // filtered scan is capped by the largest table it could be.
      const counted = candidates.filter((t) => t.columnBytes);
      const exact = table?.columnBytes ? table.rows : undefined;
      if (exact !== undefined && filters.length === 0 && sampled === undefined) {
        if (!counted.some((t) => t.rows === rows)) rows = exact;
      } else if (exact !== undefined) rows = Math.min(rows, Math.max(...counted.map((t) => t.rows)));
      if (filters.length === 0) rows = Math.min(rows, cap);
      if (fetched !== undefined) rows = Math.min(rows, fetched);
      const columnBytes = table?.columnBytes;
      const bytes =
        columnBytes && table && read.every((c) => c in columnBytes)
          ? read.reduce((sum, c) => sum + (columnBytes[c] ?? 0), 0) * (table.rows > 0 ? rows / table.rows : 0)
          : undefined;
      const time = table?.columns.find((c) => /TIMESTAMP|DATE/i.test(c.type))?.name;
      scans.push({
        ...(table ? { table: table.name } : {}),
        rows: Math.round(rows),
        ...(bytes !== undefined ? { bytes: Math.round(bytes) } : {}),
        filtered: filters.length > 0,
        ...(time ? { time_column: time } : {}),
      });
    }
    const share = /^System:\s*([\d.]+)%/.exec(list(node.extra_info?.['Sample Method'])[0] ?? '');
    const nextSampled = /SAMPLE/.test(name) ? (share ? Number(share[1]) / 100 : 1) : sampled;
    // Late materialization: a Top-N finds its rows by row number, then the scan joined on file_row_number
    // fetches only those.
    const children = node.children ?? [];
    const byRowNumber = /JOIN/.test(name) && list(node.extra_info?.Conditions).some((c) => c.includes('file_row_number'));
    const streamed = STREAMING.has(name) ? cap : Infinity;
    const childCap = isLimit(node) && limits ? Math.min(streamed, limits.rows + limits.readAhead) : streamed;
    children.forEach((child, i) => {
      const sibling = children[1 - i];
      const rows = byRowNumber && sibling && children.length === 2 ? outputRows(sibling, limits) : undefined;
      visit(child, childCap, nextSampled, rows);
    });
  };
  for (const root of operators) visit(root, streamCap, undefined);
  return total(scans);
}

function total(scans: ScanRead[]): PlanScan {
  const rows = scans.reduce((sum, s) => sum + s.rows, 0);
  const known = scans.every((s) => s.bytes !== undefined);
  return { rows, ...(known ? { bytes: scans.reduce((sum, s) => sum + (s.bytes ?? 0), 0) } : {}), scans };
}

interface PgNode extends Record<string, unknown> {
  'Node Type'?: string;
  'Relation Name'?: string;
  Schema?: string;
  'Plan Rows'?: number;
  'Plan Width'?: number;
  'Startup Cost'?: number;
  'Total Cost'?: number;
  'Parallel Aware'?: boolean;
  'Workers Planned'?: number;
  'Parent Relationship'?: string;
  Filter?: string;
  'Index Cond'?: string;
  'Recheck Cond'?: string;
  Plans?: PgNode[];
}

const PG_SCANS = new Set(['Seq Scan', 'Index Scan', 'Index Only Scan', 'Bitmap Heap Scan', 'Sample Scan', 'Tid Scan', 'Tid Range Scan']);
/** Nodes that hand rows up as they come: a Limit above them stops the scans below early. */
const PG_STREAMING = new Set(['Limit', 'Result', 'Subquery Scan', 'Gather']);

/**
 * The share of its input a Limit reads, by PostgreSQL's own costing of it (its OFFSET rows included: they are
 * read too): (limit's total − input's startup) / (input's total − input's startup).
 */
function limitShare(limit: PgNode): number {
  // Its input is the Outer child; an InitPlan beside it (a LIMIT (SELECT …)) is not what it reads.
  const input = limit.Plans?.find((child) => (child['Parent Relationship'] ?? 'Outer') === 'Outer');
  const [start, end, top] = [input?.['Startup Cost'], input?.['Total Cost'], limit['Total Cost']];
  if (start === undefined || end === undefined || top === undefined || !(end > start)) return 1;
  return Math.min(1, Math.max(0, (top - start) / (end - start)));
}

/**
 * How many processes share a parallel scan, as PostgreSQL divides its Plan Rows (get_parallel_divisor): the
 * workers, and the leader's share when it takes part (1 − 0.3 per worker, while that is positive).
 */
const parallelDivisor = (workers: number) => workers + Math.max(0, 1 - 0.3 * workers);

/**
 * The scans of a PostgreSQL plan (EXPLAIN (FORMAT JSON)'s object holding `Plan`): rows, and rows × width. A
 * parallel scan's Plan Rows are one process's: they count for all of them. With `constantLimits` (the
 * statement's every LIMIT and OFFSET is a constant, so the planner costed each by its count), an unfiltered
 * scan under a Limit, through unfiltered nodes that stream, counts the share of its rows the Limit reads;
 * InitPlans and SubPlans count whole.
 */
export function pgPlanScan(explained: Record<string, unknown>, constantLimits: boolean): PlanScan {
  const scans: ScanRead[] = [];
  const visit = (node: PgNode, share: number, workers: number) => {
    const type = node['Node Type'] ?? '';
    // A filter may drop every row it reads (its selectivity is a guess): a Limit above it does not stop it early.
    const filters = node.Filter !== undefined || node['Join Filter'] !== undefined;
    if (PG_SCANS.has(type)) {
      const perProcess = node['Plan Rows'] ?? 0;
      // A bitmap heap scan reads its whole bitmap first.
      const read = filters || type === 'Bitmap Heap Scan' ? 1 : share;
      const rows = Math.round((node['Parallel Aware'] ? perProcess * parallelDivisor(workers) : perProcess) * read);
      scans.push({
        ...(node['Relation Name'] ? { table: node['Relation Name'] } : {}),
        rows,
        bytes: rows * (node['Plan Width'] ?? 0),
        filtered: !!(node.Filter ?? node['Index Cond'] ?? node['Recheck Cond']),
      });
    }
    const streams = PG_STREAMING.has(type) && !filters;
    const below = streams ? (type === 'Limit' && constantLimits ? share * limitShare(node) : share) : 1;
    const belowWorkers = /^Gather/.test(type) ? (node['Workers Planned'] ?? 0) : workers;
    for (const child of node.Plans ?? []) {
      // An InitPlan or a SubPlan runs whole, whatever Limit is above the node it hangs on.
      const ownPlan = /^(InitPlan|SubPlan)$/.test(child['Parent Relationship'] ?? '');
      visit(child, ownPlan ? 1 : below, belowWorkers);
    }
  };
  if (explained.Plan) visit(explained.Plan as PgNode, 1, 0);
  return total(scans);
}

import type { Kysely } from 'kysely';
import type { Database, JsonObject } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { TaskDefinition } from '../generated/tool-types.js';
import type { BindValue, Lakehouse } from '../lakehouse/lakehouse.js';
import { compileQuery, findModel, type ModelQuery } from '../lakehouse/semantic-models.js';
import { rangeResolver } from '../operations/environment-time-zone.js';
import { holtWinters } from './holt-winters.js';
import { seasonalAnomalies, type SeriesPoint } from './seasonal-anomaly.js';

// One run of a task's definition: fetch its data through the environment's SQL sandbox (its own SQL, or a
// semantic-model measure compiled to SQL), then judge it by its kind. A problem of the task itself (bad SQL,
// a result of the wrong shape, too little history) is an AppError: the run records it as failed.

/** A definition as the validator leaves it: every default filled in. */
export type FilledDefinition = TaskDefinition &
  Required<Pick<TaskDefinition, 'connection' | 'granularity' | 'sensitivity' | 'season' | 'check_last' | 'horizon'>>;

export interface Evaluation {
  finding: boolean;
  /** The discovery's title when there is a finding. */
  title: string;
  /** One or two sentences: what was measured and what it means. */
  summary: string;
  result: JsonObject;
  sql: string;
}

export interface EvaluationContext {
  db: Kysely<Database>;
  lakehouse: Lakehouse;
  environmentId: string;
  timeZone: string;
  /** The slot the run is for: relative periods (the last complete day…) count back from it. */
  slot: Date;
  timeoutMs: number;
  signal: AbortSignal;
}

/** Rows a series may have; a task asking for more gets the first ones and says so. */
const MAX_ROWS = 5_000;
const MAX_BYTES = 1024 * 1024;
const NUMERIC = /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i;

const taskError = (message: string) => new AppError('invalid_task', message);

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && NUMERIC.test(value)) return Number(value);
  return undefined;
}

const periodText = (value: unknown): string => (value instanceof Date ? value.toISOString() : String(value));
const round = (x: number) => Math.round(x * 1000) / 1000;

const OPS = {
  gt: { test: (a: number, b: number) => a > b, words: 'above' },
  gte: { test: (a: number, b: number) => a >= b, words: 'at or above' },
  lt: { test: (a: number, b: number) => a < b, words: 'below' },
  lte: { test: (a: number, b: number) => a <= b, words: 'at or below' },
} as const;

interface Fetched {
  columns: string[];
  rows: unknown[][];
  sql: string;
  truncated: boolean;
}

/** The [from, to) of the period of `granularity` before the slot's (previous: true) or the slot's own. */
function periodBounds(
  granularity: FilledDefinition['granularity'],
  ctx: EvaluationContext,
  previous: boolean,
): { from: string; to: string } {
  if (granularity === 'hour') {
    const hour = Math.floor(ctx.slot.getTime() / 3_600_000) * 3_600_000;
    return previous
      ? { from: new Date(hour - 3_600_000).toISOString(), to: new Date(hour).toISOString() }
      : { from: new Date(hour).toISOString(), to: new Date(hour + 3_600_000).toISOString() };
  }
  const phrase = { day: ['yesterday', 'today'], week: ['last week', 'this week'], month: ['last month', 'this month'] }[granularity];
  return rangeResolver(ctx.timeZone, ctx.slot.getTime())(phrase[previous ? 0 : 1] as string);
}

async function fetchRows(definition: FilledDefinition, ctx: EvaluationContext, series: boolean): Promise<Fetched> {
  let sql: string;
  let connection: string;
  let values: BindValue[] = [];
  if (definition.sql !== undefined) {
    if (definition.model !== undefined) throw taskError('Give either `sql` or `model` with `measure`, not both.');
    sql = definition.sql;
    connection = definition.connection;
  } else {
    if (definition.model === undefined || definition.measure === undefined) {
      throw taskError('The definition needs its data: `sql`, or `model` and `measure` (list_semantic_models names them).');
    }
    const { model } = await findModel(ctx.db, ctx.environmentId, definition.model);
    const time = model.dimensions.find((d) => d.type === 'time');
    if (!time) throw taskError(`Model "${model.name}" has no time dimension to make periods of; use \`sql\` instead.`);
    const query: ModelQuery = series
      ? {
          model: model.name,
          measures: [definition.measure],
          dimensions: [{ name: time.name, granularity: definition.granularity }],
          // The slot's own period is still running: only complete periods count.
          filters: [{ field: time.name, op: 'lt', value: periodBounds(definition.granularity, ctx, false).from }],
          order: [{ field: time.name, direction: 'asc' }],
          limit: MAX_ROWS,
        }
      : (() => {
          const { from, to } = periodBounds(definition.granularity, ctx, true);
          return {
            model: model.name,
            measures: [definition.measure],
            filters: [
              { field: time.name, op: 'gte' as const, value: from },
              { field: time.name, op: 'lt' as const, value: to },
            ],
          };
        })();
    const compiled = compileQuery(model, query);
    sql = compiled.sql;
    values = compiled.values;
    connection = model.connection;
  }
  const result = await ctx.lakehouse.query(ctx.environmentId, connection, sql, {
    values,
    limit: MAX_ROWS,
    offset: 0,
    timeoutMs: ctx.timeoutMs,
    maxBytes: MAX_BYTES,
    signal: ctx.signal,
  });
  return { columns: result.columns.map((c) => c.name), rows: result.rows, sql, truncated: result.truncated };
}

/** Rows of (period, value): the first column is the period, the value the first numeric column after it. */
function toSeries(rows: unknown[][]): SeriesPoint[] {
  return rows.map((row, i) => {
    if (row.length < 2) throw taskError('A series needs two columns per row: the period, then its value.');
    const value = row
      .slice(1)
      .map(toNumber)
      .find((v) => v !== undefined);
    if (value === undefined) throw taskError(`Row ${i + 1} of the series has no numeric value after its period.`);
    return { period: periodText(row[0]), value };
  });
}

async function monitor(definition: FilledDefinition, ctx: EvaluationContext): Promise<Evaluation> {
  const { op, threshold } = definition;
  if (op === undefined || threshold === undefined) throw taskError('A monitor needs `op` (gt, gte, lt, lte) and `threshold`.');
  const fetched = await fetchRows(definition, ctx, false);
  const first = fetched.rows[0] ?? [];
  const index = first.findIndex((v) => toNumber(v) !== undefined);
  if (index < 0) throw taskError('The monitor query gave no numeric value; its first row needs a number.');
  const value = toNumber(first[index]) as number;
  const finding = OPS[op].test(value, threshold);
  const what = definition.measure ?? fetched.columns[index] ?? 'the value';
  return {
    finding,
    title: `Monitor: ${what} ${round(value)} is ${OPS[op].words} ${threshold}`,
    summary: `${what} is ${round(value)}, ${finding ? '' : 'not '}${OPS[op].words} the threshold ${threshold}.`,
    result: { value, op, threshold },
    sql: fetched.sql,
  };
}

async function anomalyDetection(definition: FilledDefinition, ctx: EvaluationContext): Promise<Evaluation> {
  const fetched = await fetchRows(definition, ctx, true);
  const points = toSeries(fetched.rows);
  const { season, sensitivity, check_last: checkLast } = definition;
  const check = seasonalAnomalies(points, { season, sensitivity, checkLast });
  if (check.checked === 0) {
    throw taskError(
      `Too little history: each checked period needs at least 2 earlier seasons (${2 * season} periods before it); the series has ${points.length}.`,
    );
  }
  const list = check.anomalies
    .slice(0, 10)
    .map((a) => `${a.period}: ${round(a.value)} vs ${round(a.expected)} expected (z ${a.z})`)
    .join('; ');
  const count = check.anomalies.length;
  return {
    finding: count > 0,
    title: `Anomaly: ${count} of the last ${check.checked} periods off their seasonal baseline`,
    summary:
      count > 0
        ? `${count} period${count === 1 ? '' : 's'} with |z| >= ${sensitivity} against the same point of the previous seasons: ${list}${count > 10 ? '; …' : ''}.`
        : `No anomaly: the last ${check.checked} periods are within ${sensitivity} robust deviations of their seasonal baseline.`,
    result: { checked: check.checked, anomalies: check.anomalies.slice(0, 50) as unknown as JsonObject[] },
    sql: fetched.sql,
  };
}

async function forecast(definition: FilledDefinition, ctx: EvaluationContext): Promise<Evaluation> {
  const fetched = await fetchRows(definition, ctx, true);
  const points = toSeries(fetched.rows);
  const { season, horizon, op, threshold } = definition;
  let fit;
  try {
    fit = holtWinters(
      points.map((p) => p.value),
      season,
      horizon,
    );
  } catch (error) {
    if (error instanceof RangeError) throw taskError(`Too little history: ${error.message}.`);
    throw error;
  }
  const crossing = op !== undefined && threshold !== undefined ? fit.forecast.find((p) => OPS[op].test(p.value, threshold)) : undefined;
  const finding = op === undefined || threshold === undefined ? true : crossing !== undefined;
  const head = fit.forecast
    .slice(0, 7)
    .map((p) => `${round(p.value)} [${round(p.lower)}, ${round(p.upper)}]`)
    .join(', ');
  const what = definition.measure ?? 'the value';
  return {
    finding,
    title: crossing
      ? `Forecast: ${what} ${OPS[op!].words} ${threshold} in ${crossing.step} period${crossing.step === 1 ? '' : 's'}`
      : `Forecast: ${what}, next ${horizon} periods`,
    summary:
      `Holt-Winters (additive, season ${season}, alpha ${fit.alpha}, beta ${fit.beta}, gamma ${fit.gamma}) over ${points.length} periods ` +
      `to ${points[points.length - 1]?.period}; next periods with 95% intervals: ${head}${horizon > 7 ? ', …' : ''}.` +
      (crossing ? ` Crosses ${threshold} at step ${crossing.step}.` : ''),
    result: {
      last_period: points[points.length - 1]?.period ?? null,
      alpha: fit.alpha,
      beta: fit.beta,
      gamma: fit.gamma,
      sigma: round(fit.sigma),
      forecast: fit.forecast.map((p) => ({ step: p.step, value: round(p.value), lower: round(p.lower), upper: round(p.upper) })),
    },
    sql: fetched.sql,
  };
}

export function evaluate(definition: FilledDefinition, ctx: EvaluationContext): Promise<Evaluation> {
  switch (definition.kind) {
    case 'monitor':
      return monitor(definition, ctx);
    case 'anomaly_detection':
      return anomalyDetection(definition, ctx);
    case 'forecast':
      return forecast(definition, ctx);
  }
}

/** Checks what the schema cannot: which fields a kind needs. Answers a message for invalid_task, or undefined. */
export function definitionProblem(definition: TaskDefinition): string | undefined {
  const hasSql = definition.sql !== undefined;
  const hasModel = definition.model !== undefined || definition.measure !== undefined;
  if (hasSql === hasModel) return 'Give the data either as `sql` or as `model` with `measure`.';
  if (hasModel && (definition.model === undefined || definition.measure === undefined)) return 'A model needs both `model` and `measure`.';
  if ((definition.op === undefined) !== (definition.threshold === undefined)) return 'Give `op` and `threshold` together.';
  if (definition.kind === 'monitor' && definition.op === undefined) return 'A monitor needs `op` (gt, gte, lt, lte) and `threshold`.';
  return undefined;
}

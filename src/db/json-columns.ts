import type { ColumnType, JSONColumnType } from 'kysely';
import type { Chart, DashboardVariable, InsightParameter, SemanticModel, TaskDefinition } from '../generated/tool-types.js';

// What the jsonb columns hold: the one part of the database types that the schema cannot tell.
// src/generated/db.ts (`npm run db:types`) types every jsonb column `t.c` as JsonColumns['t.c'], so a new
// jsonb column fails the type check until it has an entry here; nullability and defaults come from the schema.
// Documents the tools take in are typed by the contract (specs/schemas/, checked on the way in).

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** Objects only: pg serializes an object to JSON but a JS array to a Postgres array. */
export type JsonObject = { [key: string]: JsonValue };

/** A JSON object column, written as the object itself (pg sends it as JSON text). */
type ObjectColumn<T extends object> = ColumnType<T, T, T>;
/** A JSON array column, written as JSON text (JSON.stringify): pg would send a JS array as a Postgres array. */
type ArrayColumn<T extends unknown[]> = JSONColumnType<T>;

export interface JsonColumns {
  'audit_log.detail': ObjectColumn<JsonObject>;
  'dashboards.variables': ArrayColumn<DashboardVariable[]>;
  /** A create tool's first answer, written as JSON text (JSON.stringify). */
  'idempotency_keys.result': ColumnType<JsonValue, string, string>;
  'insights.chart': ObjectColumn<Chart>;
  'insights.parameters': ArrayColumn<InsightParameter[]>;
  /** Per column of a legacy table copied to Parquet: its checksum, the same in PostgreSQL and DuckDB (src/lakehouse/upgrade.ts). */
  'lakehouse_legacy_tables.checksums': ArrayColumn<{ column: string; type: string; non_null: number; hash_sum: string }[]>;
  /** A table's columns, as DuckDB names and types them. */
  'lakehouse_tables.columns': ArrayColumn<{ name: string; type: string }[]>;
  /** A table's Parquet files, relative to the lakehouse folder. */
  'lakehouse_tables.files': ArrayColumn<string[]>;
  /** Rows per sample table. */
  'lakehouse_sample.row_counts': ObjectColumn<Record<string, number>>;
  /** The public JWK of the signing key (kid, alg, use included). */
  'oauth_signing_keys.public_jwk': ObjectColumn<JsonObject>;
  'semantic_models.definition': ObjectColumn<SemanticModel>;
  'tasks.definition': ObjectColumn<TaskDefinition>;
  /** What a run measured: the value, the flagged points or the forecast (src/tasks/). */
  'task_runs.result': ObjectColumn<JsonObject>;
}

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import { AppError } from '../../errors.js';
import { TABLE_NAME } from './load-input.js';

// The table layer of the DuckDB lakehouse (issue 15, item 2). An environment's table is a set of Parquet
// files under `<root>/<environment id>/<table>/`; the set that *is* the table (its version, files, columns and
// row count) is one row of `lakehouse_tables` in PostgreSQL. A write puts new files in a folder of its own,
// then commits them in one transaction: readers (in any process) see the old version or the new one, never a
// part, and a failed write leaves only files no row names, which `sweep` removes. Open table formats
// (DuckLake, Iceberg) would replace this module where their extensions can be installed; offline they cannot.

export interface TableColumn {
  name: string;
  type: string;
}

export interface StoredTable {
  name: string;
  version: number;
  /** Absolute paths of the table's Parquet files. */
  files: string[];
  columns: TableColumn[];
  rowCount: number;
}

/** What a writer made: the rows and columns of the file it wrote. */
export interface WrittenPart {
  rows: number;
  columns: TableColumn[];
}

export class TableStore {
  constructor(
    private readonly db: Kysely<Database>,
    /** The lakehouse folder (DATA_DIR/lakehouse). */
    readonly root: string,
  ) {}

  /** The folder an environment's worker may read. */
  environmentDir(environmentId: string): string {
    return path.join(this.root, environmentId);
  }

  /** The committed tables of an environment. */
  async tables(environmentId: string): Promise<StoredTable[]> {
    const rows = await this.db
      .selectFrom('lakehouse_tables')
      .select(['name', 'version', 'files', 'columns', 'row_count'])
      .where('environment_id', '=', environmentId)
      .orderBy('name')
      .execute();
    return rows.map((row) => ({
      name: row.name,
      version: row.version,
      files: row.files.map((file) => path.join(this.root, file)),
      columns: row.columns,
      rowCount: Number(row.row_count),
    }));
  }

  /**
   * Writes one Parquet file with `write(file)` and commits it as a new version of the table: its only file
   * (`replace`) or one more (`append`, which needs the same columns). Concurrent writers of one table are
   * serialized by the row lock; each lands whole.
   */
  async write(
    environmentId: string,
    name: string,
    mode: 'replace' | 'append',
    write: (file: string) => Promise<WrittenPart>,
  ): Promise<StoredTable> {
    if (!TABLE_NAME.test(name)) {
      throw new AppError('invalid_load', `"${name.slice(0, 80)}" is not a table name: lowercase letters, digits and _, at most 63.`);
    }
    const relativeDir = path.join(environmentId, name, `${Date.now()}-${crypto.randomUUID()}`);
    const relativeFile = path.join(relativeDir, 'part-0.parquet');
    fs.mkdirSync(path.join(this.root, relativeDir), { recursive: true });
    try {
      const part = await write(path.join(this.root, relativeFile));
      return await this.db.transaction().execute(async (trx) => {
        const current = await trx
          .selectFrom('lakehouse_tables')
          .select(['version', 'files', 'columns', 'row_count'])
          .where('environment_id', '=', environmentId)
          .where('name', '=', name)
          .forUpdate()
          .executeTakeFirst();
        if (mode === 'append' && current && !sameColumns(current.columns, part.columns)) {
          throw new AppError(
            'invalid_load',
            `The rows do not fit the table "${name}": it has ${describe(current.columns)}; the rows have ${describe(part.columns)}.`,
          );
        }
        const files = mode === 'append' && current ? [...current.files, relativeFile] : [relativeFile];
        const row = {
          version: (current?.version ?? 0) + 1,
          files: JSON.stringify(files),
          columns: JSON.stringify(part.columns),
          row_count: (mode === 'append' && current ? Number(current.row_count) : 0) + part.rows,
        };
        await trx
          .insertInto('lakehouse_tables')
          .values({ environment_id: environmentId, name, ...row })
          .onConflict((oc) => oc.columns(['environment_id', 'name']).doUpdateSet({ ...row, committed_at: new Date() }))
          .execute();
        return {
          name,
          version: row.version,
          files: files.map((file) => path.join(this.root, file)),
          columns: part.columns,
          rowCount: row.row_count,
        };
      });
    } catch (error) {
      fs.rmSync(path.join(this.root, relativeDir), { recursive: true, force: true });
      throw error;
    }
  }

  /**
   * Removes the folders of an environment's tables that no committed version names and that are older than
   * `graceMs` (a reader in another process may still be reading a version that was just replaced).
   */
  async sweep(environmentId: string, graceMs: number): Promise<number> {
    const referenced = new Set((await this.tables(environmentId)).flatMap((t) => t.files.map((file) => path.dirname(file))));
    const cutoff = Date.now() - graceMs;
    let removed = 0;
    const environmentDir = this.environmentDir(environmentId);
    for (const table of fs.existsSync(environmentDir) ? fs.readdirSync(environmentDir) : []) {
      const tableDir = path.join(environmentDir, table);
      for (const part of fs.readdirSync(tableDir)) {
        const dir = path.join(tableDir, part);
        if (referenced.has(dir) || fs.statSync(dir).mtimeMs > cutoff) continue;
        fs.rmSync(dir, { recursive: true, force: true });
        removed++;
      }
    }
    return removed;
  }
}

const sameColumns = (a: TableColumn[], b: TableColumn[]) =>
  a.length === b.length && a.every((column, i) => column.name === b[i]?.name && column.type === b[i]?.type);

const describe = (columns: TableColumn[]) => columns.map((c) => `${c.name} ${c.type}`).join(', ');

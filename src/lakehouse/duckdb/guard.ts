import { StatementType, type DuckDBConnection, type DuckDBPreparedStatement } from '@duckdb/node-api';
import { AppError } from '../../errors.js';

// What an agent's SQL may be on DuckDB: one statement, a SELECT (DuckDB's FROM-first, PRAGMA and SHOW forms
// are SELECTs too) or an EXPLAIN [ANALYZE] of one. Everything else is refused before it runs: the locked
// configuration of a worker still allows DETACH, CREATE in memory and COPY … TO its own folder, so the
// statement type is the line, as DuckDB's own parser sees it (extractStatements, then each statement's type).

export type CheckedKind = 'select' | 'explain';

/** A statement that passed: what it is, and it prepared (bound to the connection's catalogs, not run). */
export interface CheckedStatement {
  kind: CheckedKind;
  prepared: DuckDBPreparedStatement;
}

const HINT = 'The lakehouse is read-only here: send one SELECT (or EXPLAIN SELECT …).';

/** The first word of a statement, after comments and whitespace. */
const FIRST_WORD = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*([A-Za-z_]+)/;
const WRITE_WORDS = new Set([
  'INSERT',
  'UPDATE',
  'DELETE',
  'MERGE',
  'TRUNCATE',
  'CREATE',
  'DROP',
  'ALTER',
  'COPY',
  'ATTACH',
  'DETACH',
  'INSTALL',
  'LOAD',
  'SET',
  'RESET',
  'CALL',
  'EXPORT',
  'IMPORT',
  'VACUUM',
  'CHECKPOINT',
  'USE',
  'BEGIN',
  'COMMIT',
  'ROLLBACK',
  'COMMENT',
  'ANALYZE',
  'PREPARE',
  'EXECUTE',
  'DEALLOCATE',
  'UPSERT',
]);

/** DuckDB's message without the "Failed to extract statements:" wrapper, clipped. */
const cleanMessage = (error: unknown) =>
  (error instanceof Error ? error.message : String(error)).replace(/^Failed to extract statements: /, '').slice(0, 2_000);

const refused = (message: string) => new AppError('sql_refused', `${message}. ${HINT}`);

/** The name of a statement type as users write it (`COPY`, `CREATE`, …). */
const typeName = (type: StatementType) => (StatementType[type] ?? 'UNKNOWN').replace(/_STATEMENT$/, '').replace(/_/g, ' ');

/**
 * Checks `sql` with DuckDB's parser and binder on `connection` (nothing runs) and answers what it is, prepared;
 * throws sql_refused (not one read statement), sql_syntax_error (does not parse), permission_denied (a file
 * outside the allowed folders) or sql_error (does not bind: an unknown table or column).
 */
export async function checkDuckStatement(connection: DuckDBConnection, sql: string): Promise<CheckedStatement> {
  if (sql.trim() === '') throw refused('The SQL holds no statement');
  let extracted;
  try {
    extracted = await connection.extractStatements(sql);
  } catch (error) {
    throw new AppError('sql_syntax_error', cleanMessage(error));
  }
  if (extracted.count === 0) throw refused('The SQL holds no statement');
  if (extracted.count > 1) throw refused(`The SQL holds ${extracted.count} statements; only one is allowed`);
  // A write names itself in its first word: refused as what it is, before binding could fail on it (DELETE
  // FROM a view says "can only delete from base table"). The statement type below is still the line.
  const first = FIRST_WORD.exec(sql)?.[1]?.toUpperCase();
  if (first && WRITE_WORDS.has(first)) throw refused(`${first} statements are not allowed`);
  let prepared: DuckDBPreparedStatement;
  try {
    prepared = await extracted.prepare(0);
  } catch (error) {
    // Binding reads file metadata: a path outside the worker's folders is refused there.
    const message = cleanMessage(error);
    throw new AppError(/^Permission Error/.test(message) ? 'permission_denied' : 'sql_error', message);
  }
  const type = prepared.statementType;
  if (type === StatementType.SELECT) return { kind: 'select', prepared };
  if (type === StatementType.EXPLAIN) {
    // EXPLAIN [ANALYZE] runs (or plans) its statement: only of a SELECT.
    const inner = sql.replace(/^\s*explain\s+(analyze\s+)?/i, '');
    if (inner === sql || (await checkDuckStatement(connection, inner)).kind !== 'select') {
      throw refused('Only EXPLAIN of a SELECT is allowed');
    }
    return { kind: 'explain', prepared };
  }
  throw refused(`${typeName(type)} statements are not allowed`);
}

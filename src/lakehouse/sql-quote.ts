// Quoting for the SQL text the server itself builds (names and values it controls or has checked), the same
// in PostgreSQL and DuckDB. Values from callers travel as bound parameters instead.

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

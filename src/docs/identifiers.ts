/** snake_case names (tools, columns, error codes), as PostgreSQL's text parser would split them. */
const SNAKE_CASE = /\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+\b/g;

/**
 * The text followed by its snake_case names written as one word (`get_connection` adds `getconnection`).
 * PostgreSQL's parser splits `get_connection` into `get` and `connection`, which `list_connections` also
 * has; the joined word tells them apart. Applied alike to pages when indexed and to queries.
 */
export function withJoinedIdentifiers(text: string): string {
  const joined = [...new Set(text.match(SNAKE_CASE) ?? [])].map((name) => name.replace(/_/g, ''));
  return joined.length > 0 ? `${text}\n${joined.join(' ')}` : text;
}

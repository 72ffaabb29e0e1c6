// A small SQL tokenizer for optimize_sql's rules (docs/sql-advice.md): words, quoted names, strings,
// numbers and punctuation with their offsets and paren depth, comments and whitespace skipped. It reads both
// dialects the lakehouse speaks (DuckDB and PostgreSQL) well enough to find clause keywords at a query's top
// level; it never decides what runs (the engine's guard does), and every rewrite it helps make is planned by
// the engine before it is offered.

export type TokenKind = 'word' | 'quoted' | 'string' | 'number' | 'punct';

export interface Token {
  kind: TokenKind;
  /** The text as written (a word upper-cased in `upper`). */
  text: string;
  upper: string;
  start: number;
  /** One past the last character. */
  end: number;
  /** Parentheses open around it (a parenthesis itself counts at its outer depth). */
  depth: number;
  /** Of a parenthesis: the index of its partner. */
  partner?: number;
}

export class UnreadableSql extends Error {}

export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let depth = 0;
  let i = 0;
  const open: number[] = [];
  const push = (kind: TokenKind, start: number, end: number, at = depth) => {
    const text = sql.slice(start, end);
    tokens.push({ kind, text, upper: kind === 'word' ? text.toUpperCase() : text, start, end, depth: at });
  };
  while (i < sql.length) {
    const c = sql[i] as string;
    const next = sql[i + 1];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '-' && next === '-') {
      const eol = sql.indexOf('\n', i);
      i = eol < 0 ? sql.length : eol + 1;
    } else if (c === '/' && next === '*') {
      const close = sql.indexOf('*/', i + 2);
      if (close < 0) throw new UnreadableSql('an unclosed comment');
      i = close + 2;
    } else if (c === "'" || c === '"') {
      // '' (or "") inside doubles the quote; E'…' strings with backslashes are read by the engine only.
      let j = i + 1;
      for (;;) {
        const k = sql.indexOf(c, j);
        if (k < 0) throw new UnreadableSql('an unclosed quote');
        if (sql[k + 1] === c) j = k + 2;
        else {
          j = k + 1;
          break;
        }
      }
      push(c === "'" ? 'string' : 'quoted', i, j);
      i = j;
    } else if (c === '$' && /[A-Za-z_$]/.test(next ?? '')) {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i));
      if (!tag) {
        push('punct', i, i + 1);
        i++;
        continue;
      }
      const close = sql.indexOf(tag[0], i + tag[0].length);
      if (close < 0) throw new UnreadableSql('an unclosed dollar quote');
      push('string', i, close + tag[0].length);
      i = close + tag[0].length;
    } else if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      let j = i + 1;
      while (j < sql.length && /[A-Za-z0-9_$\u0080-\uffff]/.test(sql[j] as string)) j++;
      push('word', i, j);
      i = j;
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(next ?? ''))) {
      let j = i + 1;
      while (j < sql.length && /[0-9.eE_]/.test(sql[j] as string)) j++;
      push('number', i, j);
      i = j;
    } else if (c === '(') {
      open.push(tokens.length);
      push('punct', i, i + 1);
      depth++;
      i++;
    } else if (c === ')') {
      depth--;
      if (depth < 0) throw new UnreadableSql('an unmatched ")"');
      const partner = open.pop() as number;
      (tokens[partner] as Token).partner = tokens.length;
      push('punct', i, i + 1);
      (tokens[tokens.length - 1] as Token).partner = partner;
      i++;
    } else {
      push('punct', i, i + 1);
      i++;
    }
  }
  if (depth !== 0) throw new UnreadableSql('an unclosed "("');
  return tokens;
}

/** The index of the ")" closing the "(" at `open`. */
export function closingParen(tokens: Token[], open: number): number {
  return tokens[open]?.partner ?? tokens.length;
}

/** The tokens of one query level: those in (from, to) at `depth` (nested parentheses left out). */
export function topLevel(tokens: Token[], from: number, to: number, depth: number): { token: Token; index: number }[] {
  const out: { token: Token; index: number }[] = [];
  for (let i = from; i < to; i++) {
    const token = tokens[i] as Token;
    if (token.depth === depth) out.push({ token, index: i });
    // Skip a nested parenthesis whole.
    if (token.text === '(' && token.kind === 'punct' && token.depth === depth && token.partner !== undefined) {
      i = token.partner - 1;
    }
  }
  return out;
}

/** Whether the words `words` follow one another from position `at` of a top-level list. */
export function wordsAt(level: { token: Token }[], at: number, ...words: string[]): boolean {
  return words.every((w, k) => level[at + k]?.token.kind === 'word' && level[at + k]?.token.upper === w);
}

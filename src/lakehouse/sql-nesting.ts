// How deep a statement's parse tree can be, read from its tokens alone (the SQL guard refuses deep input
// before the WASM parser sees it: a stack overflow inside the parser leaks its memory for good).

/** Words after which an expression starts afresh as a sibling, not a child (`a + b AND c`, `x FROM t`). */
const SIBLING_WORDS = new Set([
  'and',
  'or',
  'when',
  'then',
  'else',
  'select',
  'from',
  'where',
  'group',
  'having',
  'order',
  'limit',
  'offset',
  'fetch',
  'window',
  'on',
  'using',
  'values',
]);
/** Words that nest their whole left side however they are separated (`… UNION …`, `… JOIN …`). */
const CHAIN_WORDS = new Set(['union', 'intersect', 'except', 'join']);
/** A bracket (parenthesis, square bracket, CASE … END) costs this much: a subquery is about four tree levels. */
const BRACKET_COST = 4;
// PostgreSQL's lexer (scan.l): any non-ASCII character may start or continue a name or a dollar-quote tag.
const WORD = /[A-Za-z_\u0080-\u{10FFFF}][A-Za-z0-9_$\u0080-\u{10FFFF}]*/uy;
const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\u{10FFFF}][A-Za-z0-9_\u0080-\u{10FFFF}]*)?\$/uy;
const OPERATOR = /[-+*/<>=~!@#%^&|`?]+/y;

/** The text `pattern` (sticky) matches at `at`, or undefined. */
function matchAt(sql: string, pattern: RegExp, at: number): string | undefined {
  pattern.lastIndex = at;
  return pattern.exec(sql)?.[0];
}

/** The index after a quoted text whose opening quote is at `at`; `backslash` for E'…' strings. */
function skipQuoted(sql: string, at: number, quote: string, backslash = false): number {
  for (let i = at + 1; i < sql.length; i++) {
    if (backslash && sql[i] === '\\') i++;
    else if (sql[i] === quote) {
      if (sql[i + 1] !== quote) return i + 1;
      i++;
    }
  }
  return sql.length;
}

/** The index after the comment starting at `at` (`--…` or nested `/* … *\/`). */
function skipComment(sql: string, at: number): number {
  if (sql[at] === '-') {
    const end = sql.indexOf('\n', at);
    return end < 0 ? sql.length : end + 1;
  }
  let level = 0;
  for (let i = at; i < sql.length - 1; i++) {
    if (sql[i] === '/' && sql[i + 1] === '*') level++;
    else if (sql[i] === '*' && sql[i + 1] === '/') level--;
    else continue;
    i++;
    if (level === 0) return i + 1;
  }
  return sql.length;
}

interface Bracket {
  closes: string;
  /** Operators and words since the last sibling separator, the most of them, chained UNION/JOIN, nested brackets. */
  run: number;
  maxRun: number;
  chain: number;
  inner: number;
  /** BETWEEN … AND: that AND is part of the operator, which chains (`a BETWEEN b AND c IS TRUE BETWEEN …`). */
  between: number;
}

/**
 * An upper bound of the parse tree's depth, from the tokens alone, so that deep input is refused before the
 * parser sees it. Brackets nest; inside one, each operator or word of a run nests (`1+1+…`, `NOT NOT …`)
 * until a comma, AND/OR or a clause keyword starts a sibling; UNION/JOIN nest across all of those. Strings,
 * quoted names and comments are skipped as PostgreSQL's lexer does. Over-counting only refuses earlier:
 * real queries stay far below MAX_NESTING.
 */
export function nestingBound(sql: string): number {
  const fresh = (closes: string): Bracket => ({ closes, run: 0, maxRun: 0, chain: 0, inner: 0, between: 0 });
  const outer: Bracket[] = [];
  let top = fresh('');
  const depthOf = (b: Bracket) => Math.max(b.run, b.maxRun) + b.chain + b.inner;
  const close = () => {
    const parent = outer.pop();
    if (!parent) return;
    parent.inner = Math.max(parent.inner, BRACKET_COST + depthOf(top));
    top = parent;
  };
  const sibling = () => {
    top.maxRun = Math.max(top.maxRun, top.run);
    top.run = 0;
  };
  let previous = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] ?? '';
    const pair = sql.slice(i, i + 2);
    if (pair === '--' || pair === '/*') {
      i = skipComment(sql, i);
      continue;
    }
    const operator = matchAt(sql, OPERATOR, i);
    const word = operator === undefined ? matchAt(sql, WORD, i) : undefined;
    const dollar = c === '$' ? matchAt(sql, DOLLAR_TAG, i) : undefined;
    if (c === "'") {
      i = skipQuoted(sql, i, "'");
    } else if (c === '"') {
      i = skipQuoted(sql, i, '"');
      top.run++;
    } else if (dollar !== undefined) {
      const end = sql.indexOf(dollar, i + dollar.length);
      i = end < 0 ? sql.length : end + dollar.length;
    } else if (c === '(' || c === '[') {
      outer.push(top);
      top = fresh(c === '(' ? ')' : ']');
      i++;
    } else if (c === ')' || c === ']') {
      while (outer.length > 0 && top.closes !== c) close();
      close();
      i++;
    } else if (c === ',' || c === ';') {
      sibling();
      i++;
    } else if (pair === '::') {
      top.run++;
      i += 2;
    } else if (operator !== undefined) {
      // PostgreSQL ends an operator where a comment starts.
      const comment = operator.search(/--|\/\*/);
      i += comment > 0 ? comment : operator.length;
      top.run++;
    } else if (word !== undefined) {
      const lower = word.toLowerCase();
      i += word.length;
      if (lower === 'e' && sql[i] === "'") {
        i = skipQuoted(sql, i, "'", true); // E'…': the one string where a backslash escapes the quote
      } else if (lower === 'and' && top.between > 0) {
        top.between--;
        top.run++;
      } else if (SIBLING_WORDS.has(lower) && !(lower === 'from' && previous === 'distinct')) {
        sibling();
      } else if (CHAIN_WORDS.has(lower)) {
        top.chain++;
      } else if (lower === 'case') {
        outer.push(top);
        top = fresh('end');
      } else if (lower === 'end' && top.closes === 'end') {
        close();
      } else {
        if (lower === 'between') top.between++;
        top.run++;
      }
      previous = lower;
      continue;
    } else {
      i++; // digits, dots, whitespace, $1: leaves and separators that nest nothing
      if (/\s/.test(c)) continue;
    }
    previous = '';
  }
  while (outer.length > 0) close();
  return depthOf(top);
}

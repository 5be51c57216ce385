/**
 * The raw-SQL escape hatch's gate. A statement is let through only when it is one SELECT or WITH statement: its
 * first keyword is SELECT or WITH, it holds no second statement, and no word that starts a writing or
 * session-changing statement appears outside strings and quoted names. The engines check again (DuckDB prepares
 * the statement and requires a SELECT, in a sandbox that can open only the query's files); this check is the one
 * that also covers Athena, which has no such hook.
 */
import { describeValue } from '../core/symbols.ts';
import { QueryInputError } from './errors.ts';

export type SqlToken =
  | { readonly kind: 'word'; readonly text: string; readonly start: number }
  | { readonly kind: 'quoted'; readonly text: string; readonly start: number }
  | { readonly kind: 'string'; readonly start: number }
  | { readonly kind: 'number'; readonly start: number }
  | { readonly kind: 'punct'; readonly text: string; readonly start: number };

/** Splits SQL into tokens; comments and whitespace are dropped. Throws on an unterminated string, name or comment. */
export function tokenizeSql(sql: string): SqlToken[] {
  const tokens: SqlToken[] = [];
  let i = 0;
  const fail = (what: string): never => {
    throw new QueryInputError('sql', `sql: unterminated ${what} at character ${i + 1}`);
  };
  while (i < sql.length) {
    const ch = sql[i] ?? '';
    if (/\s/.test(ch)) { i++; continue; }
    if (sql.startsWith('--', i)) {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
      continue;
    }
    if (sql.startsWith('/*', i)) {
      const end = sql.indexOf('*/', i + 2);
      if (end === -1) fail('comment');
      i = end + 2;
      continue;
    }
    const start = i;
    if (ch === "'" || ch === '"') {
      // Both dialects escape the quote by doubling it.
      let j = i + 1;
      for (;;) {
        const k = sql.indexOf(ch, j);
        if (k === -1) fail(ch === "'" ? 'string' : 'quoted name');
        if (sql[k + 1] === ch) { j = k + 2; continue; }
        j = k + 1;
        break;
      }
      tokens.push(ch === "'" ? { kind: 'string', start } : { kind: 'quoted', text: sql.slice(i + 1, j - 1).replaceAll('""', '"'), start });
      i = j;
      continue;
    }
    const number = /^(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?/i.exec(sql.slice(i, i + 64));
    if (number !== null) {
      tokens.push({ kind: 'number', start });
      i += number[0].length;
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(sql.slice(i, i + 256));
    if (word !== null) {
      tokens.push({ kind: 'word', text: word[0].toLowerCase(), start });
      i += word[0].length;
      continue;
    }
    const punct = /^(<=|>=|<>|!=|\|\||::|->>|->|.)/s.exec(sql.slice(i, i + 3))?.[0] ?? ch;
    tokens.push({ kind: 'punct', text: punct, start });
    i += punct.length;
  }
  return tokens;
}

/** Words that begin statements other than queries, in either dialect; refused anywhere outside strings. */
const FORBIDDEN_WORDS = new Set([
  'alter', 'attach', 'call', 'checkpoint', 'commit', 'copy', 'create', 'deallocate', 'delete', 'detach', 'drop',
  'execute', 'export', 'grant', 'import', 'insert', 'install', 'load', 'merge', 'msck', 'pragma', 'prepare', 'reset',
  'revoke', 'rollback', 'set', 'truncate', 'unload', 'update', 'use', 'vacuum',
]);

/** The SQL without a trailing ';' (and whatever whitespace or comments follow it). */
export function stripTrailingSemicolon(sql: string): string {
  const tokens = tokenizeSql(sql);
  const last = tokens.at(-1);
  if (last?.kind === 'punct' && last.text === ';') return sql.slice(0, last.start).trimEnd();
  return sql.trimEnd();
}

/**
 * Returns the statement (without a trailing ';') when it is one read-only SELECT or WITH statement; throws a
 * QueryInputError naming the problem otherwise.
 */
export function checkReadOnlySql(sql: string): string {
  const statement = stripTrailingSemicolon(sql);
  const tokens = tokenizeSql(statement);
  const first = tokens[0];
  if (first === undefined) throw new QueryInputError('sql', 'sql: empty statement');
  if (first.kind !== 'word' || (first.text !== 'select' && first.text !== 'with')) {
    const shown = first.kind === 'word' ? first.text.toUpperCase() : describeValue(statement.slice(first.start, first.start + 20));
    throw new QueryInputError('sql', `sql: only SELECT or WITH statements may run (read-only), not ${shown}`);
  }
  const semicolon = tokens.find((t) => t.kind === 'punct' && t.text === ';');
  if (semicolon !== undefined) throw new QueryInputError('sql', `sql: one statement only; found ';' at character ${semicolon.start + 1}`);
  const forbidden = tokens.find((t) => t.kind === 'word' && FORBIDDEN_WORDS.has(t.text));
  if (forbidden !== undefined && forbidden.kind === 'word') {
    throw new QueryInputError('sql', `sql: ${forbidden.text.toUpperCase()} is not allowed (read-only queries only; quote a column of that name)`);
  }
  return statement;
}

/** Number of `?` placeholders outside strings, names and comments. */
export function countQuestionPlaceholders(sql: string): number {
  return tokenizeSql(sql).filter((t) => t.kind === 'punct' && t.text === '?').length;
}

/** Whether the statement uses `$1`-style placeholders (DuckDB only). */
export function hasDollarPlaceholders(sql: string): boolean {
  const tokens = tokenizeSql(sql);
  return tokens.some((t, i) => t.kind === 'punct' && t.text === '$' && tokens[i + 1]?.kind === 'number');
}

/**
 * Puts relations in front of a read-only statement as common table expressions: `WITH <ctes> <statement>`, or
 * for a statement that has its own WITH, `WITH <ctes>, <its ctes> <its query>`.
 */
export function prependCtes(ctes: string, statement: string): string {
  const tokens = tokenizeSql(statement);
  const first = tokens[0];
  if (first?.kind === 'word' && first.text === 'with') {
    const second = tokens[1];
    if (second?.kind === 'word' && second.text === 'recursive') {
      throw new QueryInputError('sql', 'sql: WITH RECURSIVE is not supported on Athena here; use plain WITH');
    }
    return `WITH ${ctes},\n${statement.slice(first.start + 'with'.length).trimStart()}`;
  }
  return `WITH ${ctes}\n${statement}`;
}

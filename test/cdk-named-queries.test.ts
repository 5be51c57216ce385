/**
 * The saved Athena queries against the catalog: each query is tokenized, its table and column references are
 * picked out (function names, keywords, aliases and literals set aside), and every column must be a data column
 * or partition key of the tables it reads, as lib/constructs/dataset-table.ts defines them from glueColumns.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_TABLES } from '../lib/constructs/catalog.ts';
import { dataColumns, partitioning } from '../lib/constructs/dataset-table.ts';
import { NAMED_QUERIES } from '../lib/constructs/named-queries.ts';

/** Column names of every default table: data columns and partition keys. */
const TABLE_COLUMNS = new Map(DEFAULT_TABLES.map(({ dataset, tier }) => {
  const keys = partitioning(dataset, tier).keys;
  return [`${tier}_${dataset}`, { data: dataColumns(dataset, keys).map((c) => c.name), partitions: keys.map((k) => k.name) }];
}));

const KEYWORDS = new Set([
  'select', 'from', 'where', 'and', 'or', 'not', 'as', 'group', 'by', 'order', 'asc', 'desc', 'limit', 'having', 'join', 'left',
  'right', 'inner', 'outer', 'full', 'cross', 'on', 'in', 'is', 'null', 'between', 'like', 'case', 'when', 'then', 'else', 'end',
  'distinct', 'with', 'over', 'partition', 'union', 'all', 'true', 'false', 'interval', 'filter', 'rows', 'range', 'preceding',
  'following', 'current', 'row', 'nulls', 'first', 'last', 'offset', 'fetch', 'next', 'only', 'cast', 'try_cast', 'date', 'timestamp',
  'double', 'bigint', 'integer', 'varchar', 'boolean', 'decimal', 'day', 'hour', 'minute', 'second', 'month', 'year',
]);
/** Keywords that are also partition keys here; they count as columns (no query here uses them as a type or unit). */
const COLUMN_KEYWORDS = new Set(['year', 'month', 'date']);

type Token = { kind: 'ident'; text: string; quoted: boolean } | { kind: 'punct'; text: string } | { kind: 'literal' };

function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const rest = sql.slice(i);
    const ch = sql[i] ?? '';
    if (/\s/.test(ch)) i++;
    else if (rest.startsWith('--')) i = sql.indexOf('\n', i) === -1 ? sql.length : sql.indexOf('\n', i);
    else if (rest.startsWith('/*')) i = sql.indexOf('*/', i) + 2;
    else if (ch === "'") {
      const m = /^'(?:[^']|'')*'/.exec(rest);
      if (m === null) throw new Error(`unterminated string at ${i}`);
      tokens.push({ kind: 'literal' });
      i += m[0].length;
    } else if (ch === '"') {
      const m = /^"((?:[^"]|"")*)"/.exec(rest);
      if (m === null) throw new Error(`unterminated identifier at ${i}`);
      tokens.push({ kind: 'ident', text: (m[1] ?? '').replaceAll('""', '"'), quoted: true });
      i += m[0].length;
    } else if (/[0-9]/.test(ch)) {
      i += (/^[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?/i.exec(rest)?.[0] ?? ch).length;
      tokens.push({ kind: 'literal' });
    } else if (/[A-Za-z_]/.test(ch)) {
      const text = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest)?.[0] ?? ch;
      tokens.push({ kind: 'ident', text: text.toLowerCase(), quoted: false });
      i += text.length;
    } else {
      const text = /^(<=|>=|<>|!=|\|\||.)/s.exec(rest)?.[0] ?? ch;
      tokens.push({ kind: 'punct', text });
      i += text.length;
    }
  }
  return tokens;
}

interface References {
  readonly tables: string[];
  readonly columns: string[];
  readonly aliases: string[];
  readonly placeholders: number;
}

/** Tables read, columns referenced and aliases defined by one query. */
function references(sql: string): References {
  const tokens = tokenize(sql);
  const tables: string[] = [];
  const columns: string[] = [];
  const aliases: string[] = [];
  tokens.forEach((t, i) => {
    if (t.kind !== 'ident') return;
    const prev = tokens[i - 1];
    const next = tokens[i + 1];
    const isKeyword = !t.quoted && KEYWORDS.has(t.text) && !COLUMN_KEYWORDS.has(t.text);
    const after = (word: string) => prev?.kind === 'ident' && !prev.quoted && prev.text === word;
    if (after('from') || after('join')) tables.push(t.text);
    else if (after('as') && !KEYWORDS.has(t.text)) aliases.push(t.text);
    else if (next?.kind === 'punct' && next.text === '(') return; // a function call (or a CTE name before AS)
    else if (next?.kind === 'punct' && next.text === '.') return; // a qualifier: the column follows the dot
    else if (!isKeyword && !(after('as') && KEYWORDS.has(t.text))) columns.push(t.text);
  });
  return { tables, columns, aliases, placeholders: tokens.filter((t) => t.kind === 'punct' && t.text === '?').length };
}

/** Columns a query references that none of its tables has and no alias defines. */
function unknownColumns(sql: string): string[] {
  const refs = references(sql);
  const known = new Set([...refs.aliases, ...refs.tables.flatMap((t) => {
    const columns = TABLE_COLUMNS.get(t);
    return columns === undefined ? [] : [...columns.data, ...columns.partitions];
  })]);
  return refs.columns.filter((c) => !known.has(c));
}

describe('named queries', () => {
  it.each(NAMED_QUERIES.map((q) => [q.name, q] as const))('%s reads only tables of the catalog', (_name, query) => {
    const { tables } = references(query.sql);
    expect(tables.length).toBeGreaterThan(0);
    for (const table of tables) expect([table, TABLE_COLUMNS.has(table)]).toEqual([table, true]);
  });

  it.each(NAMED_QUERIES.map((q) => [q.name, q] as const))('%s references only columns its tables define', (_name, query) => {
    const refs = references(query.sql);
    expect(refs.columns.length).toBeGreaterThan(3);
    expect(unknownColumns(query.sql)).toEqual([]);
  });

  it.each(NAMED_QUERIES.map((q) => [q.name, q] as const))('%s pins every partition key of its tables, so Athena prunes to them', (_name, query) => {
    const refs = references(query.sql);
    for (const table of refs.tables) {
      for (const key of TABLE_COLUMNS.get(table)?.partitions ?? []) expect([table, key, refs.columns.includes(key)]).toEqual([table, key, true]);
    }
  });

  it.each(NAMED_QUERIES.map((q) => [q.name, q] as const))('%s documents each of its parameters', (_name, query) => {
    expect(references(query.sql).placeholders).toBe(query.parameters.length);
  });

  it('has distinct names', () => {
    expect(new Set(NAMED_QUERIES.map((q) => q.name)).size).toBe(NAMED_QUERIES.length);
  });

  it('uses ts_ns, the exact nanoseconds, for the time-range query', () => {
    const query = NAMED_QUERIES.find((q) => q.name === 'tickvault-trades-in-time-range');
    expect(query?.sql).toMatch(/ts_ns >= \? AND ts_ns < \?/);
  });

  describe('the checker itself', () => {
    it('catches a misspelt column, a column of another table, and a dropped warm symbol column', () => {
      expect(unknownColumns('SELECT prize FROM cold_trades WHERE year = ? AND month = ?')).toEqual(['prize']);
      expect(unknownColumns('SELECT bid_price FROM cold_trades WHERE year = ?')).toEqual(['bid_price']);
      expect(unknownColumns('SELECT count(*) FROM warm_trades WHERE date = ? AND symbol = ?')).toEqual([]);
      expect(unknownColumns('SELECT trade_id FROM warm_trades WHERE year = ?')).toEqual(['year']);
    });

    it('sets aside functions, keywords, literals, casts, aliases and comments', () => {
      const sql = `-- a comment naming nonsense_column
        SELECT date(ts) AS trading_day, CAST(price AS double) AS p, 'not_a_column' AS label, 1e3 * size AS big
        FROM cold_trades /* block nonsense */ WHERE year = ? AND month = '07' ORDER BY trading_day DESC`;
      expect(references(sql)).toEqual({
        tables: ['cold_trades'], columns: ['ts', 'price', 'size', 'year', 'month', 'trading_day'],
        aliases: ['trading_day', 'p', 'label', 'big'], placeholders: 1,
      });
      expect(unknownColumns(sql)).toEqual([]);
    });
  });
});

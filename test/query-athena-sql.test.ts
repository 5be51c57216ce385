/**
 * The Athena SQL the compiler generates, against the Glue tables the CDK app defines: every statement parses with a
 * Trino-dialect parser (node-sql-parser, database 'trino'); every branch reads one catalog table, uses only that
 * table's columns and partition keys, and pins all of its partition keys (the warm symbol with '=', as injected
 * projection requires); every value is a `?` with a literal execution parameter, and none appears in the text.
 */
import { Parser } from 'node-sql-parser';
import { describe, expect, it } from 'vitest';
import { columnsOf, type DatasetName } from '../core/datasets.ts';
import { DEFAULT_TABLES, WARM_DATASETS } from '../lib/constructs/catalog.ts';
import { dataColumns, partitioning } from '../lib/constructs/dataset-table.ts';
import { ATHENA_WARM_DATASETS, AthenaDialect, athenaParamLiteral, athenaStringLiteral, dayRuns } from '../query/athena-sql.ts';
import { QueryInputError } from '../query/errors.ts';
import { type Query, type QuerySpec, datasetsOf, defineQuery } from '../query/model.ts';
import { countQuestionPlaceholders, tokenizeSql } from '../query/raw-sql.ts';
import type { StoredPlan } from '../query/source-plan.ts';
import { compileForAthena } from '../query/tier-router.ts';

const parser = new Parser();
const TRINO = { database: 'trino' };

/** Columns of every catalog table, as the CDK tables define them: data columns and partition keys. */
const TABLES = new Map(DEFAULT_TABLES.map(({ dataset, tier }) => {
  const keys = partitioning(dataset, tier).keys;
  return [`${tier}_${dataset}`, { data: dataColumns(dataset, keys).map((c) => c.name), partitions: keys.map((k) => k.name) }];
}));

const SYMBOLS = ['AAPL', 'BTC/USD'];
const FROM = '2024-06-29T12:00:00Z';
const TO = '2024-07-02T18:30:00Z';

/** Plans as the router makes them for Athena: June compacted (cold), July warm; daily bars per year. */
function plansFor(query: Query): StoredPlan[] {
  return datasetsOf(query).flatMap((dataset) => SYMBOLS.map((symbol): StoredPlan => ({
    dataset, symbol, range: query.range,
    coldPeriods: dataset === 'bars_1d' ? ['2024'] : ['2024-06'], coldKeys: [],
    warmDays: dataset === 'bars_1d' ? ['2024-06-29', '2024-06-30', '2024-07-01', '2024-07-02'] : ['2024-07-01', '2024-07-02'],
    warmKeys: [], warmDirFiles: [], warmKeysPruned: 0,
  })));
}

const SPECS: (Omit<QuerySpec, 'symbols' | 'from' | 'to'> & { name: string })[] = [
  { name: 'trades', kind: 'trades' },
  { name: 'quotes', kind: 'quotes' },
  { name: 'bars 1m', kind: 'bars', timeframe: '1m' },
  { name: 'bars 5m', kind: 'bars', timeframe: '5m' },
  { name: 'bars 1d', kind: 'bars', timeframe: '1d' },
  { name: 'ohlcv 5m', kind: 'ohlcv', interval: '5m' },
  { name: 'ohlcv 1d', kind: 'ohlcv', interval: '1d' },
  { name: 'vwap', kind: 'vwap' },
  { name: 'vwap 1h', kind: 'vwap', interval: '1h' },
  { name: 'spread', kind: 'spread' },
  { name: 'spread 1m', kind: 'spread', interval: '1m' },
  { name: 'raw sql', kind: 'sql', sql: 'WITH x AS (SELECT symbol, count(*) AS n FROM trades WHERE price > ? GROUP BY symbol) SELECT x.symbol, x.n, q.n AS q, b.n AS b FROM x CROSS JOIN (SELECT count(*) AS n FROM quotes) AS q CROSS JOIN (SELECT count(*) AS n FROM bars) AS b', params: ['100.5'] },
];

const cases = SPECS.map(({ name, ...spec }) => [name, defineQuery({ ...spec, symbols: SYMBOLS, from: FROM, to: TO })] as const);

/** Column names a statement references (node-sql-parser's columnList: 'select::table::column'). */
const columnsOfSql = (sql: string): string[] => parser.columnList(sql, TRINO).map((c) => c.split('::')[2] ?? '');
const tablesOfSql = (sql: string): string[] => parser.tableList(sql, TRINO).map((t) => t.split('::')[2] ?? '');

describe('generated Athena SQL', () => {
  it.each(cases)('%s parses as Trino SQL and has one execution parameter per ?', (_name, query) => {
    const { sql, parameters } = compileForAthena(query, plansFor(query));
    expect(() => parser.astify(sql, TRINO)).not.toThrow();
    expect(countQuestionPlaceholders(sql)).toBe(parameters.length);
    expect(parameters.length).toBeGreaterThan(0);
    // Every parameter is one literal: an integer, a quoted text without quotes inside, or a typed double.
    for (const p of parameters) expect(p).toMatch(/^(-?\d+|'[^'\\]*'|DOUBLE '-?[\d.e+-]+')$/);
  });

  it.each(cases)('%s keeps every value out of the text', (_name, query) => {
    const { sql, parameters } = compileForAthena(query, plansFor(query));
    const literals = tokenizeSql(sql).filter((t) => t.kind === 'string').map((t) => sql.slice(t.start, sql.indexOf("'", t.start + 1) + 1));
    // The only text literal is the constant the warm symbol's path form is decoded with.
    expect([...new Set(literals)].every((l) => l === "'%2F'" || l === "'/'")).toBe(true);
    for (const value of ['AAPL', 'BTC/USD', 'BTC%2FUSD', '2024-07-01', "'2024'", String(query.range.fromNs), String(query.range.toNs)]) {
      expect(sql.includes(value), value).toBe(false);
    }
    expect(parameters).toContain("'BTC/USD'"); // cold: the symbol column
    if (datasetsOf(query).some((d) => ATHENA_WARM_DATASETS.includes(d))) expect(parameters).toContain("'BTC%2FUSD'"); // warm: the path-form partition
  });

  it.each(cases)('%s reads only catalog tables, each branch only its own columns, pinning every partition key', (_name, query) => {
    const { sql } = compileForAthena(query, plansFor(query));
    const ctes = new Set(['trades', 'quotes', 'bars', 'x', ...[...sql.matchAll(/\b(tv_[a-z_]+) AS \(/g)].map((m) => m[1] as string)]);
    for (const table of tablesOfSql(sql)) expect([table, ctes.has(table) || TABLES.has(table)]).toEqual([table, true]);

    const dialect = new AthenaDialect((dataset) => plansFor(query).filter((p) => p.dataset === dataset));
    for (const dataset of datasetsOf(query)) {
      const branches = dialect.branches(dataset);
      expect(branches.length).toBe(SYMBOLS.length * (ATHENA_WARM_DATASETS.includes(dataset) ? 2 : 1));
      for (const branch of branches) {
        const [table, ...others] = tablesOfSql(branch);
        expect(others).toEqual([]);
        const spec = TABLES.get(table ?? '');
        expect(spec, table).toBeDefined();
        const allowed = new Set([...(spec?.data ?? []), ...(spec?.partitions ?? []), 'tv_rank', 'tv_end']);
        expect(columnsOfSql(branch).filter((c) => !allowed.has(c)), branch).toEqual([]);
        for (const key of spec?.partitions ?? []) expect(branch, `${table} pins ${key}`).toMatch(new RegExp(`"${key}" (=|>=) \\?`));
        if (table?.startsWith('warm_') === true) expect(branch).toMatch(/WHERE "symbol" = \?/);
      }
    }
  });

  it('references only dataset columns, partition keys and its own aliases, per statement', () => {
    for (const [, query] of cases) {
      const { sql } = compileForAthena(query, plansFor(query));
      const known = new Set<string>(['year', 'month', 'date', 'n', 'q', 'b', 'x']);
      for (const d of ['trades', 'quotes', 'bars_1m'] as DatasetName[]) for (const c of columnsOf(d)) known.add(c.name);
      const unknown = columnsOfSql(sql).filter((c) => !known.has(c) && !c.startsWith('tv_') && c !== '(.*)');
      expect(unknown, query.kind).toEqual([]);
    }
  });

  it('mirrors the catalog: warm tables exist exactly for the datasets the dialect reads warm', () => {
    expect([...ATHENA_WARM_DATASETS]).toEqual([...WARM_DATASETS]);
  });

  it('groups warm days into runs, so a long range stays a few predicates', () => {
    expect(dayRuns(['2024-06-29', '2024-06-30', '2024-07-01', '2024-07-05', '2024-07-06'])).toEqual([['2024-06-29', '2024-07-01'], ['2024-07-05', '2024-07-06']]);
  });
});

describe('raw SQL on Athena', () => {
  const raw = (sql: string, params: string[] = []) => defineQuery({ kind: 'sql', symbols: ['AAPL'], from: FROM, to: TO, sql, params });

  it('puts the relations first and its own parameters after theirs, in order', () => {
    const query = raw('WITH y AS (SELECT * FROM trades WHERE price > ? AND size < ?) SELECT count(*) FROM y', ['101', 'abc']);
    const { sql, parameters } = compileForAthena(query, plansFor(query));
    expect(sql).toMatch(/^WITH tv_src_trades AS \(/);
    expect(sql).toMatch(/\),\ny AS \(SELECT \* FROM trades WHERE price > \? AND size < \?\) SELECT count\(\*\) FROM y$/);
    expect(parameters.slice(-2)).toEqual(['101', "'abc'"]);
    expect(() => parser.astify(sql, TRINO)).not.toThrow();
  });

  it('refuses $n placeholders, a wrong parameter count and WITH RECURSIVE', () => {
    expect(() => compileForAthena(raw('SELECT * FROM trades WHERE price > $1', ['1']), [])).toThrow(/\? placeholders/);
    expect(() => compileForAthena(raw('SELECT * FROM trades WHERE price > ?'), [])).toThrow(/1 \? placeholder\(s\), 0 --param/);
    expect(() => compileForAthena(raw('WITH RECURSIVE r(n) AS (SELECT 1) SELECT * FROM r'), [])).toThrow(/RECURSIVE/);
  });
});

describe('execution parameter literals', () => {
  it('quote text once and refuse anything that would need escaping', () => {
    expect(athenaStringLiteral('BTC%2FUSD')).toBe("'BTC%2FUSD'");
    for (const bad of ["AAPL' OR 1=1 --", "'; DROP TABLE cold_trades; --", "2024-01-01'; --", 'a\\b', 'x\ny']) {
      expect(() => athenaStringLiteral(bad), bad).toThrow(QueryInputError);
    }
    expect(athenaParamLiteral({ type: 'bigint', value: -42n })).toBe('-42');
    expect(athenaParamLiteral({ type: 'double', value: 1.5 })).toBe("DOUBLE '1.5'");
    expect(athenaParamLiteral({ type: 'string', value: 'V' })).toBe("'V'");
  });
});

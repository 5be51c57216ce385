/**
 * The query model at its edge: what it accepts, what it refuses and how it says so. Injection attempts through
 * symbols, dates, raw parameters and raw SQL are refused before any SQL exists; and values that are accepted never
 * reach SQL text on either engine (they become DuckDB variables or Athena execution parameters).
 */
import { describe, expect, it } from 'vitest';
import { AthenaDialect } from '../query/athena-sql.ts';
import { compileRelations, compileSelect } from '../query/compile-sql.ts';
import { DuckDbDialect } from '../query/duckdb-sql.ts';
import { QueryInputError } from '../query/errors.ts';
import {
  INTERVALS, INTERVAL_NAMES, type Query, type QuerySpec, datasetsOf, defineQuery, parseInterval, parseRawParam, parseRange, parseSymbols,
} from '../query/model.ts';
import { checkReadOnlySql, countQuestionPlaceholders, prependCtes, tokenizeSql } from '../query/raw-sql.ts';
import { isoNs } from './query-fixtures.ts';

const base = { symbols: ['AAPL'], from: '2024-07-01', to: '2024-07-02' };
const inputError = (fn: () => unknown): QueryInputError => {
  try {
    fn();
  } catch (e) {
    if (e instanceof QueryInputError) return e;
    throw e;
  }
  throw new Error('no QueryInputError thrown');
};

describe('defineQuery', () => {
  it('builds each kind with validated, deduplicated symbols and a half-open UTC range', () => {
    expect(defineQuery({ ...base, kind: 'ohlcv', symbols: ['AAPL', 'BTC/USD', 'AAPL'], interval: '5m' })).toEqual({
      kind: 'ohlcv', symbols: ['AAPL', 'BTC/USD'], range: { fromNs: isoNs('2024-07-01T00:00:00Z'), toNs: isoNs('2024-07-02T00:00:00Z') }, interval: '5m',
    });
    expect(defineQuery({ ...base, kind: 'bars' })).toMatchObject({ kind: 'bars', timeframe: '1m' });
    expect(defineQuery({ ...base, kind: 'vwap' })).not.toHaveProperty('interval');
    expect(defineQuery({ ...base, kind: 'spread', interval: '1h' })).toMatchObject({ kind: 'spread', interval: '1h' });
    expect(defineQuery({ ...base, kind: 'sql', sql: 'SELECT 1', params: ['7', '1.5', 'V'] })).toMatchObject({
      params: [{ type: 'bigint', value: 7n }, { type: 'double', value: 1.5 }, { type: 'string', value: 'V' }],
    });
  });

  it('reads times as UTC unless they carry an offset, to nanoseconds', () => {
    expect(parseRange('2024-07-01T10:00:00', '2024-07-01T10:00:00.000000001').fromNs).toBe(isoNs('2024-07-01T10:00:00Z'));
    expect(parseRange('2024-07-01T12:00:00+02:00', '2024-07-01T13:00:00-01:30')).toEqual({
      fromNs: isoNs('2024-07-01T10:00:00Z'), toNs: isoNs('2024-07-01T14:30:00Z'),
    });
    expect(parseRange('2024-07-01T00:00:00.123456789Z', '2024-07-02').fromNs).toBe(isoNs('2024-07-01T00:00:00Z') + 123_456_789n);
  });

  it('names the input at fault', () => {
    const cases: [Partial<QuerySpec>, string, RegExp][] = [
      [{ to: '2024-07-01' }, 'to', /empty time range/],
      [{ from: '2024-02-30' }, 'from', /invalid time "2024-02-30": day 30 does not exist in 2024-02/],
      [{ kind: 'ohlcv' }, 'interval', /OHLCV bars need one of 1s, 5s/],
      [{ kind: 'ohlcv', interval: '7m' }, 'interval', /interval "7m": expected one of/],
      [{ kind: 'trades', interval: '1m' }, 'interval', /trades queries take no interval/],
      [{ kind: 'bars', timeframe: '2m' }, 'timeframe', /timeframe "2m": expected one of 1m, 5m, 1d/],
      [{ symbols: [] }, 'symbols', /no symbol given/],
      [{ symbols: ['A'.repeat(33)] }, 'symbols', /33 bytes/],
      [{ symbols: Array.from({ length: 101 }, (_, i) => `S${i}`) }, 'symbols', /101 symbols, over the limit of 100/],
      [{ kind: 'trades', sql: 'SELECT 1' }, 'sql', /only sql queries take SQL/],
      [{ kind: 'sql' }, 'sql', /no SQL text/],
      [{ kind: 'nope' as 'trades' }, 'kind', /expected one of trades, quotes/],
    ];
    for (const [spec, input, message] of cases) {
      const error = inputError(() => defineQuery({ kind: 'trades', ...base, ...spec } as QuerySpec));
      expect([error.input, error.message]).toEqual([input, expect.stringMatching(message)]);
    }
  });

  it('takes intervals only from the closed list, each dividing a day', () => {
    expect(INTERVAL_NAMES).toEqual(['1s', '5s', '10s', '15s', '30s', '1m', '5m', '15m', '30m', '1h', '4h', '1d']);
    for (const name of INTERVAL_NAMES) expect(86_400_000_000_000n % INTERVALS[name]).toBe(0n);
    for (const bad of ['1M', '60s', 'constructor', '__proto__', '1m; DROP TABLE x']) expect(() => parseInterval(bad), bad).toThrow(QueryInputError);
  });
});

describe('injection attempts', () => {
  it('refuses hostile symbols, dates and raw parameters before any SQL exists', () => {
    for (const symbol of ["AAPL' OR 1=1 --", "'; DROP TABLE trades; --", 'AAPL"', 'A;B', '../etc', 'BTC/USD/EUR', 'a b']) {
      expect(inputError(() => parseSymbols([symbol])).input, symbol).toBe('symbols');
    }
    for (const date of ["2024-01-01'; --", '2024-01-01 OR 1=1', "2024-07-01T00:00:00Z' --"]) {
      expect(inputError(() => parseRange(date, '2024-08-01')).input, date).toBe('from');
    }
    for (const param of ["'; DROP TABLE", "x' OR '1'='1", 'a\\b', 'a;b', 'tab\there']) {
      expect(inputError(() => parseRawParam(param, 1)).input, param).toBe('param 2');
    }
  });

  it('lets only one read-only SELECT or WITH statement through', () => {
    const refused = [
      'DROP TABLE trades', 'DELETE FROM trades', "INSERT INTO trades VALUES (1)", 'UPDATE trades SET price = 0',
      'SELECT 1; DROP TABLE trades', 'SELECT 1; SELECT 2', 'WITH x AS (SELECT 1) DELETE FROM trades',
      "COPY trades TO '/tmp/x'", "ATTACH 'x.db'", 'PRAGMA version', 'SET threads = 1', 'CREATE TABLE x AS SELECT 1',
      "/* comment */ INSTALL httpfs", 'EXPLAIN SELECT 1', 'DESCRIBE trades', 'CALL pragma_version()', '', '   -- only a comment',
      "SELECT 'unterminated", 'UNLOAD (SELECT 1) TO \'s3://x/\' WITH (format = \'PARQUET\')', 'MSCK REPAIR TABLE cold_trades',
    ];
    for (const sql of refused) expect(inputError(() => checkReadOnlySql(sql)).input, sql).toBe('sql');
    const accepted = [
      'SELECT 1', 'select * from trades;', '  -- note\n  WITH x AS (SELECT 1) SELECT * FROM x ; -- end',
      "SELECT 'DROP TABLE x; DELETE' AS s", 'SELECT "update" FROM trades', '/* a; b */ SELECT ts FROM trades',
    ];
    for (const sql of accepted) expect(() => checkReadOnlySql(sql), sql).not.toThrow();
    expect(checkReadOnlySql('SELECT 1 ;  -- bye')).toBe('SELECT 1');
  });

  it('never puts a value into SQL text, on either engine', () => {
    const queries: Query[] = (['trades', 'quotes', 'bars', 'vwap', 'spread'] as const).map((kind) =>
      defineQuery({ kind, symbols: ['AAPL', 'BTC/USD'], from: '2024-06-30T22:00:00Z', to: '2024-07-01T02:00:00Z' }));
    queries.push(defineQuery({ kind: 'ohlcv', symbols: ['AAPL'], from: '2024-06-30T22:00:00Z', to: '2024-07-01T02:00:00Z', interval: '1h' }));
    for (const query of queries) {
      const duck = new DuckDbDialect(() => query.symbols.map((symbol) => ({ tier: 'warm' as const, symbol, fromNs: query.range.fromNs, toNs: query.range.toNs, files: ['/data/store/x.parquet'] })));
      const athena = new AthenaDialect((dataset) => query.symbols.map((symbol) => ({
        dataset, symbol, range: query.range, coldPeriods: ['2024-06'], coldKeys: [], warmDays: ['2024-07-01'], warmKeys: [], warmDirFiles: [], warmKeysPruned: 0,
      })));
      for (const dialect of [duck, athena]) {
        if (query.kind === 'sql') continue;
        const text = [...compileRelations(dialect, query).map((r) => r.sql), compileSelect(dialect, query)].join('\n');
        for (const value of ['AAPL', 'BTC', '2024-07-01', '/data/store', String(query.range.fromNs), String(query.range.toNs)]) {
          expect(text.includes(value), `${dialect.name} ${query.kind}: ${value}`).toBe(false);
        }
      }
      const last = query.symbols.at(-1);
      expect(duck.variables.some((v) => v.value === last)).toBe(true);
      expect(athena.parameters).toContain(`'${String(last)}'`);
      expect(datasetsOf(query).length).toBe(1);
    }
  });
});

describe('the SQL tokenizer', () => {
  it('skips strings, quoted names and comments, and counts ? placeholders outside them', () => {
    const sql = `SELECT '?' AS a, "?" AS b, x -- ?\n FROM t /* ? */ WHERE y = ? AND z = 'it''s' AND w = ?`;
    expect(countQuestionPlaceholders(sql)).toBe(2);
    expect(tokenizeSql(`SELECT "a""b"`)[1]).toMatchObject({ kind: 'quoted', text: 'a"b' });
  });

  it('merges the relations into a statement that has its own WITH', () => {
    expect(prependCtes('a AS (SELECT 1)', 'SELECT * FROM a')).toBe('WITH a AS (SELECT 1)\nSELECT * FROM a');
    expect(prependCtes('a AS (SELECT 1)', 'with b AS (SELECT 2) SELECT * FROM a, b')).toBe('WITH a AS (SELECT 1),\nb AS (SELECT 2) SELECT * FROM a, b');
  });
});

/**
 * `tickvault query` end to end, as a user runs it: a real child process over a data directory of real Parquet files
 * and a real read API for the hot tier. Output formats are read back independently (JSON parsed, CSV split, Parquet
 * through DuckDB, the PNG chart decoded); bad arguments end with exit 2 and one line naming the argument.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import { type RunningReadApi, startReadApi } from '../edge-agent/http/read-api.ts';
import { QUERY_HELP, UsageError, runQueryCommand } from '../query/query-command.ts';
import { dayNs, fakeHotView, genQuotes, genTrades, isoNs, onDay, putWarmDay } from './query-fixtures.ts';
import { type CliResult, runCli } from './support/cli.ts';
import { duckdbRows, sqlPath } from './support/duckdb.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'tv-query-cli-'));
const out = (name: string) => join(dataDir, name);
const store = new LocalDirectoryStore(join(dataDir, 'store'));
const aapl = genTrades('AAPL', dayNs('2024-07-01'), isoNs('2024-07-01T16:00:00Z'), 30_000_000_000n, 1n, 21);
const btc = genTrades('BTC/USD', dayNs('2024-07-01'), isoNs('2024-07-01T16:00:00Z'), 45_000_000_000n, 1n, 22);
const quotes = genQuotes('AAPL', dayNs('2024-07-01'), isoNs('2024-07-01T16:00:00Z'), 20_000_000_000n, 23);
/** Trades only the hot tier holds yet (after the last warm file). */
const hotOnly = genTrades('AAPL', isoNs('2024-07-01T16:00:00Z'), isoNs('2024-07-01T16:05:00Z'), 10_000_000_000n, 100_000n, 24);
let api: RunningReadApi;

const RANGE = ['--from', '2024-07-01T00:00:00Z', '--to', '2024-07-02T00:00:00Z'];
const query = (...args: string[]): Promise<CliResult> => runCli(['query', ...args, '--data-dir', dataDir]);
const jsonLines = (text: string): Record<string, unknown>[] => text.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  await putWarmDay(store, 'trades', onDay(aapl, '2024-07-01'), { partRows: 500 });
  await putWarmDay(store, 'trades', onDay(btc, '2024-07-01'));
  await putWarmDay(store, 'quotes', quotes, { partRows: 1000 });
  api = await startReadApi({ view: fakeHotView({ AAPL: hotOnly }), port: 0 });
});
afterAll(async () => {
  await api.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('tickvault query: output formats', () => {
  let json: CliResult;
  let csv: CliResult;
  let parquet: CliResult;
  beforeAll(async () => {
    [json, csv, parquet] = await Promise.all([
      query('trades', '--symbols', 'AAPL,BTC/USD', ...RANGE, '--format', 'json'),
      query('quotes', '--symbol', 'AAPL', ...RANGE, '--format', 'csv'),
      query('trades', '--symbols', 'AAPL,BTC/USD', ...RANGE, '--format', 'parquet', '--output', out('trades.parquet')),
    ]);
  }, 120_000);

  it('--format json: one object per trade, exact nanosecond times and 64-bit ids as text, in order', async () => {
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    const rows = jsonLines(json.stdout);
    const [expected] = await duckdbRows(`SELECT count(*)::INTEGER AS n FROM read_parquet(${sqlPath(join(dataDir, 'store', 'warm', 'trades', '**', '*.parquet'))}, hive_partitioning = false)`);
    expect(rows.length).toBe(expected?.['n']);
    expect(rows[0]).toEqual({
      ts: expect.stringMatching(/^2024-07-01T00:00:\d\d\.\d{9}Z$/), ts_ns: expect.stringMatching(/^\d{19}$/), symbol: expect.any(String),
      trade_id: expect.stringMatching(/^\d+$/), price: expect.any(Number), size: expect.any(Number), exchange: expect.any(String),
      conditions: expect.any(String), tape: 'C',
    });
    const times = rows.map((r) => BigInt(r['ts_ns'] as string));
    expect(times.every((t, i) => i === 0 || (times[i - 1] as bigint) <= t)).toBe(true);
    expect(new Set(rows.map((r) => r['symbol']))).toEqual(new Set(['AAPL', 'BTC/USD']));
  });

  it('--format csv: a header of the columns, one line per quote, absent sizes empty', () => {
    expect(csv.code).toBe(0);
    const lines = csv.stdout.trim().split('\n');
    expect(lines[0]).toBe('ts,ts_ns,symbol,bid_price,bid_size,ask_price,ask_size,bid_exchange,ask_exchange,conditions,tape');
    expect(lines.length - 1).toBe(quotes.length);
    const nullSize = quotes.findIndex((q) => q.bid_size === null);
    expect(lines[nullSize + 1]?.split(',')[4]).toBe('');
  });

  it('--format parquet --output: a file another engine reads back to the same rows', async () => {
    expect(parquet.code).toBe(0);
    expect(parquet.stdout).toBe('');
    const back = await duckdbRows(`SELECT * FROM read_parquet(${sqlPath(out('trades.parquet'))})`);
    const rows = jsonLines(json.stdout);
    expect(back.length).toBe(rows.length);
    expect(back.map((r) => [String(r['ts_ns']), r['symbol'], String(r['trade_id']), r['price']])).toEqual(rows.map((r) => [r['ts_ns'], r['symbol'], r['trade_id'], r['price']]));
    const [types] = await duckdbRows(`SELECT typeof(ts) AS ts, typeof(ts_ns) AS ts_ns, typeof(price) AS price FROM read_parquet(${sqlPath(out('trades.parquet'))}) LIMIT 1`);
    expect(types).toEqual({ ts: 'TIMESTAMP_NS', ts_ns: 'BIGINT', price: 'DOUBLE' });
  });
});

describe('tickvault query: aggregates, raw SQL, the hot tier, charts', () => {
  it('--interval, --vwap, --spread and --sql answer through the CLI', async () => {
    const [bars, vwap, spread, sql] = await Promise.all([
      query('bars', '--symbol', 'AAPL', ...RANGE, '--interval', '1h', '--format', 'json'),
      query('trades', '--symbol', 'AAPL', ...RANGE, '--vwap', '--format', 'json'),
      query('quotes', '--symbol', 'AAPL', ...RANGE, '--spread', '--interval', '4h', '--format', 'json'),
      query('--sql', 'SELECT symbol, count(*) AS n FROM trades WHERE price > ? GROUP BY symbol ORDER BY symbol', '--param', '0', '--symbols', 'AAPL,BTC/USD', ...RANGE, '--format', 'csv'),
    ]);
    for (const r of [bars, vwap, spread, sql]) expect(r.stderr).toBe('');
    expect(jsonLines(bars.stdout).map((r) => r['ts'])).toEqual(Array.from({ length: 16 }, (_, h) => `2024-07-01T${String(h).padStart(2, '0')}:00:00.000000000Z`));
    expect(jsonLines(bars.stdout).reduce((n, r) => n + Number(r['trade_count']), 0)).toBe(aapl.length);
    const [v] = jsonLines(vwap.stdout);
    const notional = aapl.reduce((s, t) => s + t.price * t.size, 0);
    expect(v?.['vwap']).toBeCloseTo(notional / aapl.reduce((s, t) => s + t.size, 0), 6);
    expect(jsonLines(spread.stdout).map((r) => Number(r['quote_count'])).reduce((a, b) => a + b, 0))
      .toBe(quotes.filter((q) => q.bid_price > 0 && q.ask_price >= q.bid_price).length);
    expect(sql.stdout).toBe(`symbol,n\nAAPL,${aapl.length}\nBTC/USD,${btc.length}\n`);
  }, 120_000);

  it('--hot URL adds the trades only the agent\'s memory holds yet, each once', async () => {
    const run = await query('trades', '--symbol', 'AAPL', ...RANGE, '--hot', api.url, '--format', 'json');
    expect(run.code).toBe(0);
    const rows = jsonLines(run.stdout);
    expect(rows.length).toBe(aapl.length + hotOnly.length);
    expect(rows.slice(-hotOnly.length).map((r) => r['trade_id'])).toEqual(hotOnly.map((t) => String(t.trade_id)));
  });

  it('--plot FILE.html writes a self-contained price and volume chart; --plot FILE.png a real PNG', async () => {
    const [html, png] = await Promise.all([
      query('bars', '--symbol', 'AAPL', ...RANGE, '--interval', '5m', '--format', 'csv', '--plot', out('chart.html')),
      query('trades', '--symbol', 'AAPL', '--from', '2024-07-01T09:00:00Z', '--to', '2024-07-01T12:00:00Z', '--format', 'csv', '--plot', out('chart.png')),
    ]);
    expect(html.code).toBe(0);
    expect(html.stderr).toMatch(/chart of AAPL \(192 5m bars\) written to .*chart\.html/);
    const page = readFileSync(out('chart.html'), 'utf8');
    expect(page).toMatch(/^<!doctype html>/);
    expect(page).toContain('<svg');
    expect(page).not.toMatch(/<script|<link|<img|@import|url\(/i);
    expect(page.match(/https?:\/\/[^"\s]*/g)).toEqual(['http://www.w3.org/2000/svg']); // the SVG namespace, never fetched
    expect(page).toContain('AAPL');
    expect((page.match(/<rect /g) ?? []).length).toBeGreaterThan(192 * 2); // candle bodies and volume bars

    expect(png.code).toBe(0);
    expect(png.stderr).toMatch(/chart of AAPL \(180 1m bars\)/);
    const bytes = readFileSync(out('chart.png'));
    expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const width = bytes.readUInt32BE(16);
    const height = bytes.readUInt32BE(20);
    expect([width, height]).toEqual([1000, 600]);
    // Decode the pixels: a white page with green and red candles on it.
    let offset = 8;
    const idat: Buffer[] = [];
    while (offset < bytes.length) {
      const length = bytes.readUInt32BE(offset);
      if (bytes.toString('latin1', offset + 4, offset + 8) === 'IDAT') idat.push(bytes.subarray(offset + 8, offset + 8 + length));
      offset += 12 + length;
    }
    const raw = inflateSync(Buffer.concat(idat));
    expect(raw.length).toBe((width * 3 + 1) * height);
    const colours = new Map<string, number>();
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = y * (width * 3 + 1) + 1 + x * 3;
        const key = `${raw[i]},${raw[i + 1]},${raw[i + 2]}`;
        colours.set(key, (colours.get(key) ?? 0) + 1);
      }
    }
    expect(colours.get('255,255,255') ?? 0).toBeGreaterThan(width * height * 0.5);
    expect(colours.get('26,152,80') ?? 0).toBeGreaterThan(100); // up candles
    expect(colours.get('215,48,39') ?? 0).toBeGreaterThan(100); // down candles
  }, 120_000);

  it('--help prints the query usage', async () => {
    const run = await runCli(['query', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(QUERY_HELP);
  });
});

describe('tickvault query: bad arguments', () => {
  it('end with exit 2 and one line naming the argument', async () => {
    const cases: [string[], RegExp][] = [
      [['trades', '--symbols', "AAPL' OR 1=1 --", ...RANGE], /^tickvault: --symbols: invalid symbol "AAPL' OR 1=1 --"/],
      [['trades', '--symbol', "'; DROP TABLE trades; --", ...RANGE], /^tickvault: --symbol: invalid symbol/],
      [['trades', '--symbol', 'AAPL', '--from', "2024-01-01'; --", '--to', '2024-01-02'], /^tickvault: --from: invalid time "2024-01-01'; --"/],
      [['trades', '--symbol', 'AAPL', '--from', '2024-01-02', '--to', '2024-01-01'], /^tickvault: --to: empty time range/],
      [['--sql', 'DROP TABLE trades', '--symbol', 'AAPL', ...RANGE], /^tickvault: --sql: only SELECT or WITH statements may run \(read-only\), not DROP/],
      [['--sql', 'SELECT 1; DELETE FROM trades', '--symbol', 'AAPL', ...RANGE], /^tickvault: --sql: one statement only/],
      [['--sql', 'SELECT * FROM trades WHERE symbol = ?', '--param', "'; DROP TABLE", '--symbol', 'AAPL', ...RANGE], /^tickvault: --param #1: .*contains a quote/],
      [['bars', '--symbol', 'AAPL', ...RANGE, '--interval', '7m'], /^tickvault: --interval: "7m": expected one of 1s/],
      [['trades', '--symbol', 'AAPL', ...RANGE, '--tier', 'lukewarm'], /^tickvault: --tier: "lukewarm": expected one of all, hot, warm, cold/],
      [['trades', '--symbol', 'AAPL', ...RANGE, '--engine', 'postgres'], /^tickvault: --engine "postgres": expected duckdb, athena/],
      [['trades', '--symbol', 'AAPL', ...RANGE, '--format', 'parquet'], /^tickvault: --format parquet: needs --output FILE/],
      [['trades', '--symbol', 'AAPL', ...RANGE, '--plot', 'chart.jpg'], /^tickvault: --plot "chart\.jpg": expected a \.png or \.html file/],
      [['trades', '--symbols', 'AAPL,MSFT', ...RANGE, '--plot', 'chart.png'], /^tickvault: --plot: charts one symbol; 2 given/],
      [['trades', '--symbol', 'AAPL', ...RANGE, '--engine', 'athena'], /^tickvault: --engine athena: needs --store s3:\/\//],
      [['trades', '--symbol', 'AAPL', ...RANGE, '--hot', 'ftp://x'], /^tickvault: --hot: "ftp:\/\/x": expected an http/],
      [['trades', '--symbol', 'AAPL', ...RANGE, '--timeout', 'soon'], /^tickvault: --timeout "soon": expected a positive number of seconds/],
      [['quotes', '--symbol', 'AAPL', ...RANGE, '--vwap'], /^tickvault: --vwap: applies to trades/],
      [['trades', '--symbol', 'AAPL', ...RANGE, '--interval', '1m'], /^tickvault: --interval: with trades, add --vwap/],
      [['orders', '--symbol', 'AAPL', ...RANGE], /^tickvault: query "orders": expected trades, quotes or bars/],
      [['trades', '--symbol', 'AAPL', ...RANGE, '--bogus'], /Unknown option '--bogus'/],
    ];
    // Each is refused in-process (fast); a sample also through the real command, for the exit code and the one line.
    for (const [args, message] of cases) {
      const error = await runQueryCommand([...args, '--data-dir', dataDir]).then(() => undefined, (e: unknown) => e);
      expect(error, args.join(' ')).toBeInstanceOf(UsageError);
      expect(`tickvault: ${(error as Error).message}`, args.join(' ')).toMatch(message);
    }
    const sample = [0, 2, 4, 6, 19];
    const runs = await Promise.all(sample.map((i) => query(...(cases[i] as [string[], RegExp])[0])));
    sample.forEach((c, i) => {
      const [args, message] = cases[c] as [string[], RegExp];
      const run = runs[i] as CliResult;
      expect([args.join(' '), run.code]).toEqual([args.join(' '), 2]);
      expect(run.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(run.stderr, args.join(' ')).toMatch(message);
      expect(run.stdout).toBe('');
    });
    expect(existsSync('chart.jpg')).toBe(false);
  }, 120_000);
});

/**
 * One trade's whole journey on real parts: the built-in simulator over a real loopback WebSocket, the agent as a
 * real process writing warm Parquet and copying it to the local store, compaction through the Lambda's code,
 * and a query — each step checked by an independent DuckDB reader.
 */
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { duckdbColumns } from '../core/catalog-columns.ts';
import { agentReport, runCli } from './support/cli.ts';
import { duckdbRows, sqlPath } from './support/duckdb.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'tv-thin-'));
const warmGlob = (dataset: string) => sqlPath(join(dataDir, 'warm', dataset, '**', '*.parquet'));
let report: ReturnType<typeof agentReport>;
let agentExit: number | null;

beforeAll(async () => {
  const run = await runCli(['agent', '--duration', '6', '--data-dir', dataDir, '--symbols', 'AAPL,BTC/USD,SPY', '--rate', '3000']);
  agentExit = run.code;
  report = agentReport(run.stdout);
}, 60_000);

describe('agent --duration on the simulator', () => {
  it('exits 0 by itself and accounts for every message', () => {
    expect(agentExit).toBe(0);
    expect(report.received).toBeGreaterThan(1000);
    const accepted = Object.values(report.accepted).reduce((a, b) => a + b, 0);
    const rejected = Object.values(report.rejected).reduce((a, b) => a + b, 0);
    expect(accepted + rejected).toBe(report.received);
    expect(report.rowsWritten).toEqual(report.accepted);
    expect(report.filesUploaded).toBe(report.filesWritten);
  });

  it('leaves warm files in the Hive layout that DuckDB reads with the expected columns and row counts', async () => {
    for (const dataset of ['trades', 'quotes'] as const) {
      const described = await duckdbRows(`DESCRIBE SELECT * FROM read_parquet(${warmGlob(dataset)}, hive_partitioning = true)`);
      // The data columns, then the partition columns taken from the path; `symbol` is both and keeps the file's values.
      expect(described.map((r) => r['column_name'])).toEqual([...duckdbColumns(dataset).map((c) => c.name), 'date']);
      const [count] = await duckdbRows(`SELECT count(*)::INTEGER AS n, count(DISTINCT symbol)::INTEGER AS symbols FROM read_parquet(${warmGlob(dataset)}, hive_partitioning = true)`);
      expect(count?.['n']).toBe(report.rowsWritten[dataset]);
      expect(count?.['symbols']).toBe(3);
    }
    const partitions = readdirSync(join(dataDir, 'warm', 'trades'));
    expect(partitions.every((p) => /^date=\d{4}-\d{2}-\d{2}$/.test(p))).toBe(true);
    const symbols = readdirSync(join(dataDir, 'warm', 'trades', partitions[0] ?? '')).sort();
    expect(symbols).toEqual(['symbol=AAPL', 'symbol=BTC%2FUSD', 'symbol=SPY']);
  });

  it('copies every sealed file to the store byte for byte', async () => {
    const [warm] = await duckdbRows(`SELECT count(*)::INTEGER AS n FROM read_parquet(${warmGlob('trades')})`);
    const [stored] = await duckdbRows(`SELECT count(*)::INTEGER AS n FROM read_parquet(${sqlPath(join(dataDir, 'store', 'warm', 'trades', '**', '*.parquet'))})`);
    expect(stored?.['n']).toBe(warm?.['n']);
  });
});

describe('compact, then query', () => {
  it('compacts the month into one sorted file per symbol and answers a query with exactly the independent count', async () => {
    const [range] = await duckdbRows(`SELECT strftime(min(ts), '%Y-%m') AS month, min(ts_ns) AS lo, max(ts_ns) AS hi FROM read_parquet(${warmGlob('trades')})`);
    const month = String(range?.['month']);
    // --dry-run shows the plan and writes nothing.
    const dry = await runCli(['compact', '--month', month, '--data-dir', dataDir, '--dry-run']);
    expect(dry.code).toBe(0);
    const planned = dry.stdout.trim().split('\n').map((l) => JSON.parse(l) as { dryRun: boolean; dataset: string; symbol: string });
    expect(planned.filter((u) => u.dataset === 'trades').map((u) => u.symbol).sort()).toEqual(['AAPL', 'BTC/USD', 'SPY']);
    expect(planned.every((u) => u.dryRun)).toBe(true);
    expect(existsSync(join(dataDir, 'store', 'cold'))).toBe(false);
    const compact = await runCli(['compact', '--month', month, '--data-dir', dataDir]);
    expect(compact.stderr).toBe('');
    expect(compact.code).toBe(0);
    const results = compact.stdout.trim().split('\n').map((l) => JSON.parse(l) as { unit: { dataset: string }; status: string; rowsOut: number });
    expect(results.filter((r) => r.unit.dataset === 'trades' && r.status === 'compacted')).toHaveLength(3);
    const [y, m] = month.split('-');
    const coldFile = join(dataDir, 'store', 'cold', 'trades', `year=${y}`, `month=${m}`, 'BTC%2FUSD.parquet');
    const sorted = await duckdbRows(`SELECT count(*) FILTER (WHERE ts_ns < prev)::INTEGER AS out_of_order FROM (SELECT ts_ns, lag(ts_ns) OVER () AS prev FROM read_parquet(${sqlPath(coldFile)}))`);
    expect(sorted[0]?.['out_of_order']).toBe(0);

    // A window in the middle of the run: from included, to excluded.
    const lo = range?.['lo'] as bigint;
    const hi = range?.['hi'] as bigint;
    const from = lo + (hi - lo) / 4n;
    const to = lo + (3n * (hi - lo)) / 4n;
    const iso = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString().replace('Z', `${(ns % 1_000_000n).toString().padStart(6, '0')}Z`);
    const [expected] = await duckdbRows(`SELECT count(*)::INTEGER AS n FROM read_parquet(${warmGlob('trades')})
      WHERE symbol = 'BTC/USD' AND ts_ns >= ${from} AND ts_ns < ${to}`);
    const query = await runCli(['query', 'trades', '--symbol', 'BTC/USD', '--from', iso(from), '--to', iso(to), '--format', 'json', '--data-dir', dataDir]);
    expect(query.code).toBe(0);
    const rows = query.stdout.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { ts_ns: string; symbol: string; trade_id: string });
    expect(rows.length).toBe(expected?.['n']);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.symbol === 'BTC/USD' && BigInt(r.ts_ns) >= from && BigInt(r.ts_ns) < to)).toBe(true);
    expect(new Set(rows.map((r) => r.trade_id)).size).toBe(rows.length);
  });

  it('rejects bad input with a one-line error naming it and a non-zero exit', async () => {
    const cases: [string[], RegExp][] = [
      [['query', 'trades', '--symbol', '../../etc', '--from', '2024-01-01', '--to', '2024-01-02', '--data-dir', dataDir], /invalid symbol "\.\.\/\.\.\/etc"/],
      [['query', 'trades', '--symbol', 'AAPL', '--from', '2024-02-30', '--to', '2024-03-01', '--data-dir', dataDir], /invalid time "2024-02-30": day 30 does not exist in 2024-02/],
      [['compact', '--month', '2024-13', '--data-dir', dataDir], /invalid month "2024-13"/],
      [['compact', '--data-dir', dataDir], /needs --month/],
      [['query', 'orders', '--symbol', 'AAPL', '--from', '2024-01-01', '--to', '2024-01-02'], /query "orders"/],
      [['agent', '--duration', 'soon'], /--duration "soon"/],
      [['agent', '--config', join(dataDir, 'missing.json')], /config file .*missing\.json: cannot read \(ENOENT\)/],
      [['agent', '--bogus'], /Unknown option '--bogus'/],
    ];
    const runs = await Promise.all(cases.map(([args]) => runCli(args)));
    for (const [i, [args, message]] of cases.entries()) {
      const run = runs[i] as Awaited<ReturnType<typeof runCli>>;
      expect(run.code, args.join(' ')).not.toBe(0);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).toMatch(message);
    }
  });
});

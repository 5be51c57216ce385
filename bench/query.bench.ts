/**
 * Query latency on the embedded engine, beside the named baseline Polars (nodejs-polars scanParquet, lazy, with
 * predicate pushdown) reading the same files in the same run.
 *
 * Data (generated, deterministic):
 *   warm  one day of one symbol, 1,000,000 trades, in 288 part files: the agent's default 5-minute flush, written
 *         as the agent writes them (hyparquet-writer, Snappy)
 *   cold  one month of one symbol, 5,000,000 trades (~167K a day, a liquid US stock's order of magnitude), one file
 *         written as the compactor writes it (DuckDB, ZSTD, 1M-row row groups)
 * Queries: a 10-minute slice of the warm day (raw trades, deduplicated, ordered); the warm day's 1-minute OHLCV;
 * the cold month's 1-hour OHLCV. Both engines do the same work: Polars deduplicates the warm rows by
 * (symbol, trade_id) as tickvault does, and neither deduplicates the compacted month. tickvault's time includes
 * planning (listing the partition, reading the day manifest the agent uploads with its parts, which lets the planner
 * skip parts outside the range), a fresh DuckDB and its sandbox; Polars has only the files' own statistics.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { ColumnarBatch } from '../core/codec/columnar-batch.ts';
import { encodeParquet } from '../core/codec/parquet-file.ts';
import { SCHEMA_VERSION } from '../core/datasets.ts';
import { COLD_PREFIX, coldFilePath, warmManifestKey, warmObjectKey } from '../core/layout.ts';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import { type WarmManifestObject, encodeWarmManifest } from '../core/warm-manifest.ts';
import { defineQuery } from '../query/model.ts';
import { runQuery } from '../query/tier-router.ts';
import { type BenchTable, medianMs } from './table.ts';
import { seededRandom } from '../edge-agent/simulator/prng.ts';

const WARM_TRADES = 1_000_000;
const WARM_PARTS = 288;
const COLD_TRADES = 5_000_000;
const RUNS = 3;
const DAY = '2024-07-01';
const DAY_NS = BigInt(Date.parse(`${DAY}T00:00:00Z`)) * 1_000_000n;
const MONTH_START_NS = BigInt(Date.parse('2024-06-01T00:00:00Z')) * 1_000_000n;
const NS_PER_DAY = 86_400_000_000_000n;

/** The warm day: WARM_TRADES evenly over the day, in WARM_PARTS files of consecutive trades, and the day's manifest. */
async function writeWarmDay(store: LocalDirectoryStore): Promise<void> {
  const manifest: WarmManifestObject[] = [];
  const rand = seededRandom(1);
  const perPart = WARM_TRADES / WARM_PARTS;
  const step = NS_PER_DAY / BigInt(WARM_TRADES);
  let price = 190;
  let id = 1n;
  for (let part = 0; part < WARM_PARTS; part++) {
    const first = Math.round(part * perPart);
    const last = Math.round((part + 1) * perPart);
    const batch = new ColumnarBatch('trades', last - first);
    for (let i = first; i < last; i++) {
      const ts = DAY_NS + BigInt(i) * step + BigInt(Math.floor(rand() * 1000));
      price = Math.max(1, price + (rand() - 0.5) * 0.05);
      batch.append({ ts, ts_ns: ts, symbol: 'AAPL', trade_id: id++, price: Math.round(price * 100) / 100, size: Math.ceil(rand() * 200), exchange: rand() < 0.5 ? 'V' : 'Q', conditions: '@', tape: 'C' });
    }
    const key = warmObjectKey({ dataset: 'trades', date: DAY, symbol: 'AAPL', part }, 'edge-1');
    const bytes = encodeParquet(batch);
    await store.put(key, bytes);
    const times = batch.columnValues()[1] as BigInt64Array;
    manifest.push({
      key, symbol: 'AAPL', part, rows: batch.length, bytes: bytes.byteLength, minTsNs: String(times[0]), maxTsNs: String(times[times.length - 1]),
      sha256: createHash('sha256').update(bytes).digest('base64'), schemaVersion: SCHEMA_VERSION,
    });
  }
  // As the agent's uploader does after its uploads: the planner prunes the day's parts by these time bounds.
  await store.put(warmManifestKey('trades', DAY, 'edge-1'), encodeWarmManifest({ dataset: 'trades', date: DAY, agentId: 'edge-1', updatedAtMs: Date.now() }, manifest));
}

/** The cold month, as the compactor writes it: sorted, ZSTD, 1M-row row groups. */
async function writeColdMonth(store: LocalDirectoryStore, storeDir: string): Promise<string> {
  const key = `${COLD_PREFIX}${coldFilePath({ dataset: 'trades', period: '2024-06', symbol: 'AAPL' })}`;
  await store.put(key, new Uint8Array([0])); // creates the directories; DuckDB overwrites the file
  const path = join(storeDir, ...key.split('/'));
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  const connection = await instance.connect();
  try {
    const stepNs = (30n * NS_PER_DAY) / BigInt(COLD_TRADES);
    // Deterministic pseudo-random prices and sizes from hashes of the row number; a random walk via a running sum.
    await connection.run(`COPY (
      SELECT make_timestamp_ns(ts_ns) AS ts, ts_ns, 'AAPL' AS symbol, i + 1 AS trade_id,
        round(180 + sum(step) OVER (ORDER BY i ROWS UNBOUNDED PRECEDING), 2) AS price,
        CAST(1 + hash(i * 7) % 200 AS DOUBLE) AS size, CASE WHEN hash(i * 3) % 2 = 0 THEN 'V' ELSE 'Q' END AS exchange,
        '@' AS conditions, 'C' AS tape
      FROM (SELECT i, ${MONTH_START_NS} + i * ${stepNs} + CAST(hash(i) % 1000 AS BIGINT) AS ts_ns,
              (CAST(hash(i * 11) % 1000 AS DOUBLE) / 1000 - 0.5) * 0.05 AS step
            FROM range(${COLD_TRADES}) t(i))
      ORDER BY ts_ns
    ) TO '${path.replaceAll("'", "''")}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000)`);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  return path;
}

const iso = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString();

/**
 * nodejs-polars is the baseline only, and not a dependency: its release metadata lists platform packages without
 * versions, which breaks `npm ci`. Install it for a benchmark run with `npm install --no-save nodejs-polars@0.24.0`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Polars = any;
let pl: Polars;

async function loadPolars(): Promise<void> {
  const name = 'nodejs-polars';
  try {
    pl = ((await import(name)) as { default: Polars }).default;
  } catch (cause) {
    throw new Error('the query benchmark compares against Polars: install it first with `npm install --no-save nodejs-polars@0.24.0`', { cause });
  }
}

/** OHLCV in Polars: bucket, then first/last by time (rows sorted first), extremes, sums. */
function polarsOhlcv(frame: Polars, intervalNs: bigint): Polars {
  return frame
    .sort(['ts_ns', 'trade_id'])
    .withColumns(pl.col('ts_ns').sub(pl.col('ts_ns').modulo(pl.lit(intervalNs))).alias('bucket'))
    .groupBy(['bucket', 'symbol'], true)
    .agg(
      pl.col('price').first().alias('open'), pl.col('price').max().alias('high'), pl.col('price').min().alias('low'),
      pl.col('price').last().alias('close'), pl.col('size').sum().alias('volume'), pl.col('price').count().alias('trade_count'),
      pl.col('price').mul(pl.col('size')).sum().div(pl.col('size').sum()).alias('vwap'),
    )
    .sort(['bucket', 'symbol'])
    .collectSync();
}

export async function runQueryBench(): Promise<BenchTable[]> {
  await loadPolars();
  const dir = mkdtempSync(join(tmpdir(), 'tv-bench-query-'));
  try {
    const storeDir = join(dir, 'store');
    const store = new LocalDirectoryStore(storeDir);
    const setupStart = performance.now();
    await writeWarmDay(store);
    const coldPath = await writeColdMonth(store, storeDir);
    const setupMs = performance.now() - setupStart;
    const warmGlob = join(storeDir, 'warm', 'trades', `date=${DAY}`, 'symbol=AAPL', '*.parquet');

    const sliceFrom = DAY_NS + 14n * 3_600_000_000_000n;
    const sliceTo = sliceFrom + 600_000_000_000n;
    const cases: { name: string; rowsIn: number; files: number; tickvault: () => Promise<number>; polars: () => number }[] = [
      {
        name: 'warm day: 10-minute slice of trades',
        rowsIn: WARM_TRADES, files: WARM_PARTS,
        tickvault: async () => (await runQuery(defineQuery({ kind: 'trades', symbols: ['AAPL'], from: iso(sliceFrom), to: iso(sliceTo) }), { store })).rows.length,
        polars: () => pl.scanParquet(warmGlob, { hivePartitioning: false })
          .filter(pl.col('ts_ns').gtEq(pl.lit(sliceFrom)).and(pl.col('ts_ns').lt(pl.lit(sliceTo))))
          .unique({ subset: ['symbol', 'trade_id'], keep: 'first' })
          .sort(['ts_ns', 'symbol', 'trade_id'])
          .collectSync().height,
      },
      {
        name: 'warm day: OHLCV 1m of the whole day',
        rowsIn: WARM_TRADES, files: WARM_PARTS,
        tickvault: async () => (await runQuery(defineQuery({ kind: 'ohlcv', symbols: ['AAPL'], from: DAY, to: '2024-07-02', interval: '1m' }), { store })).rows.length,
        polars: () => polarsOhlcv(pl.scanParquet(warmGlob, { hivePartitioning: false })
          .filter(pl.col('ts_ns').gtEq(pl.lit(DAY_NS)).and(pl.col('ts_ns').lt(pl.lit(DAY_NS + NS_PER_DAY))))
          .unique({ subset: ['symbol', 'trade_id'], keep: 'first' }), 60_000_000_000n).height,
      },
      {
        name: 'cold month: OHLCV 1h of the whole month',
        rowsIn: COLD_TRADES, files: 1,
        tickvault: async () => (await runQuery(defineQuery({ kind: 'ohlcv', symbols: ['AAPL'], from: '2024-06-01', to: '2024-07-01', interval: '1h' }), { store })).rows.length,
        polars: () => polarsOhlcv(pl.scanParquet(coldPath, { hivePartitioning: false })
          .filter(pl.col('ts_ns').gtEq(pl.lit(MONTH_START_NS)).and(pl.col('ts_ns').lt(pl.lit(DAY_NS)))), 3_600_000_000_000n).height,
      },
    ];

    const sliceFiles = (await runQuery(defineQuery({ kind: 'trades', symbols: ['AAPL'], from: iso(sliceFrom), to: iso(sliceTo) }), { store })).stats.files.length;
    const rows: (string | number)[][] = [];
    for (const c of cases) {
      // One untimed run each first (file cache, lazy initialisation), and the answers must agree.
      const ours = await c.tickvault();
      const theirs = c.polars();
      if (ours !== theirs) throw new Error(`${c.name}: tickvault returned ${ours} rows, Polars ${theirs}`);
      const tickvaultMs = await medianMs(RUNS, c.tickvault);
      const polarsMs = await medianMs(RUNS, c.polars);
      rows.push([c.name, c.rowsIn, String(c.files), ours.toLocaleString('en-US'), tickvaultMs, polarsMs, `${(polarsMs / tickvaultMs).toFixed(2)}x`]);
    }
    return [{
      title: 'Queries on the embedded engine (tickvault query, DuckDB) vs Polars scan_parquet on the same files',
      columns: ['query', 'rows stored', 'files', 'rows out', 'tickvault ms', 'Polars ms', 'Polars / tickvault'],
      rows,
      note: `Median of ${RUNS} runs after one untimed run; generated data written in ${(setupMs / 1000).toFixed(1)} s. `
        + 'Baseline: nodejs-polars 0.24 scanParquet over the partition glob (lazy, predicate pushdown), same deduplication and order. '
        + 'tickvault includes planning (listing, the day manifest), a fresh DuckDB per query and its sandbox; '
        + `the slice opened ${sliceFiles} of the day's ${WARM_PARTS} parts (manifest pruning).`,
    }];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

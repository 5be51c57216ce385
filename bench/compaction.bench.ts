/**
 * Compaction of one symbol-month of trades: compactUnit (DuckDB, out of core) beside the design's sketch (section
 * 4.3: read every row into JS objects, sort by time, drop adjacent duplicates), on the same warm files.
 *
 * The warm files are what the agents upload: 22 trading days, each day in parts (a 15-minute flush over the 6.5-hour
 * session) from two agents, the second of which saw about 60% of the trades (so those are there twice), plus each
 * agent's per-day manifest. The design's volume is about 21M trades a symbol-month; TICKVAULT_BENCH_TRADES scales it
 * (default 5M, which runs in about two minutes on two cores).
 *
 * TICKVAULT_BENCH_STORE=DIR keeps the generated store in DIR and reuses it on the next run with the same number of
 * trades (the 21M store takes minutes to write), so that two versions of the compactor can be run on the same bytes.
 *
 * Each case runs in a child process (this file, started with --compaction-bench-child), which reports its wall time
 * and its peak resident memory (VmHWM from /proc/self/status, DuckDB's memory included: it lives in the process).
 * The sketch needs every row in memory at once, so it runs on the first days only (up to BASELINE_MAX_TRADES
 * trades); compactUnit runs on that same subset too, for a like-for-like row.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ColumnarBatch } from '../core/codec/columnar-batch.ts';
import { decodeParquet, encodeParquet } from '../core/codec/parquet-file.ts';
import { SCHEMA_VERSION, type TradeRow } from '../core/datasets.ts';
import { warmManifestKey, warmObjectKey } from '../core/layout.ts';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import { WARM_MANIFEST_CONTENT_TYPE, type WarmManifestObject, encodeWarmManifest } from '../core/warm-manifest.ts';
import { compactUnit } from '../lambdas/compactor/compact-unit.ts';
import { type SourceObject, sourcesOfUnit } from '../lambdas/shared/compaction-units.ts';
import { silentLogger } from '../lambdas/shared/log.ts';
import type { BenchTable } from './table.ts';
import { seededRandom } from '../edge-agent/simulator/prng.ts';

const CHILD_FLAG = '--compaction-bench-child';
const DESIGN_TRADES = 21_000_000;
const DEFAULT_TRADES = 5_000_000;
/** The sketch holds every row as a JS object (~3 of them per trade here, with the duplicates and the sort's copy). */
const BASELINE_MAX_TRADES = 1_500_000;
const TRADING_DAYS = 22;
const PARTS_PER_DAY = 26;
const SECOND_AGENT_SHARE = 0.6;
const MONTH = '2024-07';
const SYMBOL = 'AAPL';
const AGENTS = ['edge-1', 'edge-2'];
const MEMORY_LIMIT = process.env['DUCKDB_MEMORY_LIMIT'] ?? '1GB';
const NS_PER_MS = 1_000_000n;

interface ChildReport {
  readonly rowsIn: number;
  readonly rowsOut: number;
  readonly seconds: number;
  /** User + system CPU of the whole process (DuckDB's threads included). */
  readonly cpuSeconds: number;
  readonly peakRssMiB: number;
  readonly coldBytes?: number;
  readonly phaseMs?: Readonly<Record<string, number>>;
}

/** The trading days of the month: weekdays from the 1st, as many as TRADING_DAYS allows. */
function tradingDays(): string[] {
  const days: string[] = [];
  for (let d = 1; d <= 31 && days.length < TRADING_DAYS; d++) {
    const date = `${MONTH}-${String(d).padStart(2, '0')}`;
    const weekday = new Date(`${date}T00:00:00Z`).getUTCDay();
    if (weekday !== 0 && weekday !== 6) days.push(date);
  }
  return days;
}

const EXCHANGES = ['V', 'Q', 'N', 'P', 'Z', 'K'];

/**
 * Writes the month's warm objects and manifests, one part at a time (never the whole month in memory). Returns the
 * number of warm objects and of rows in them.
 */
async function writeWarmFiles(store: LocalDirectoryStore, trades: number): Promise<{ objects: number; rows: number; bytes: number }> {
  const days = tradingDays();
  const perPart = Math.ceil(trades / (days.length * PARTS_PER_DAY));
  const sessionNs = 6n * 3_600_000n * NS_PER_MS + 30n * 60_000n * NS_PER_MS;
  let id = 1n;
  let written = 0;
  let objects = 0;
  let rows = 0;
  let bytes = 0;
  let price = 190;
  for (const [d, date] of days.entries()) {
    const open = BigInt(Date.parse(`${date}T13:30:00Z`)) * NS_PER_MS;
    const manifests = new Map<string, WarmManifestObject[]>(AGENTS.map((a) => [a, []]));
    for (let part = 0; part < PARTS_PER_DAY && written < trades; part++) {
      const random = seededRandom(d * 1000 + part);
      const n = Math.min(perPart, trades - written);
      const batches = AGENTS.map(() => new ColumnarBatch('trades', n));
      const partStart = open + (sessionNs * BigInt(part)) / BigInt(PARTS_PER_DAY);
      const step = sessionNs / BigInt(PARTS_PER_DAY) / BigInt(n);
      for (let i = 0; i < n; i++) {
        price = Math.max(1, price + (random() - 0.5) * 0.02);
        const ts = partStart + BigInt(i) * step + BigInt(Math.floor(random() * Number(step)));
        const row: TradeRow = {
          ts, ts_ns: ts, symbol: SYMBOL, trade_id: id++, price: Math.round(price * 100) / 100, size: 1 + Math.floor(random() * 300),
          exchange: EXCHANGES[Math.floor(random() * EXCHANGES.length)] ?? 'V', conditions: random() < 0.85 ? '@' : '@,I', tape: 'C',
        };
        batches[0]?.append(row);
        if (random() < SECOND_AGENT_SHARE) batches[1]?.append(row);
      }
      written += n;
      for (const [a, agentId] of AGENTS.entries()) {
        const batch = batches[a];
        if (batch === undefined || batch.length === 0) continue;
        const body = encodeParquet(batch);
        const key = warmObjectKey({ dataset: 'trades', date, symbol: SYMBOL, part }, agentId);
        const sha256 = createHash('sha256').update(body).digest('base64');
        await store.put(key, body, { metadata: { sha256, rows: String(batch.length) } });
        manifests.get(agentId)?.push({
          key, symbol: SYMBOL, part, rows: batch.length, bytes: body.byteLength, minTsNs: '0', maxTsNs: '0', sha256, schemaVersion: SCHEMA_VERSION,
        });
        objects++;
        rows += batch.length;
        bytes += body.byteLength;
      }
    }
    for (const [agentId, entries] of manifests) {
      if (entries.length === 0) continue;
      await store.put(warmManifestKey('trades', date, agentId), encodeWarmManifest({ dataset: 'trades', date, agentId, updatedAtMs: 0 }, entries), { contentType: WARM_MANIFEST_CONTENT_TYPE });
    }
  }
  return { objects, rows, bytes };
}

/**
 * The warm files of a kept store (TICKVAULT_BENCH_STORE) written for the same number of trades, or new ones; a kept
 * store remembers its trade count and warm totals in a file beside the objects.
 */
async function keptOrWrittenWarmFiles(store: LocalDirectoryStore, storeDir: string, trades: number, keep: boolean): Promise<{ objects: number; rows: number; bytes: number; reused: boolean }> {
  const marker = join(storeDir, 'bench-store.json');
  if (keep && existsSync(marker)) {
    const saved = JSON.parse(readFileSync(marker, 'utf8')) as { trades: number; objects: number; rows: number; bytes: number };
    if (saved.trades !== trades) throw new Error(`TICKVAULT_BENCH_STORE=${storeDir} holds ${saved.trades} trades, not ${trades}: remove it or point elsewhere`);
    return { ...saved, reused: true };
  }
  const warm = await writeWarmFiles(store, trades);
  if (keep) writeFileSync(marker, JSON.stringify({ trades, ...warm }));
  return { ...warm, reused: false };
}

/** The unit's sources, limited to the first days holding up to `maxTrades` distinct trades (the baseline's subset). */
async function sourcesUpTo(store: LocalDirectoryStore, maxTrades: number | undefined, totalTrades: number): Promise<SourceObject[]> {
  const all = await sourcesOfUnit(store, { dataset: 'trades', symbol: SYMBOL, month: MONTH }, { agentIds: AGENTS, nowMs: Date.parse('2024-08-15T00:00:00Z'), graceHours: 6 });
  if (maxTrades === undefined || maxTrades >= totalTrades) return all;
  const days = tradingDays();
  const perDay = totalTrades / days.length;
  const keep = new Set(days.slice(0, Math.max(1, Math.floor(maxTrades / perDay))));
  return all.filter((s) => keep.has(/date=(\d{4}-\d{2}-\d{2})/.exec(s.key)?.[1] ?? ''));
}

function peakRssMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m === null ? NaN : Number(m[1]) / 1024;
}

/** The design's sketch: every row as a JS object, sort by time, drop duplicates adjacent by trade id. */
async function naiveCompaction(store: LocalDirectoryStore, sources: readonly SourceObject[]): Promise<{ rowsIn: number; rowsOut: number }> {
  const rows: TradeRow[] = [];
  for (const s of sources) for (const r of await decodeParquet(await store.get(s.key), 'trades', s.key)) rows.push(r);
  rows.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
  const out: TradeRow[] = [];
  for (const r of rows) if (out.at(-1)?.trade_id !== r.trade_id) out.push(r);
  const batch = new ColumnarBatch('trades', out.length);
  for (const r of out) batch.append(r);
  encodeParquet(batch);
  return { rowsIn: rows.length, rowsOut: out.length };
}

/** Runs in the child: one case, then one JSON line on stdout. */
async function child(args: string[]): Promise<void> {
  const [mode, storeDir, workDir, maxArg, totalArg] = args;
  const store = new LocalDirectoryStore(storeDir ?? '');
  const sources = await sourcesUpTo(store, maxArg === 'all' ? undefined : Number(maxArg), Number(totalArg));
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  let report: Omit<ChildReport, 'seconds' | 'cpuSeconds' | 'peakRssMiB'>;
  if (mode === 'naive') {
    report = await naiveCompaction(store, sources);
  } else {
    const r = await compactUnit({ dataset: 'trades', symbol: SYMBOL, month: MONTH }, { store, workDir: workDir ?? '', sources, memoryLimit: MEMORY_LIMIT, threads: 2, log: silentLogger });
    // TICKVAULT_BENCH_DEBUG=1 prints compactUnit's phase times on stderr (stdout carries the report).
    if (process.env['TICKVAULT_BENCH_DEBUG'] !== undefined) process.stderr.write(`phases ms: ${JSON.stringify(r.phaseMs)}\n`);
    report = { rowsIn: r.rowsIn, rowsOut: r.rowsOut, coldBytes: r.bytes, ...(r.phaseMs !== undefined && { phaseMs: { ...r.phaseMs } }) };
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  process.stdout.write(`${JSON.stringify({ ...report, seconds, cpuSeconds: (used.user + used.system) / 1e6, peakRssMiB: peakRssMiB() })}\n`);
}

function runChild(args: string[]): Promise<ChildReport> {
  const runTs = join(import.meta.dirname, '..', 'bin', 'run-ts.js');
  const proc = spawn(process.execPath, [runTs, join(import.meta.dirname, 'compaction.bench.ts'), CHILD_FLAG, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  return new Promise((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code !== 0) reject(new Error(`compaction bench child (${args[0]}) exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as ChildReport);
    });
  });
}

export async function runCompactionBench(): Promise<BenchTable[]> {
  const trades = Number(process.env['TICKVAULT_BENCH_TRADES'] ?? DEFAULT_TRADES);
  if (!Number.isInteger(trades) || trades < 10_000) throw new Error(`TICKVAULT_BENCH_TRADES=${process.env['TICKVAULT_BENCH_TRADES']}: expected an integer of at least 10000`);
  const root = mkdtempSync(join(tmpdir(), 'tv-bench-compaction-'));
  const kept = process.env['TICKVAULT_BENCH_STORE'];
  const storeDir = kept ?? join(root, 'store');
  try {
    const store = new LocalDirectoryStore(storeDir);
    const generated = process.hrtime.bigint();
    const warm = await keptOrWrittenWarmFiles(store, storeDir, trades, kept !== undefined);
    const generateSeconds = Number(process.hrtime.bigint() - generated) / 1e9;
    const subset = Math.min(trades, BASELINE_MAX_TRADES);
    const loadBefore = loadavg()[0] ?? NaN;
    // Each compaction starts from a store without cold output (a previous cold file would make it a merge).
    const compaction = async (name: string, maxTrades: number | undefined): Promise<ChildReport> => {
      rmSync(join(storeDir, 'cold'), { recursive: true, force: true });
      return runChild(['duckdb', storeDir, join(root, `work-${name}`), maxTrades === undefined ? 'all' : String(maxTrades), String(trades)]);
    };
    const full = await compaction('full', undefined);
    const small = await compaction('subset', subset);
    const naive = await runChild(['naive', storeDir, join(root, 'work-naive'), String(subset), String(trades)]);
    const loadAfter = loadavg()[0] ?? NaN;
    const row = (name: string, r: ChildReport): (string | number)[] => [
      name, r.rowsIn, r.rowsOut, Number(r.seconds.toFixed(2)), Math.round(r.rowsIn / r.seconds), Number(r.cpuSeconds.toFixed(2)),
      Math.round(r.rowsIn / r.cpuSeconds), Math.round(r.peakRssMiB), r.coldBytes === undefined ? '' : Number((r.coldBytes / r.rowsOut).toFixed(1)),
    ];
    const phases = Object.entries(full.phaseMs ?? {}).map(([k, v]) => `${k.replace(/Ms$/, '')} ${(v / 1000).toFixed(2)} s`).join(', ');
    return [{
      title: `Compaction of one symbol-month of trades (${(trades / 1e6).toFixed(1)}M trades; the design's volume is ${DESIGN_TRADES / 1e6}M)`,
      columns: ['case', 'rows in', 'rows out', 'wall s', 'rows in/s', 'CPU s', 'rows in/CPU s', 'peak RSS MiB', 'cold B/trade'],
      rows: [
        row(`compactUnit (DuckDB, memory_limit ${MEMORY_LIMIT}, 2 threads), whole month`, full),
        row(`compactUnit, first ${(small.rowsOut / 1e6).toFixed(2)}M trades`, small),
        row('baseline: design 4.3 sketch (all rows as JS objects, sort, adjacent dedupe), same trades', naive),
      ],
      note: `${warm.objects} warm objects (${TRADING_DAYS} days x ${PARTS_PER_DAY} parts x ${AGENTS.length} agents; the second agent holds ${SECOND_AGENT_SHARE * 100}% `
        + `of the trades again), ${(warm.bytes / warm.rows).toFixed(1)} B/row warm, ${warm.reused ? `reused from ${storeDir}` : `written in ${generateSeconds.toFixed(1)} s`}. Each case runs in its own `
        + `process: peak RSS is its VmHWM and CPU its user+system time, DuckDB's threads included. compactUnit's time covers reading the sources from `
        + `the local store with SHA-256 and footer checks, dedupe + sort, writing and verifying the cold file, publishing it and tagging the sources `
        + `(whole month: ${phases}). The baseline holds every row as a JS object, so it runs on at most ${(BASELINE_MAX_TRADES / 1e6).toFixed(1)}M trades; `
        + `its adjacent dedupe would also miss copies that a same-time trade separates. 1-minute load average ${loadBefore.toFixed(1)} before, `
        + `${loadAfter.toFixed(1)} after, on ${cpus().length} cores shared with other work: wall-clock figures vary with it, CPU figures less.`,
    }];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[2] === CHILD_FLAG) {
  await child(process.argv.slice(3));
} else if (import.meta.filename === process.argv[1]) {
  const { renderText } = await import('./table.ts');
  for (const table of await runCompactionBench()) process.stdout.write(`${renderText(table)}\n`);
}

/**
 * Write-ahead log: durable append throughput for 100-byte records with group commit every 10 ms, and fsync
 * latency, beside the named baseline measured in the same run: fs.appendFileSync + fsyncSync per record.
 * Runs alone with `node bin/run-ts.js bench/wal.bench.ts`.
 */
import { appendFileSync, closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { percentile } from '../edge-agent/wal/latency-histogram.ts';
import { WalBackpressureError, openLog } from '../edge-agent/wal/write-ahead-log.ts';
import { type BenchTable, renderText } from './table.ts';

const PAYLOAD_BYTES = 100;
const WAL_RECORDS = 1_000_000;
const BATCH = 10_000;
const BASELINE_RECORDS = 2_000;
const FSYNC_INTERVAL_MS = 10;
const PACED_PER_SECOND = 50_000;
const PACED_RECORDS = 100_000;

interface Run {
  readonly records: number;
  readonly elapsedMs: number;
  /** Time spent inside the append calls, per record. */
  readonly appendUs: number;
  /** Append to durable, sampled. */
  readonly durableMs: readonly number[];
  readonly fsyncMs: readonly number[];
  readonly backpressure: number;
}

function payloadOf(i: number, into: Buffer): Buffer {
  into.writeUInt32LE(i, 0);
  return into;
}

async function walRun(dir: string): Promise<Run> {
  const samples: { seq: bigint; atMs: number }[] = [];
  const durableMs: number[] = [];
  let next = 0;
  const log = await openLog(dir, {
    fsyncIntervalMs: FSYNC_INTERVAL_MS,
    latencySamples: 100_000,
    onDurable: (seq) => {
      const now = performance.now();
      while (next < samples.length && samples[next]!.seq <= seq) durableMs.push(now - samples[next++]!.atMs);
    },
  });
  const payload = Buffer.alloc(PAYLOAD_BYTES, 0x5a);
  let appendNs = 0n;
  let backpressure = 0;
  const started = performance.now();
  for (let i = 0; i < WAL_RECORDS;) {
    const t0 = process.hrtime.bigint();
    const end = Math.min(WAL_RECORDS, i + BATCH);
    try {
      for (; i < end; i++) {
        const seq = log.append(payloadOf(i, payload));
        if (i % 1000 === 0) samples.push({ seq, atMs: performance.now() });
      }
    } catch (error) {
      if (!(error instanceof WalBackpressureError)) throw error;
      backpressure++;
    }
    appendNs += process.hrtime.bigint() - t0;
    await new Promise((resolveTick) => setImmediate(resolveTick));
  }
  await log.flush();
  const elapsedMs = performance.now() - started;
  const stats = log.stats();
  await log.close();
  return { records: WAL_RECORDS, elapsedMs, appendUs: Number(appendNs) / 1000 / WAL_RECORDS, durableMs, fsyncMs: stats.fsyncLatency.recentMs, backpressure };
}

/** Appends at a steady rate, as the agent does, to see how long a record waits to be durable. */
async function pacedRun(dir: string): Promise<Run> {
  const durableMs: number[] = [];
  const pending: { seq: bigint; atMs: number }[] = [];
  let next = 0;
  const log = await openLog(dir, {
    fsyncIntervalMs: FSYNC_INTERVAL_MS,
    latencySamples: 100_000,
    onDurable: (seq) => {
      const now = performance.now();
      while (next < pending.length && pending[next]!.seq <= seq) durableMs.push(now - pending[next++]!.atMs);
    },
  });
  const payload = Buffer.alloc(PAYLOAD_BYTES, 0x5a);
  let appendNs = 0n;
  let appended = 0;
  const started = performance.now();
  while (appended < PACED_RECORDS) {
    const due = Math.min(PACED_RECORDS, Math.floor(((performance.now() - started) * PACED_PER_SECOND) / 1000));
    const t0 = process.hrtime.bigint();
    for (; appended < due; appended++) {
      const seq = log.append(payloadOf(appended, payload));
      if (appended % 100 === 0) pending.push({ seq, atMs: performance.now() });
    }
    appendNs += process.hrtime.bigint() - t0;
    await new Promise((resolveTick) => setTimeout(resolveTick, 1));
  }
  await log.flush();
  const elapsedMs = performance.now() - started;
  const stats = log.stats();
  await log.close();
  return { records: PACED_RECORDS, elapsedMs, appendUs: Number(appendNs) / 1000 / PACED_RECORDS, durableMs, fsyncMs: stats.fsyncLatency.recentMs, backpressure: 0 };
}

/** The naive durable write: each record appended and fsynced before the next. */
function baselineRun(path: string): Run {
  const fd = openSync(path, 'a');
  const payload = Buffer.alloc(PAYLOAD_BYTES, 0x5a);
  const fsyncMs: number[] = [];
  const durableMs: number[] = [];
  const started = performance.now();
  try {
    for (let i = 0; i < BASELINE_RECORDS; i++) {
      const t0 = performance.now();
      appendFileSync(fd, payloadOf(i, payload));
      const t1 = performance.now();
      fsyncSync(fd);
      const t2 = performance.now();
      fsyncMs.push(t2 - t1);
      durableMs.push(t2 - t0);
    }
  } finally {
    closeSync(fd);
  }
  const elapsedMs = performance.now() - started;
  return { records: BASELINE_RECORDS, elapsedMs, appendUs: (elapsedMs * 1000) / BASELINE_RECORDS, durableMs, fsyncMs, backpressure: 0 };
}

function summary(values: readonly number[]): { p50: number; p99: number; max: number; mean: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? NaN, mean: sorted.reduce((s, v) => s + v, 0) / sorted.length };
}

export async function runWalBench(): Promise<BenchTable[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tv-bench-wal-'));
  try {
    const baseline = baselineRun(join(dir, 'baseline.log'));
    const wal = await walRun(join(dir, 'wal'));
    const paced = await pacedRun(join(dir, 'paced'));
    const pacedDurable = summary(paced.durableMs);
    const pacedFsync = summary(paced.fsyncMs);
    const rate = (r: Run) => (r.records / r.elapsedMs) * 1000;
    const mbps = (r: Run) => (r.records * PAYLOAD_BYTES) / r.elapsedMs / 1000;
    const walDurable = summary(wal.durableMs);
    const baseDurable = summary(baseline.durableMs);
    const walFsync = summary(wal.fsyncMs);
    const baseFsync = summary(baseline.fsyncMs);
    const throughput: BenchTable = {
      title: `Write-ahead log: durable appends of ${PAYLOAD_BYTES}-byte records`,
      columns: ['writer', 'records', 'records/s', 'payload MB/s', 'append µs/record', 'to durable p50 ms', 'to durable p99 ms', 'vs baseline'],
      rows: [
        [`tickvault WAL, group commit every ${FSYNC_INTERVAL_MS} ms`, wal.records, rate(wal), mbps(wal), wal.appendUs, walDurable.p50, walDurable.p99, `${(rate(wal) / rate(baseline)).toFixed(0)}x faster`],
        [`tickvault WAL, paced at ${PACED_PER_SECOND / 1000}K records/s`, paced.records, rate(paced), mbps(paced), paced.appendUs, pacedDurable.p50, pacedDurable.p99, ''],
        ['baseline: appendFileSync + fsyncSync per record', baseline.records, rate(baseline), mbps(baseline), baseline.appendUs, baseDurable.p50, baseDurable.p99, '1.0x'],
      ],
      note: `All in one run on ${tmpdir()}. Records/s counts from the first append to the last record durable; append µs is the time inside append() `
        + `(encode, CRC32C, copy); "to durable" is append to fdatasync done (flat out: every 1,000th record, while appends saturate the CPU; `
        + `paced: every 100th); ${wal.backpressure} backpressure refusals. The baseline is durable per record, as every WAL record is once its group commits.`,
    };
    const fsync: BenchTable = {
      title: 'Write-ahead log: fsync latency',
      columns: ['fsync of', 'count', 'p50 ms', 'p99 ms', 'max ms', 'mean ms'],
      rows: [
        ['WAL group commit, appends flat out', wal.fsyncMs.length, walFsync.p50, walFsync.p99, walFsync.max, walFsync.mean],
        [`WAL group commit, paced at ${PACED_PER_SECOND / 1000}K records/s`, paced.fsyncMs.length, pacedFsync.p50, pacedFsync.p99, pacedFsync.max, pacedFsync.mean],
        ['baseline: fsyncSync after each 100-byte append', baseline.fsyncMs.length, baseFsync.p50, baseFsync.p99, baseFsync.max, baseFsync.mean],
      ],
      note: `Bytes per fdatasync on average: flat out ${((wal.records * (PAYLOAD_BYTES + 16)) / wal.fsyncMs.length / 1024).toFixed(0)} KiB, `
        + `paced ${((paced.records * (PAYLOAD_BYTES + 16)) / paced.fsyncMs.length / 1024).toFixed(0)} KiB (100-byte payload + 16-byte header).`,
    };
    return [throughput, fsync];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Entry check: bin/run-ts.js removes the entry file from process.argv before importing it, so look at the command
 * line the kernel recorded (Linux); `node --import tsx bench/wal.bench.ts` keeps it in argv[1].
 */
function isEntry(): boolean {
  const self = resolve(import.meta.dirname, 'wal.bench.ts');
  if (process.argv[1] !== undefined && resolve(process.argv[1]) === self) return true;
  try {
    const cmdline = readFileSync('/proc/self/cmdline', 'utf8').split('\0');
    return cmdline.some((arg) => arg.endsWith('wal.bench.ts') && resolve(arg) === self);
  } catch {
    return false;
  }
}

if (isEntry()) {
  for (const table of await runWalBench()) process.stdout.write(`${renderText(table)}\n\n`);
}

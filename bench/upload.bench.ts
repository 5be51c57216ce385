/**
 * Upload throughput of the uploader: warm-sized files (many of 64 KiB, a few of 20 MiB, random bytes) from a warm
 * directory and ledger to the local Swift (S3 API on loopback) at concurrency 1, the named baseline, and 4; and to
 * the local-directory store. Each run is the steady state: files are sealed into the ledger and notified, and the
 * clock stops when drain reports everything uploaded, verified (HEAD) and in the day's manifest.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { warmFilePath } from '../core/layout.ts';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import type { ObjectStore } from '../core/object-store/object-store.ts';
import { S3ObjectStore } from '../core/object-store/s3-store.ts';
import { silentLog } from '../edge-agent/log.ts';
import { Uploader } from '../edge-agent/sync/uploader.ts';
import { type SealedEntry, WarmLedger } from '../edge-agent/warm/warm-ledger.ts';
import { s3ServerAvailability, startS3Server } from '../test/support/s3-server.ts';
import type { BenchTable } from './table.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const SMALL = { count: 200, bytes: 64 * KiB };
const LARGE = { count: 3, bytes: 20 * MiB };
const SYMBOLS = ['AAPL', 'MSFT', 'SPY', 'NVDA', 'BTC/USD'];

interface BenchFile {
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly symbol: string;
  readonly part: number;
}

/** Writes the files once; each run gets its own ledger over them. */
function makeFiles(warmDir: string, set: string, count: number, bytes: number, date: string): BenchFile[] {
  const files: BenchFile[] = [];
  for (let i = 0; i < count; i++) {
    const symbol = SYMBOLS[i % SYMBOLS.length]!;
    const part = Math.floor(i / SYMBOLS.length);
    const path = warmFilePath({ dataset: 'trades', date, symbol, part });
    const body = randomBytes(bytes);
    mkdirSync(dirname(join(warmDir, path)), { recursive: true });
    writeFileSync(join(warmDir, path), body);
    files.push({ path, bytes, sha256: createHash('sha256').update(body).digest('base64'), symbol, part });
  }
  if (files.length === 0) throw new Error(`no files in set ${set}`);
  return files;
}

/** Seconds from the first notify to a complete drain. */
async function timeUpload(store: ObjectStore, warmDir: string, ledgerPath: string, files: readonly BenchFile[], concurrency: number, agentId: string): Promise<number> {
  rmSync(ledgerPath, { force: true });
  const ledger = WarmLedger.open(ledgerPath);
  const uploader = new Uploader({ store, ledger, warmDir, agentId, concurrency, log: silentLog, manifestIntervalMs: 1_000 });
  uploader.start();
  const started = process.hrtime.bigint();
  const now = Date.now();
  for (const [i, f] of files.entries()) {
    const date = f.path.slice('trades/date='.length, 'trades/date='.length + 10);
    const entry: SealedEntry = {
      type: 'sealed', path: f.path, dataset: 'trades', date, symbol: f.symbol, part: f.part, rows: Math.floor(f.bytes / 20),
      bytes: f.bytes, minTsNs: '0', maxTsNs: '1', sha256: f.sha256, schemaVersion: 1, sealedAtMs: now + i,
    };
    ledger.record(entry);
    uploader.notify(f.path);
  }
  const result = await uploader.drain(300_000);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await uploader.stop();
  ledger.close();
  if (!result.complete) throw new Error(`upload bench: drain incomplete (${JSON.stringify(result.backlog)})`);
  return seconds;
}

export async function runUploadBench(): Promise<BenchTable[]> {
  const load = loadavg()[0] ?? 0;
  const root = mkdtempSync(join(tmpdir(), 'tickvault-upload-bench-'));
  const warmDir = join(root, 'warm');
  const small = makeFiles(warmDir, 'small', SMALL.count, SMALL.bytes, '2024-07-01');
  const large = makeFiles(warmDir, 'large', LARGE.count, LARGE.bytes, '2024-07-02');
  const sets = [
    { name: `${SMALL.count} × 64 KiB`, files: small },
    { name: `${LARGE.count} × 20 MiB`, files: large },
  ];
  const rows: (string | number)[][] = [];
  const baseline = new Map<string, number>();
  let runs = 0;
  const measure = async (storeName: string, store: ObjectStore, concurrency: number): Promise<void> => {
    for (const set of sets) {
      const seconds = await timeUpload(store, warmDir, join(root, `ledger-${++runs}.jsonl`), set.files, concurrency, `bench-${runs}`);
      const mb = set.files.reduce((sum, f) => sum + f.bytes, 0) / 1e6;
      const filesPerSecond = set.files.length / seconds;
      if (storeName.startsWith('S3') && concurrency === 1) baseline.set(set.name, filesPerSecond);
      const base = baseline.get(set.name);
      rows.push([
        `${storeName}, concurrency ${concurrency}${storeName.startsWith('S3') && concurrency === 1 ? ' (baseline)' : ''}`,
        set.name, seconds, filesPerSecond, mb / seconds, base === undefined ? '–' : `${(filesPerSecond / base).toFixed(2)}×`,
      ]);
    }
  };

  let swiftNote = '';
  const swift = s3ServerAvailability();
  try {
    if (swift.available) {
      const server = await startS3Server();
      const client = server.createClient();
      try {
        for (const concurrency of [1, 4]) {
          const bucket = `upload-bench-${concurrency}`;
          await server.createBucket(bucket);
          await measure('S3 (local Swift)', new S3ObjectStore({ client, bucket }), concurrency);
        }
      } finally {
        client.destroy();
        await server.stop();
      }
    } else {
      swiftNote = ` S3 rows skipped: ${swift.reason}.`;
    }
    for (const concurrency of [1, 4]) {
      await measure('local directory', new LocalDirectoryStore(join(root, `store-${concurrency}`)), concurrency);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }

  return [{
    title: 'Upload: sealed warm files to the object store (uploader, verified, with manifests)',
    columns: ['store', 'files', 'seconds', 'files/s', 'MB/s', 'files/s vs baseline'],
    rows,
    note:
      'Each file: local SHA-256 check, PUT with Content-MD5 (20 MiB files: multipart, 8 MiB parts), HEAD to verify, ' +
      'ledger fsync; then the day\'s manifest. Baseline: S3 at concurrency 1, same run. The S3 server is a ' +
      'single-node OpenStack Swift on loopback sharing this 2-core machine with the uploader: slow (its notes say about ' +
      '10 MB/s and 100 PUT/s) and several-fold slower again when the machine is busy, so these are figures for this ' +
      `setup, not for AWS S3. Load average at start: ${load.toFixed(1)}.${swiftNote}`,
  }];
}

/**
 * The uploader on real parts: a real Swift (S3 API) on loopback behind a fault-injecting proxy, the local-directory
 * store, a real warm ledger on disk, and for restarts a child process killed with SIGKILL.
 *
 * The outage window of the delivery test lasts TICKVAULT_OUTAGE_SECONDS (default 10); the five-minute
 * version is `TICKVAULT_OUTAGE_SECONDS=300 npx vitest run test/uploader.test.ts -t outage`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetName } from '../core/datasets.ts';
import { parseWarmManifestKey, warmFilePath, warmManifestKey, warmObjectKey } from '../core/layout.ts';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import type { ObjectInfo, ObjectStore, PutOptions } from '../core/object-store/object-store.ts';
import { S3ObjectStore } from '../core/object-store/s3-store.ts';
import type { LogLevel } from '../edge-agent/log.ts';
import { s3IncompleteUploadJanitor } from '../edge-agent/sync/multipart-janitor.ts';
import { type UploadBacklog, Uploader, type UploaderEvent, type UploaderOptions } from '../edge-agent/sync/uploader.ts';
import { listWarmManifests, readWarmManifest } from '../edge-agent/sync/warm-manifest.ts';
import { type SealedEntry, WarmLedger } from '../edge-agent/warm/warm-ledger.ts';
import { FAULT_KINDS, FaultProxy, type FaultProxyOptions } from './support/fault-proxy.ts';
import { type S3TestServer, s3ServerAvailability, startS3Server } from './support/s3-server.ts';
import { seededRandom } from '../edge-agent/simulator/prng.ts';

const swift = s3ServerAvailability();
if (!swift.available) console.warn(`uploader.test.ts: S3 tests SKIPPED: ${swift.reason}`);

const MiB = 1024 * 1024;
const LARGE_BYTES = 20 * MiB; // over the 16 MiB multipart threshold: three parts
const OUTAGE_MS = Number(process.env['TICKVAULT_OUTAGE_SECONDS'] ?? '10') * 1000;
const AGENT = 'edge-test-1';
const REPO = join(import.meta.dirname, '..');

// ---------------------------------------------------------------------------------------------------- fixtures

const scratch: string[] = [];
afterAll(async () => {
  await Promise.all(scratch.map((d) => rm(d, { recursive: true, force: true })));
});

async function scratchDir(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `tickvault-${name}-`));
  scratch.push(dir);
  return dir;
}

const SYMBOLS = ['AAPL', 'MSFT', 'BTC/USD'] as const;
const DATASETS: DatasetName[] = ['trades', 'quotes'];
const DATES = ['2024-07-01', '2024-07-02'] as const;

/** A data directory with a warm directory and ledger, and files sealed into it the way the warm writer does. */
class WarmFixture {
  readonly warmDir: string;
  readonly ledgerPath: string;
  ledger: WarmLedger;
  /** Every file ever sealed, by ledger path, with its bytes at sealing. */
  readonly files = new Map<string, { entry: SealedEntry; bytes: Buffer }>();
  private readonly parts = new Map<string, number>();
  private lastSealedAtMs = 0;
  private count = 0;

  constructor(readonly dataDir: string) {
    this.warmDir = join(dataDir, 'warm');
    this.ledgerPath = join(dataDir, 'warm-ledger.jsonl');
    mkdirSync(this.warmDir, { recursive: true });
    this.ledger = WarmLedger.open(this.ledgerPath);
  }

  static async create(name: string): Promise<WarmFixture> {
    return new WarmFixture(await scratchDir(name));
  }

  /** Seals one file of random bytes; without a spec, cycles through datasets, dates and symbols. */
  seal(bytes: number, spec: { dataset?: DatasetName; date?: string; symbol?: string } = {}): SealedEntry {
    const n = this.count++;
    const dataset = spec.dataset ?? DATASETS[n % DATASETS.length]!;
    const date = spec.date ?? DATES[Math.floor(n / 2) % DATES.length]!;
    const symbol = spec.symbol ?? SYMBOLS[Math.floor(n / 4) % SYMBOLS.length]!;
    const partition = `${dataset}/${date}/${symbol}`;
    const part = this.parts.get(partition) ?? 0;
    this.parts.set(partition, part + 1);
    const path = warmFilePath({ dataset, date, symbol, part });
    const body = randomBytes(bytes);
    const abs = join(this.warmDir, path);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, body);
    // Strictly increasing seal times, so "oldest first" has one answer.
    this.lastSealedAtMs = Math.max(Date.now(), this.lastSealedAtMs + 1);
    const minTs = BigInt(Date.parse(`${date}T13:30:00Z`)) * 1_000_000n + BigInt(n);
    const entry: SealedEntry = {
      type: 'sealed', path, dataset, date, symbol, part, rows: Math.max(1, Math.floor(bytes / 40)), bytes,
      minTsNs: minTs.toString(), maxTsNs: (minTs + 1_000_000_000n).toString(),
      sha256: createHash('sha256').update(body).digest('base64'), schemaVersion: 1, sealedAtMs: this.lastSealedAtMs,
    };
    this.ledger.record(entry);
    this.files.set(path, { entry, bytes: body });
    return entry;
  }

  reopenLedger(): WarmLedger {
    this.ledger.close();
    this.ledger = WarmLedger.open(this.ledgerPath);
    return this.ledger;
  }

  keyOf(path: string): string {
    const { entry } = this.files.get(path)!;
    return warmObjectKey({ dataset: entry.dataset, date: entry.date, symbol: entry.symbol, part: entry.part }, AGENT);
  }
}

interface LogLine {
  readonly level: LogLevel;
  readonly msg: string;
  readonly fields: Record<string, unknown>;
}

function capture(): { lines: LogLine[]; log: UploaderOptions['log'] } {
  const lines: LogLine[] = [];
  return { lines, log: (level, msg, fields) => lines.push({ level, msg, fields: fields ?? {} }) };
}

async function keysOf(store: ObjectStore, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(prefix)) keys.push(info.key);
  return keys.sort();
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

async function until(what: string, condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * The end state every delivery must reach: the store holds exactly one object per delivered file, at its key, with
 * its bytes, plus one manifest per dataset-day naming exactly that day's objects; the ledger says uploaded, with
 * the same keys; nothing else is in the store.
 */
async function expectDelivered(fixture: WarmFixture, store: ObjectStore, delivered: readonly string[]): Promise<void> {
  const expectedData = delivered.map((p) => fixture.keyOf(p));
  const days = new Map<string, { dataset: DatasetName; date: string; keys: string[] }>();
  for (const path of delivered) {
    const { entry } = fixture.files.get(path)!;
    const id = `${entry.dataset} ${entry.date}`;
    const day = days.get(id) ?? { dataset: entry.dataset, date: entry.date, keys: [] };
    day.keys.push(fixture.keyOf(path));
    days.set(id, day);
  }
  const expectedManifests = [...days.values()].map((d) => warmManifestKey(d.dataset, d.date, AGENT));
  expect(await keysOf(store)).toEqual([...expectedData, ...expectedManifests].sort());

  for (const path of delivered) {
    const got = await store.get(fixture.keyOf(path));
    expect(Buffer.from(got).equals(fixture.files.get(path)!.bytes), `bytes of ${path}`).toBe(true);
  }
  for (const day of days.values()) {
    const manifest = await readWarmManifest(store, day.dataset, day.date, AGENT);
    expect(manifest?.objects.map((o) => o.key)).toEqual([...day.keys].sort());
    for (const o of manifest?.objects ?? []) {
      const { entry } = fixture.files.get(warmFilePathOfKey(o.key))!;
      expect(o).toEqual({
        key: o.key, symbol: entry.symbol, part: entry.part, rows: entry.rows, bytes: entry.bytes,
        minTsNs: entry.minTsNs, maxTsNs: entry.maxTsNs, sha256: entry.sha256, schemaVersion: entry.schemaVersion,
      });
    }
  }
  const months = new Set([...days.values()].map((d) => `${d.dataset} ${d.date.slice(0, 7)}`));
  const listed: string[] = [];
  for (const m of months) {
    const [dataset, month] = m.split(' ') as [DatasetName, string];
    listed.push(...(await listWarmManifests(store, dataset, month)).map((r) => r.key));
  }
  expect(listed.sort()).toEqual([...expectedManifests].sort());

  const ledger = WarmLedger.open(fixture.ledgerPath);
  try {
    for (const path of delivered) expect(ledger.get(path)?.uploaded?.key, path).toBe(fixture.keyOf(path));
    expect(ledger.pendingUpload()).toEqual([]);
  } finally {
    ledger.close();
  }
}

function warmFilePathOfKey(key: string): string {
  // warm/<root>/date=…/symbol=…/part-NNNNN-<agent>.parquet → <root>/date=…/symbol=…/part-NNNNN.parquet
  return key.slice('warm/'.length).replace(new RegExp(`-${AGENT}\\.parquet$`), '.parquet');
}

/** Every version of every manifest written must name only objects already in the store: checked as they appear. */
function manifestWatcher(store: ObjectStore): { onEvent: (e: UploaderEvent) => void; check: () => Promise<void> } {
  const checks: Promise<string[]>[] = [];
  return {
    onEvent: (e) => {
      if (e.type !== 'manifest-written') return;
      const parsed = parseWarmManifestKey(e.key)!;
      checks.push(
        (async () => {
          const manifest = await readWarmManifest(store, parsed.dataset, parsed.date, parsed.agentId);
          const missing: string[] = [];
          for (const o of manifest?.objects ?? []) {
            const info = await store.head(o.key);
            if (info?.sizeBytes !== o.bytes || info.metadata?.['sha256'] !== o.sha256) missing.push(o.key);
          }
          return missing;
        })(),
      );
    },
    check: async () => {
      expect(checks.length).toBeGreaterThan(0);
      expect((await Promise.all(checks)).flat()).toEqual([]);
    },
  };
}

/** A store in front of another that fails like a network does: before the request (nothing stored) or after it (stored, answer lost). */
class FlakyStore implements ObjectStore {
  readonly description: string;
  down = false;
  faults = { before: 0, after: 0, down: 0 };
  private readonly random: () => number;

  constructor(
    private readonly inner: ObjectStore,
    private readonly rate: number,
    seed: number,
  ) {
    this.description = `flaky(${inner.description})`;
    this.random = seededRandom(seed);
  }

  private async run<T>(op: () => Promise<T>): Promise<T> {
    if (this.down) {
      this.faults.down++;
      throw Object.assign(new Error('connect ECONNREFUSED (flaky store is down)'), { code: 'ECONNREFUSED' });
    }
    const draw = this.random();
    if (draw < this.rate / 2) {
      this.faults.before++;
      throw Object.assign(new Error('read ECONNRESET (before)'), { code: 'ECONNRESET' });
    }
    const result = await op();
    if (draw < this.rate) {
      this.faults.after++;
      throw Object.assign(new Error('read ECONNRESET (after the store did it)'), { code: 'ECONNRESET' });
    }
    return result;
  }

  putTags(key: string, tags: Record<string, string>): Promise<void> {
    return this.run(() => this.inner.putTags(key, tags));
  }

  getTags(key: string): Promise<Record<string, string>> {
    return this.run(() => this.inner.getTags(key));
  }

  put(key: string, body: Uint8Array, options?: PutOptions): Promise<void> {
    return this.run(() => this.inner.put(key, body, options));
  }
  putFile(key: string, filePath: string, options?: PutOptions): Promise<void> {
    return this.run(() => this.inner.putFile(key, filePath, options));
  }
  get(key: string): Promise<Uint8Array> {
    return this.run(() => this.inner.get(key));
  }
  head(key: string): Promise<ObjectInfo | undefined> {
    return this.run(() => this.inner.head(key));
  }
  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }
  delete(key: string): Promise<void> {
    return this.run(() => this.inner.delete(key));
  }
}

const FAST: Pick<UploaderOptions, 'initialBackoffMs' | 'maxBackoffMs' | 'requestTimeoutMs' | 'manifestIntervalMs'> = {
  initialBackoffMs: 50,
  maxBackoffMs: 1_000,
  requestTimeoutMs: 10_000,
  manifestIntervalMs: 500,
};

interface DeliveryScenario {
  readonly fixture: WarmFixture;
  /** The store the uploader writes through (faulty). */
  readonly store: ObjectStore;
  /** The same bucket or directory, reached directly, for checking. */
  readonly direct: ObjectStore;
  readonly setOutage: (on: boolean, phase: number) => Promise<void>;
  readonly extra?: Partial<UploaderOptions>;
}

/**
 * Seals a backlog, starts uploading, takes the store away for OUTAGE_MS while more files (one large) are sealed,
 * brings it back and drains. Returns what the checks need.
 */
async function runDelivery(s: DeliveryScenario): Promise<{ lines: LogLine[]; events: UploaderEvent[]; backlogs: UploadBacklog[]; elapsedMs: number }> {
  const started = Date.now();
  const { fixture } = s;
  for (let i = 0; i < 24; i++) fixture.seal(2_000 + ((i * 7919) % 60_000));
  fixture.seal(LARGE_BYTES);
  const { lines, log } = capture();
  const events: UploaderEvent[] = [];
  const watcher = manifestWatcher(s.direct);
  const uploader = new Uploader({
    store: s.store, ledger: fixture.ledger, warmDir: fixture.warmDir, agentId: AGENT, concurrency: 4, log,
    ...FAST, ...s.extra,
    onEvent: (e) => {
      events.push(e);
      watcher.onEvent(e);
    },
  });
  uploader.start();
  await until('the first uploads', () => uploader.stats.filesUploaded >= 6, 120_000);

  // The outage: the writer keeps sealing files, the backlog grows, the uploader keeps probing.
  await s.setOutage(true, 0);
  const backlogs: UploadBacklog[] = [uploader.backlog()];
  for (let round = 0; round < 4; round++) {
    if (round === 2) await s.setOutage(true, 1);
    for (let i = 0; i < 3; i++) uploader.notify(fixture.seal(3_000 + round * 1_000 + i).path);
    if (round === 1) uploader.notify(fixture.seal(LARGE_BYTES).path);
    await sleep(OUTAGE_MS / 4);
    backlogs.push(uploader.backlog());
  }
  await s.setOutage(false, 2);

  const result = await uploader.drain(240_000 + OUTAGE_MS);
  await uploader.stop();
  expect(result).toMatchObject({ complete: true, parked: [] });
  expect(result.backlog).toMatchObject({ files: 0, bytes: 0, inFlight: 0 });
  await watcher.check();
  await expectDelivered(fixture, s.direct, [...fixture.files.keys()]);

  // During the outage the backlog grew in files and bytes, and its oldest file got older. (An upload already in
  // flight when the outage began may still land, so the first step may not grow; after it, nothing leaves.)
  for (let i = 2; i < backlogs.length; i++) {
    expect(backlogs[i]!.files).toBeGreaterThan(backlogs[i - 1]!.files);
    expect(backlogs[i]!.bytes).toBeGreaterThan(backlogs[i - 1]!.bytes);
    expect(backlogs[i]!.oldestAgeMs).toBeGreaterThanOrEqual(backlogs[i - 1]!.oldestAgeMs);
  }
  expect(backlogs.at(-1)!.files).toBeGreaterThan(backlogs[0]!.files);
  // Retries back off, and never beyond the cap.
  const retries = events.filter((e) => e.type === 'attempt-failed');
  expect(retries.length).toBeGreaterThan(0);
  for (const r of retries) expect(r.retryInMs).toBeLessThanOrEqual(FAST.maxBackoffMs!);
  // Each kind of failure is logged at most once per minute.
  const elapsedMs = Date.now() - started;
  const perKind = new Map<string, number>();
  for (const line of lines) {
    if (line.msg.startsWith('upload attempt failed')) perKind.set(String(line.fields['kind']), (perKind.get(String(line.fields['kind'])) ?? 0) + 1);
  }
  for (const [kind, n] of perKind) expect(n, kind).toBeLessThanOrEqual(Math.ceil(elapsedMs / 60_000) + 1);
  expect(lines.filter((l) => l.level === 'error')).toEqual([]);
  return { lines, events, backlogs, elapsedMs };
}

// ---------------------------------------------------------------------------------------------------- local store

describe('uploader on the local-directory store', () => {
  it('delivers every file once, byte-equal, through 20% failures (half after the store did the work) and an outage', { timeout: 120_000 + 3 * OUTAGE_MS }, async () => {
    const fixture = await WarmFixture.create('upl-local');
    const storeDir = await scratchDir('upl-local-store');
    const direct = new LocalDirectoryStore(storeDir);
    const flaky = new FlakyStore(direct, 0.2, 7);
    const { events } = await runDelivery({
      fixture, store: flaky, direct,
      setOutage: async (on) => {
        flaky.down = on;
      },
    });
    expect(flaky.faults.before).toBeGreaterThan(0);
    expect(flaky.faults.after).toBeGreaterThan(0);
    expect(flaky.faults.down).toBeGreaterThan(0);
    // An answer lost after the store did the work is found on the retry's first look, not uploaded again.
    expect(events.some((e) => e.type === 'uploaded' && e.alreadyInStore)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------- S3 on Swift

describe.skipIf(!swift.available)('uploader on S3 (Swift) behind a fault proxy', () => {
  let server: S3TestServer;
  let direct: S3Client;
  let buckets = 0;
  const proxies: FaultProxy[] = [];
  const clients: S3Client[] = [];

  beforeAll(async () => {
    server = await startS3Server();
    console.info(`Swift started in ${server.startupMs} ms at ${server.endpoint}`);
    direct = server.createClient();
  });
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await Promise.all(proxies.map((p) => p.close()));
    direct?.destroy();
    await server?.stop();
  });

  /** A fresh bucket, a proxy in front of Swift, a store through the proxy and one straight to Swift. */
  async function setup(proxyOptions: Omit<FaultProxyOptions, 'upstream'> = {}): Promise<{
    bucket: string; proxy: FaultProxy; store: S3ObjectStore; directStore: S3ObjectStore; client: S3Client;
  }> {
    const bucket = `uploads-${++buckets}`;
    await server.createBucket(bucket);
    const proxy = await FaultProxy.start({ upstream: server.endpoint, ...proxyOptions });
    proxies.push(proxy);
    const client = proxiedClient(proxy.endpoint);
    return { bucket, proxy, client, store: new S3ObjectStore({ client, bucket }), directStore: new S3ObjectStore({ client: direct, bucket }) };
  }

  function proxiedClient(endpoint: string): S3Client {
    const client = new S3Client({
      endpoint,
      region: server.region,
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { requestTimeout: 4_000, throwOnRequestTimeout: true, connectionTimeout: 2_000 },
      // No SDK retries: every fault reaches the uploader.
      maxAttempts: 1,
    });
    clients.push(client);
    return client;
  }

  async function incompleteUploads(bucket: string): Promise<string[]> {
    const out = await direct.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    return (out.Uploads ?? []).map((u) => u.Key ?? '?');
  }

  it('retries a PUT whose answer was lost after the store kept it: one object, same key, same bytes', { timeout: 120_000 }, async () => {
    const { bucket, proxy, client, store, directStore } = await setup();
    const fixture = await WarmFixture.create('upl-reset-after');
    const small = fixture.seal(50_000);
    const large = fixture.seal(LARGE_BYTES);
    const smallKey = fixture.keyOf(small.path);
    const largeKey = fixture.keyOf(large.path);
    proxy.scheduleFault('reset-after', (r) => r.operation === 'PutObject' && r.key === smallKey);
    proxy.scheduleFault('reset-after', (r) => r.operation === 'CompleteMultipartUpload' && r.key === largeKey);
    const events: UploaderEvent[] = [];
    const { lines, log } = capture();
    const uploader = new Uploader({
      store, ledger: fixture.ledger, warmDir: fixture.warmDir, agentId: AGENT, log, ...FAST,
      janitor: s3IncompleteUploadJanitor({ client, bucket }), onEvent: (e) => events.push(e),
    });
    const result = await uploader.drain(90_000);
    await uploader.stop();
    expect(result.complete).toBe(true);
    expect(proxy.counts['reset-after']).toBe(2);
    await expectDelivered(fixture, directStore, [small.path, large.path]);
    expect(await incompleteUploads(bucket)).toEqual([]);
    // The retry looked first, found the object, and did not send it again.
    const uploaded = events.filter((e) => e.type === 'uploaded');
    expect(uploaded).toEqual(expect.arrayContaining([
      expect.objectContaining({ path: small.path, key: smallKey, attempts: 2, alreadyInStore: true }),
      expect.objectContaining({ path: large.path, key: largeKey, attempts: 2, alreadyInStore: true }),
    ]));
    expect(proxy.records.filter((r) => r.operation === 'PutObject' && r.key === smallKey)).toHaveLength(1);
    expect(proxy.records.filter((r) => r.operation === 'CreateMultipartUpload' && r.key === largeKey)).toHaveLength(1);
    // Nothing but the two objects and their manifests was ever written.
    const written = new Set(proxy.records.filter((r) => ['PutObject', 'CreateMultipartUpload'].includes(r.operation)).map((r) => r.key));
    expect([...written].sort()).toEqual(
      [smallKey, largeKey, warmManifestKey(small.dataset, small.date, AGENT), warmManifestKey(large.dataset, large.date, AGENT)].sort(),
    );
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('delivers every file once, byte-equal, through ~20% mixed faults and an outage', { timeout: 300_000 + 3 * OUTAGE_MS }, async () => {
    const { bucket, proxy, client, store, directStore } = await setup({ seed: 20_240_701, faultRate: 0.2 });
    const fixture = await WarmFixture.create('upl-faults');
    // Besides the random 20%: every kind at least once, and the multipart requests hit for sure.
    for (const kind of FAULT_KINDS) proxy.scheduleFault(kind, (r) => r.operation === 'PutObject');
    proxy.scheduleFault('reset-after', (r) => r.operation === 'UploadPart');
    proxy.scheduleFault('slow-down', (r) => r.operation === 'CompleteMultipartUpload');
    proxy.scheduleFault('reset-before', (r) => r.operation === 'CreateMultipartUpload');
    const { events } = await runDelivery({
      fixture, store, direct: directStore,
      extra: { janitor: s3IncompleteUploadJanitor({ client, bucket }) },
      setOutage: async (on, phase) => {
        // First half: every connection reset; second half: the port closed.
        await proxy.setOutage(on ? (phase === 0 ? 'reset' : 'refuse') : false);
      },
    });
    expect(await incompleteUploads(bucket)).toEqual([]);
    const faults = FAULT_KINDS.reduce((sum, k) => sum + proxy.counts[k], 0);
    console.info(`fault proxy: ${proxy.counts.requests} requests, ${faults} faulted, ${proxy.counts.outage} during the outage`, proxy.counts);
    expect(faults / proxy.counts.requests).toBeGreaterThan(0.1);
    for (const kind of FAULT_KINDS) expect(proxy.counts[kind], kind).toBeGreaterThan(0);
    expect(proxy.counts.outage).toBeGreaterThan(0);
    for (const op of ['UploadPart', 'CompleteMultipartUpload', 'CreateMultipartUpload'] as const) {
      expect(proxy.records.some((r) => r.operation === op && r.action !== 'forwarded' && r.action !== 'outage'), op).toBe(true);
    }
    expect(events.filter((e) => e.type === 'uploaded')).toHaveLength(fixture.files.size);
  });

  it('quarantines a file changed on disk after sealing and never uploads it; a missing file is reported, not fatal', { timeout: 120_000 }, async () => {
    const { directStore } = await setup();
    const fixture = await WarmFixture.create('upl-quarantine');
    const good = fixture.seal(10_000);
    const flipped = fixture.seal(10_000);
    const shortened = fixture.seal(10_000);
    const missing = fixture.seal(10_000);
    const flippedLarge = fixture.seal(LARGE_BYTES);
    const flipByte = async (path: string, at: number): Promise<void> => {
      const abs = join(fixture.warmDir, path);
      const bytes = await readFile(abs);
      bytes[at] = bytes[at]! ^ 0xff;
      await writeFile(abs, bytes);
    };
    await flipByte(flipped.path, 1234);
    await truncate(join(fixture.warmDir, shortened.path), 9_000);
    await unlink(join(fixture.warmDir, missing.path));
    await flipByte(flippedLarge.path, 17 * MiB);

    const events: UploaderEvent[] = [];
    const { lines, log } = capture();
    const uploader = new Uploader({
      store: directStore, ledger: fixture.ledger, warmDir: fixture.warmDir, agentId: AGENT, log, ...FAST, onEvent: (e) => events.push(e),
    });
    const result = await uploader.drain(60_000);
    await uploader.stop();
    expect(result.complete).toBe(true);
    expect(await keysOf(directStore)).toEqual([fixture.keyOf(good.path), warmManifestKey(good.dataset, good.date, AGENT)].sort());
    expect(Buffer.from(await directStore.get(fixture.keyOf(good.path))).equals(fixture.files.get(good.path)!.bytes)).toBe(true);

    const ledger = fixture.reopenLedger();
    const reasonOf = (p: string): string | undefined => (ledger.get(p)?.removed?.type === 'quarantined' ? ledger.get(p)?.removed?.reason : undefined);
    expect(reasonOf(flipped.path)).toMatch(/^sha256 changed on disk/);
    expect(reasonOf(shortened.path)).toBe('size changed on disk: 9000 bytes, ledger says 10000');
    expect(reasonOf(missing.path)).toBe('missing');
    expect(reasonOf(flippedLarge.path)).toMatch(/^sha256 changed on disk/);
    expect(ledger.get(good.path)?.uploaded?.key).toBe(fixture.keyOf(good.path));
    expect(ledger.pendingUpload()).toEqual([]);
    // Moved out of the warm directory into quarantine/, beside it; the bytes kept for a look.
    for (const p of [flipped.path, shortened.path, flippedLarge.path]) {
      expect(existsSync(join(fixture.warmDir, p)), p).toBe(false);
      expect(existsSync(join(fixture.dataDir, 'quarantine', p)), p).toBe(true);
    }
    const reported = lines.filter((l) => l.level === 'error').map((l) => l.fields['file']);
    expect(reported.sort()).toEqual([flipped.path, shortened.path, missing.path, flippedLarge.path].sort());
    expect(events.filter((e) => e.type === 'quarantined')).toHaveLength(4);
  });

  it('reports a growing backlog while the store is away and drains it oldest first when it returns', { timeout: 120_000 }, async () => {
    const { proxy, store, directStore } = await setup();
    const fixture = await WarmFixture.create('upl-backlog');
    const events: UploaderEvent[] = [];
    const { lines, log } = capture();
    await proxy.setOutage('hang');
    const uploader = new Uploader({
      store, ledger: fixture.ledger, warmDir: fixture.warmDir, agentId: AGENT, concurrency: 1, log, ...FAST,
      requestTimeoutMs: 1_500, onEvent: (e) => events.push(e),
    });
    uploader.start();
    const backlogs: UploadBacklog[] = [];
    const sealed: string[] = [];
    for (let i = 0; i < 10; i++) {
      const entry = fixture.seal(5_000 + i * 100);
      sealed.push(entry.path);
      uploader.notify(entry.path);
      await sleep(300);
      backlogs.push(uploader.backlog());
    }
    await until('failed attempts during the outage', () => events.filter((e) => e.type === 'attempt-failed').length >= 3);
    expect(backlogs.map((b) => b.files)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (let i = 1; i < backlogs.length; i++) {
      expect(backlogs[i]!.bytes).toBe(backlogs[i - 1]!.bytes + 5_000 + i * 100);
      expect(backlogs[i]!.oldestAgeMs).toBeGreaterThan(backlogs[i - 1]!.oldestAgeMs);
    }
    expect(events.filter((e) => e.type === 'uploaded')).toEqual([]);

    await proxy.setOutage(false);
    const result = await uploader.drain(60_000);
    await uploader.stop();
    expect(result.complete).toBe(true);
    expect(events.filter((e) => e.type === 'uploaded').map((e) => (e as { path: string }).path)).toEqual(sealed);
    await expectDelivered(fixture, directStore, sealed);
    // Many failed attempts, one log line for their kind; and one line when the store came back.
    const failures = events.filter((e) => e.type === 'attempt-failed');
    expect(new Set(failures.map((e) => (e as { kind: string }).kind))).toEqual(new Set(['timeout']));
    expect(lines.filter((l) => l.msg.startsWith('upload attempt failed'))).toHaveLength(1);
    expect(lines.filter((l) => l.msg.startsWith('store reachable again'))).toHaveLength(1);
  });

  it('survives SIGKILL mid-upload and restarts: every file in the store exactly once, byte-equal, under one key', { timeout: 600_000 }, async () => {
    for (const seed of [101, 202, 303]) {
      const { bucket, proxy, directStore } = await setup({ seed, faultRate: 0.05 });
      const fixture = await WarmFixture.create(`upl-crash-${seed}`);
      for (let i = 0; i < 30; i++) {
        fixture.seal(4_000 + ((i * 104_729) % 40_000));
        if (i === 10) fixture.seal(LARGE_BYTES);
      }
      fixture.ledger.close();
      const random = seededRandom(seed);
      let kills = 0;
      let runs = 0;
      const seen = { foundInStore: 0, multipartAborted: 0 };
      for (;;) {
        runs++;
        expect(runs, `seed ${seed}: runs`).toBeLessThanOrEqual(15);
        // Killed after 1..5 uploads and 0..400 ms more (mid-upload, often mid-multipart), four times; then left to finish.
        const killAfter = kills < 4 ? 1 + Math.floor(random() * 5) : Infinity;
        const killDelayMs = Math.floor(random() * 400);
        const outcome = await runChild(fixture.dataDir, proxy.endpoint, bucket, killAfter, killDelayMs, seen);
        if (outcome.signal === 'SIGKILL') {
          kills++;
          continue;
        }
        expect(outcome.code, `seed ${seed}: child exit\n${outcome.stderrTail}`).toBe(0);
        break;
      }
      expect(kills, `seed ${seed}`).toBeGreaterThanOrEqual(1);
      await expectDelivered(fixture, directStore, [...fixture.files.keys()]);
      expect(await incompleteUploads(bucket)).toEqual([]);
      // How the kills landed: objects stored but not yet in the ledger, multipart uploads cut off mid-way.
      console.info(
        `restart test, seed ${seed}: ${kills} kills, ${runs} runs, ${proxy.counts.requests} requests, ` +
          `${seen.foundInStore} files found already stored, ${seen.multipartAborted} multipart leftovers aborted`,
      );
    }
  });

  async function runChild(
    dataDir: string, endpoint: string, bucket: string, killAfter: number, killDelayMs: number,
    seen: { foundInStore: number; multipartAborted: number },
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderrTail: string }> {
    const child: ChildProcess = spawn(
      process.execPath,
      [join(REPO, 'bin', 'run-ts.js'), join(REPO, 'test', 'support', 'crash-child-uploader.ts'),
        '--data-dir', dataDir, '--endpoint', endpoint, '--bucket', bucket, '--agent-id', AGENT],
      {
        cwd: REPO,
        env: { ...process.env, S3_ACCESS_KEY_ID: server.accessKeyId, S3_SECRET_ACCESS_KEY: server.secretAccessKey },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4_000);
    });
    let uploads = 0;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('EVENT ')) return;
      const event = JSON.parse(line.slice('EVENT '.length)) as UploaderEvent;
      if (event.type === 'multipart-aborted') seen.multipartAborted += event.keys.length;
      if (event.type !== 'uploaded') return;
      if (event.alreadyInStore) seen.foundInStore++;
      if (++uploads === killAfter) setTimeout(() => child.kill('SIGKILL'), killDelayMs);
    });
    return new Promise((resolve) => {
      child.on('exit', (code, signal) => resolve({ code, signal, stderrTail: stderr }));
    });
  }
});

/**
 * One contract, two stores: everything here runs against LocalDirectoryStore in a temp directory and against
 * S3ObjectStore on a real Swift (test/support/s3-server.ts), then each store's own guarantees.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import {
  InvalidKeyError,
  InvalidMetadataError,
  type ObjectInfo,
  ObjectNotFoundError,
  type ObjectStore,
  ObjectStoreError,
} from '../core/object-store/object-store.ts';
import { openStore, parseStoreSpec, s3ClientConfig, StoreConfigError } from '../core/object-store/open-store.ts';
import { S3ObjectStore } from '../core/object-store/s3-store.ts';
import { type S3TestServer, s3ServerAvailability, startS3Server } from './support/s3-server.ts';

const MiB = 1024 * 1024;
const swift = s3ServerAvailability();
if (!swift.available) console.warn(`object-store.test.ts: S3 tests SKIPPED: ${swift.reason}`);

interface StoreFixture {
  /** A new, empty store. */
  newStore(options?: { listPageSize?: number }): Promise<ObjectStore>;
  /** List requests sent so far, for stores that list in pages. */
  listRequests?(): number;
  /** How many parts the object was uploaded in (0: a single PUT), for stores that can tell. */
  partCount?(store: ObjectStore, key: string): Promise<number>;
}

async function collect(iterable: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const info of iterable) out.push(info);
  return out;
}

async function listKeys(store: ObjectStore, prefix: string): Promise<string[]> {
  return (await collect(store.list(prefix))).map((o) => o.key);
}

/** Sorts like S3 does: by the UTF-8 bytes of the key. */
function byteOrder(keys: readonly string[]): string[] {
  return [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

const scratch: string[] = [];
async function scratchDir(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `tickvault-${name}-`));
  scratch.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(scratch.map((d) => rm(d, { recursive: true, force: true })));
});

function objectStoreContract(name: string, fixture: () => StoreFixture): void {
  describe(`${name}: ObjectStore contract`, () => {
    it('gets back exactly the bytes put, an empty object included', async () => {
      const store = await fixture().newStore();
      const body = randomBytes(300_000);
      await store.put('warm/trades/date=2024-07-01/symbol=ESU4/part-00000.parquet', body);
      await store.put('empty', new Uint8Array(0));

      const got = await store.get('warm/trades/date=2024-07-01/symbol=ESU4/part-00000.parquet');
      expect(got).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(got).equals(body)).toBe(true);
      expect((await store.get('empty')).byteLength).toBe(0);
    });

    it('replaces an object whole on a second put, metadata included', async () => {
      const store = await fixture().newStore();
      await store.put('k', bytesOf('first version, longer'), { metadata: { rows: '10', writer: 'a' } });
      await store.put('k', bytesOf('second'));

      expect(new TextDecoder().decode(await store.get('k'))).toBe('second');
      expect(await store.head('k')).toEqual({ key: 'k', sizeBytes: 6, metadata: {} });
    });

    it('uploads files with putFile, small and 20 MiB (multipart where the store has it)', async () => {
      const store = await fixture().newStore();
      const dir = await scratchDir('putfile');
      const small = randomBytes(1 * MiB + 17);
      const large = randomBytes(20 * MiB);
      await writeFile(join(dir, 'small.bin'), small);
      await writeFile(join(dir, 'large.bin'), large);

      await store.putFile('files/small.bin', join(dir, 'small.bin'), { metadata: { kind: 'small' } });
      await store.putFile('files/large.bin', join(dir, 'large.bin'), { metadata: { kind: 'large', rows: '42' } });

      expect(Buffer.from(await store.get('files/small.bin')).equals(small)).toBe(true);
      expect(Buffer.from(await store.get('files/large.bin')).equals(large)).toBe(true);
      expect(await store.head('files/large.bin')).toEqual({
        key: 'files/large.bin',
        sizeBytes: 20 * MiB,
        metadata: { kind: 'large', rows: '42' },
      });
      const partCount = fixture().partCount;
      if (partCount !== undefined) {
        expect(await partCount(store, 'files/small.bin')).toBe(0);
        expect(await partCount(store, 'files/large.bin')).toBe(3); // 8 + 8 + 4 MiB
      }
    });

    it('rejects putFile of a missing file with an error naming the file, and stores nothing', async () => {
      const store = await fixture().newStore();
      const missing = join(await scratchDir('missing'), 'no-such-file.parquet');
      const err = await rejection(store.putFile('f/k', missing));
      expect(err).toBeInstanceOf(ObjectStoreError);
      expect((err as Error).message).toContain(missing);
      expect(await store.head('f/k')).toBeUndefined();
    });

    it('heads size and metadata, and undefined for an absent key', async () => {
      const store = await fixture().newStore();
      const metadata = { 'source-file': 'ticks-2024-07-01.bin', rows: '1234', sha256: 'ab'.repeat(32), empty: '' };
      await store.put('a/b.parquet', randomBytes(4321), { metadata, contentType: 'application/vnd.apache.parquet' });
      await store.put('a/plain', bytesOf('x'));

      expect(await store.head('a/b.parquet')).toEqual({ key: 'a/b.parquet', sizeBytes: 4321, metadata });
      expect(await store.head('a/plain')).toEqual({ key: 'a/plain', sizeBytes: 1, metadata: {} });
      expect(await store.head('a/missing')).toBeUndefined();
      expect(await store.head('a')).toBeUndefined(); // a "directory" of other keys is not an object
    });

    it('lists every key under a prefix that ends mid-segment, with sizes', async () => {
      const store = await fixture().newStore();
      const keys = [
        'warm/trades/date=2024-06-30/symbol=ESU4/part-00000.parquet',
        'warm/trades/date=2024-07-01/symbol=ESU4/part-00000.parquet',
        'warm/trades/date=2024-07-01/symbol=ESU4/part-00001.parquet',
        'warm/trades/date=2024-07-01/symbol=NQU4/part-00000.parquet',
        'warm/trades/date=2024-07-31/symbol=ESU4/part-00000.parquet',
        'warm/trades/date=2024-08-01/symbol=ESU4/part-00000.parquet',
        'warm/trades-backup/date=2024-07-01/x',
        'warm/quotes/date=2024-07-01/symbol=ESU4/part-00000.parquet',
      ];
      for (const [i, key] of keys.entries()) await store.put(key, randomBytes(i + 1));

      const july = await collect(store.list('warm/trades/date=2024-07-'));
      expect(july).toEqual([
        { key: keys[1], sizeBytes: 2 },
        { key: keys[2], sizeBytes: 3 },
        { key: keys[3], sizeBytes: 4 },
        { key: keys[4], sizeBytes: 5 },
      ]);
      expect(await listKeys(store, 'warm/trades')).toEqual(byteOrder(keys.slice(0, 7)));
      expect(await listKeys(store, 'warm/trades/')).toEqual(keys.slice(0, 6));
      expect(await listKeys(store, keys[2]!)).toEqual([keys[2]]);
      expect(await listKeys(store, 'warm/trades/date=2024-07-01/symbol=ESU4/part-0000')).toEqual([keys[1], keys[2]]);
      expect(await listKeys(store, '')).toEqual(byteOrder(keys));
      expect(await listKeys(store, 'cold/')).toEqual([]);
      expect(await listKeys(store, 'warm/trades/date=2025')).toEqual([]);
    });

    it('lists in key order (UTF-8 bytes), however the keys nest', async () => {
      const store = await fixture().newStore();
      // '-' and '.' sort before '/', '0' after it, upper case before lower, and non-ASCII after all of ASCII;
      // a directory-by-directory walk that sorts names alone gets several of these wrong. (No key here is also a
      // "directory" of others, like 'a/b' and 'a/b/c': a file system cannot hold both, so that is not contract.)
      const keys = [
        ...['a/b', 'a/c/d', 'a-b', 'a.b', 'a0', 'B', 'z', 'über/1', 'a/b0', 'a/b-/c', 'a/b.c/d'],
        ...['\u{1F600}', '\uFFFD'], // UTF-16 order would put these the other way round
      ];
      for (const key of keys) await store.put(key, bytesOf(key));
      expect(await listKeys(store, '')).toEqual(byteOrder(keys));
      expect(await listKeys(store, 'a')).toEqual(byteOrder(keys.filter((k) => k.startsWith('a'))));
    });

    it('lists across pages without losing or repeating a key', async () => {
      const f = fixture();
      const store = await f.newStore({ listPageSize: 3 });
      const keys = Array.from({ length: 10 }, (_, i) => `paged/d=${i % 3}/k${String(i).padStart(2, '0')}`);
      for (const key of keys) await store.put(key, bytesOf(key));
      await store.put('pagedx', bytesOf('outside the prefix'));

      const before = f.listRequests?.();
      expect(await listKeys(store, 'paged/')).toEqual(byteOrder(keys));
      if (before !== undefined) expect(f.listRequests!() - before).toBe(4); // 3 + 3 + 3 + 1
    });

    it('throws ObjectNotFoundError naming the key when getting an absent object', async () => {
      const store = await fixture().newStore();
      const err = await rejection(store.get('warm/trades/date=2024-07-01/nothing-here.parquet'));
      expect(err).toBeInstanceOf(ObjectNotFoundError);
      expect((err as ObjectNotFoundError).key).toBe('warm/trades/date=2024-07-01/nothing-here.parquet');
      expect((err as Error).message).toContain('warm/trades/date=2024-07-01/nothing-here.parquet');
      expect((err as Error).message).toContain(store.description);
    });

    it('deletes idempotently', async () => {
      const store = await fixture().newStore();
      await store.delete('never/existed');
      await store.put('d/one', bytesOf('1'), { metadata: { m: '1' } });
      await store.put('d/two', bytesOf('2'));

      await store.delete('d/one');
      await store.delete('d/one');
      expect(await store.head('d/one')).toBeUndefined();
      await expect(store.get('d/one')).rejects.toBeInstanceOf(ObjectNotFoundError);
      expect(await listKeys(store, '')).toEqual(['d/two']);

      await store.put('d/one', bytesOf('back'));
      expect(await store.head('d/one')).toEqual({ key: 'd/one', sizeBytes: 4, metadata: {} }); // old metadata gone
    });

    it('rejects invalid keys and prefixes before touching the store', async () => {
      const store = await fixture().newStore();
      const bad = ['../x', '/abs', 'a//b', 'a\\b', 'a\u0000b', '', 'a/./b', 'a/../b', 'trailing/', 'x'.repeat(1025)];
      for (const key of bad) {
        await expect(store.put(key, bytesOf('x')), key).rejects.toBeInstanceOf(InvalidKeyError);
        await expect(store.get(key), key).rejects.toBeInstanceOf(InvalidKeyError);
        await expect(store.head(key), key).rejects.toBeInstanceOf(InvalidKeyError);
        await expect(store.delete(key), key).rejects.toBeInstanceOf(InvalidKeyError);
      }
      for (const prefix of ['../', '/abs', 'a//', 'a\\', 'a\u0001']) {
        await expect(collect(store.list(prefix)), prefix).rejects.toBeInstanceOf(InvalidKeyError);
      }
      expect(await listKeys(store, '')).toEqual([]);
    });

    it('rejects metadata S3 could not hand back unchanged', async () => {
      const store = await fixture().newStore();
      for (const metadata of [{ Rows: '1' }, { 'a b': '1' }, { rows: 'caf\u00e9' }, { rows: ' 1' }, { rows: 'a\nb' }]) {
        await expect(store.put('m', bytesOf('x'), { metadata }), JSON.stringify(metadata)).rejects.toBeInstanceOf(
          InvalidMetadataError,
        );
      }
      expect(await store.head('m')).toBeUndefined();
    });
  });
}

// ---------------------------------------------------------------------------------------------- local directory

let localRoot = '';
let localStores = 0;
beforeAll(async () => {
  localRoot = await scratchDir('local-store');
});

objectStoreContract('LocalDirectoryStore', () => ({
  newStore: async () => new LocalDirectoryStore(join(localRoot, `store-${++localStores}`)),
}));

/** Every file and directory under root, relative, '/'-separated, sorted. */
async function tree(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .map((e) => relative(root, join(e.parentPath, e.name)).split('\\').join('/') + (e.isDirectory() ? '/' : ''))
    .sort();
}

describe('LocalDirectoryStore', () => {
  it('describes itself as local:<absolute root>', async () => {
    const root = await scratchDir('local-desc');
    const store = new LocalDirectoryStore(relative(process.cwd(), root));
    expect(store.description).toBe(`local:${resolve(root)}`);
  });

  it('leaves no temp files behind, and lists neither temp nor metadata files', async () => {
    const root = await scratchDir('local-files');
    const store = new LocalDirectoryStore(root);
    const source = join(await scratchDir('local-src'), 'part.bin');
    await writeFile(source, randomBytes(5000));
    await store.put('w/a.parquet', randomBytes(100), { metadata: { rows: '1' } });
    await store.put('w/a.parquet', randomBytes(200), { metadata: { rows: '2' } });
    await store.putFile('w/b.parquet', source, { metadata: { rows: '3' }, contentType: 'application/octet-stream' });
    await store.put('w/c', randomBytes(1));

    expect(await tree(root)).toEqual([
      'w/',
      'w/.a.parquet.meta.json',
      'w/.b.parquet.meta.json',
      'w/a.parquet',
      'w/b.parquet',
      'w/c',
    ]);
    // What a crash mid-write leaves behind: a temp file, and a sidecar whose object never arrived.
    await writeFile(join(root, 'w', '.tmp-0123456789abcdef'), 'half a write');
    await writeFile(join(root, 'w', '.ghost.meta.json'), '{"metadata":{}}');
    expect(await collect(store.list(''))).toEqual([
      { key: 'w/a.parquet', sizeBytes: 200 },
      { key: 'w/b.parquet', sizeBytes: 5000 },
      { key: 'w/c', sizeBytes: 1 },
    ]);
    expect(await listKeys(store, 'w/.t')).toEqual([]);
    expect(await listKeys(store, 'w/.g')).toEqual([]);
    expect((await store.head('w/a.parquet'))?.metadata).toEqual({ rows: '2' });
  });

  it('rejects keys that use the names it reserves for temp and metadata files', async () => {
    const store = new LocalDirectoryStore(await scratchDir('local-reserved'));
    for (const key of ['.tmp-1', 'a/.tmp-x/b', 'a/.b.meta.json', '.x.meta.json']) {
      await expect(store.put(key, bytesOf('x')), key).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(store.get(key), key).rejects.toBeInstanceOf(InvalidKeyError);
    }
    await expect(collect(store.list('a/.tmp-x/'))).rejects.toBeInstanceOf(InvalidKeyError);
    // Dot files that are not reserved are ordinary keys.
    await store.put('a/.hidden', bytesOf('ok'));
    await store.put('a/x.meta.json', bytesOf('ok'));
    expect(await listKeys(store, 'a/')).toEqual(['a/.hidden', 'a/x.meta.json']);
  });

  it('readers see the old object or the new one, never a mix', async () => {
    const root = await scratchDir('local-atomic');
    const store = new LocalDirectoryStore(root);
    const versions = [Buffer.alloc(MiB, 0x41), Buffer.alloc(2 * MiB, 0x42)];
    await store.put('hot/object', versions[0]!);

    let writing = true;
    let reads = 0;
    const reader = (async () => {
      while (writing) {
        const got = Buffer.from(await store.get('hot/object'));
        // An in-place write would show a truncated or half-old file here.
        expect(got.equals(versions[0]!) || got.equals(versions[1]!)).toBe(true);
        reads++;
      }
    })();
    for (let i = 1; i <= 20; i++) await store.put('hot/object', versions[i % 2]!);
    writing = false;
    await reader;
    expect(reads).toBeGreaterThan(0);
    expect(await tree(root)).toEqual(['hot/', 'hot/object']);
  });

  it('removes directories a delete leaves empty, and writes into them again', async () => {
    const root = await scratchDir('local-prune');
    const store = new LocalDirectoryStore(root);
    await store.put('x/y/z/one', bytesOf('1'));
    await store.put('x/keep', bytesOf('2'));
    await store.delete('x/y/z/one');
    expect(await tree(root)).toEqual(['x/', 'x/keep']);
    await store.put('x/y/z/one', bytesOf('3'));
    expect(await listKeys(store, 'x/')).toEqual(['x/keep', 'x/y/z/one']);
  });

  it('reports a failed putFile with the path, and leaves the old object and no temp file', async () => {
    const root = await scratchDir('local-failed');
    const store = new LocalDirectoryStore(root);
    await store.put('f/obj', bytesOf('old'));
    const missing = join(root, 'no-such-source.bin');
    const err = await rejection(store.putFile('f/obj', missing));
    expect(err).toBeInstanceOf(ObjectStoreError);
    expect((err as Error).message).toContain(missing);
    expect(new TextDecoder().decode(await store.get('f/obj'))).toBe('old');
    expect(await tree(root)).toEqual(['f/', 'f/obj']);
  });

  it('refuses to put an object where another object is a directory of its key, and says why', async () => {
    const store = new LocalDirectoryStore(await scratchDir('local-conflict'));
    await store.put('a', bytesOf('file'));
    const err = await rejection(store.put('a/b', bytesOf('x')));
    expect(err).toBeInstanceOf(ObjectStoreError);
    expect((err as Error).message).toMatch(/"a\/b".*prefix of the key is itself an object/);
    await store.put('d/e', bytesOf('x'));
    await expect(store.put('d', bytesOf('x'))).rejects.toThrow(/directory of other objects/);
  });
});

// -------------------------------------------------------------------------------------------------- S3 on Swift

describe.skipIf(!swift.available)('S3ObjectStore on Swift', () => {
  const BUCKET = 'contract';
  let server: S3TestServer;
  let client: S3Client;
  let listRequests = 0;
  let s3Stores = 0;

  beforeAll(async () => {
    server = await startS3Server();
    console.info(`Swift started in ${server.startupMs} ms at ${server.endpoint}`);
    client = server.createClient();
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'ListObjectsV2Command') listRequests++;
        return next(args);
      },
      { step: 'initialize', name: 'countListRequests' },
    );
    await server.createBucket(BUCKET);
  });
  afterAll(async () => {
    client?.destroy();
    await server?.stop();
  });

  const newS3Store = (options: { listPageSize?: number } = {}): S3ObjectStore =>
    new S3ObjectStore({ client, bucket: BUCKET, prefix: `run-${++s3Stores}/`, ...options });

  objectStoreContract('S3ObjectStore', () => ({
    newStore: async (options) => newS3Store(options),
    listRequests: () => listRequests,
    partCount: async (store, key) => {
      const s3 = store as S3ObjectStore;
      const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: s3.prefix + key }));
      // A multipart object's ETag is the MD5 of its parts' MD5s, then '-' and the number of parts.
      const parts = /-(\d+)"?$/.exec(head.ETag ?? '')?.[1];
      return parts === undefined ? 0 : Number(parts);
    },
  }));

  it('describes itself as s3://bucket/prefix/', () => {
    expect(new S3ObjectStore({ client, bucket: BUCKET, prefix: 'a/b/' }).description).toBe('s3://contract/a/b/');
    expect(new S3ObjectStore({ client, bucket: BUCKET }).description).toBe('s3://contract');
    expect(() => new S3ObjectStore({ client, bucket: BUCKET, prefix: 'no-slash' })).toThrow(
      /must be empty or end with '\/'/,
    );
    expect(() => new S3ObjectStore({ client, bucket: BUCKET, listPageSize: 1001 })).toThrow(/listPageSize 1001/);
  });

  it('deleteMany removes many keys at once, absent ones included (Swift needs its Content-MD5)', async () => {
    const store = newS3Store();
    const keys = Array.from({ length: 12 }, (_, i) => `many/k${i}`);
    for (const key of keys) await store.put(key, bytesOf(key));
    await store.put('many/survivor', bytesOf('stay'));

    await store.deleteMany([...keys, 'many/never-existed']);
    expect(await listKeys(store, 'many/')).toEqual(['many/survivor']);
    await store.deleteMany([]);
    await expect(store.deleteMany(['ok', '../bad'])).rejects.toBeInstanceOf(InvalidKeyError);
  });

  it('names the bucket and key in errors, keeps the SDK error as cause, and never shows the secret', async () => {
    const store = new S3ObjectStore({ client, bucket: 'no-such-bucket-here', prefix: 'p/' });
    const putErr = await rejection(store.put('k/1', bytesOf('x')));
    expect(putErr).toBeInstanceOf(ObjectStoreError);
    expect((putErr as Error).message).toContain('s3://no-such-bucket-here/p/k/1');
    expect((putErr as Error).message).toContain('NoSuchBucket');
    expect(((putErr as Error).cause as Error).name).toBe('NoSuchBucket');

    // A missing bucket is a configuration problem, not a missing object.
    const getErr = await rejection(store.get('k/1'));
    expect(getErr).toBeInstanceOf(ObjectStoreError);
    expect(getErr).not.toBeInstanceOf(ObjectNotFoundError);
    expect(await store.head('k/1')).toBeUndefined();

    const wrongSecret = new S3ObjectStore({
      client: new S3Client({
        endpoint: server.endpoint,
        region: server.region,
        forcePathStyle: true,
        credentials: { accessKeyId: server.accessKeyId, secretAccessKey: 'not-the-secret-xyz' },
        maxAttempts: 1,
      }),
      bucket: BUCKET,
    });
    const authErr = await rejection(wrongSecret.get('anything'));
    expect(authErr).toBeInstanceOf(ObjectStoreError);
    expect((authErr as Error).message).toMatch(/SignatureDoesNotMatch|AccessDenied/);
    for (const err of [putErr, getErr, authErr]) {
      expect((err as Error).message).not.toContain(server.secretAccessKey);
      expect((err as Error).message).not.toContain('not-the-secret-xyz');
    }
  });

  it('openStore builds a working store with credentials from the default provider chain', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = server.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = server.secretAccessKey;
    try {
      const store = openStore(`s3://${BUCKET}/via-open-store`, {
        endpoint: server.endpoint,
        region: server.region,
        forcePathStyle: true,
        compatibilityMode: true,
      });
      expect(store).toBeInstanceOf(S3ObjectStore);
      expect(store.description).toBe(`s3://${BUCKET}/via-open-store/`);
      const dir = await scratchDir('open-store');
      const body = randomBytes(17 * MiB); // multipart, through the client openStore built
      await writeFile(join(dir, 'f.bin'), body);
      await store.putFile('x/f.bin', join(dir, 'f.bin'));
      expect(Buffer.from(await store.get('x/f.bin')).equals(body)).toBe(true);
      expect(await listKeys(store, '')).toEqual(['x/f.bin']);
      await store.delete('x/f.bin');
    } finally {
      restoreEnv('AWS_ACCESS_KEY_ID', saved.id);
      restoreEnv('AWS_SECRET_ACCESS_KEY', saved.secret);
    }
  });
});

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

// ------------------------------------------------------------------------------------------------ store specs

describe('parseStoreSpec and openStore', () => {
  it('parses directories and s3:// specs', () => {
    expect(parseStoreSpec('/data/store')).toEqual({ kind: 'local', dir: '/data/store' });
    expect(parseStoreSpec('./.data/store')).toEqual({ kind: 'local', dir: './.data/store' });
    expect(parseStoreSpec('s3://market-data')).toEqual({ kind: 's3', bucket: 'market-data', prefix: '' });
    expect(parseStoreSpec('s3://market-data/')).toEqual({ kind: 's3', bucket: 'market-data', prefix: '' });
    expect(parseStoreSpec('s3://market.data-2/tickvault')).toEqual({
      kind: 's3',
      bucket: 'market.data-2',
      prefix: 'tickvault/',
    });
    expect(parseStoreSpec('s3://abc/a/b/')).toEqual({ kind: 's3', bucket: 'abc', prefix: 'a/b/' });
  });

  it('rejects bad specs with a message naming the spec', () => {
    const bad: [string, RegExp][] = [
      ['', /empty/],
      ['   ', /empty/],
      ['s3://', /bucket name "" is empty/],
      ['s3:///prefix', /is empty/],
      ['s3://Market_Data', /lower-case letters/],
      ['s3://ab', /3 to 63/],
      ['s3://' + 'a'.repeat(64), /3 to 63/],
      ['s3://-abc', /begin and end/],
      ['s3://abc-', /begin and end/],
      ['s3://a..b', /'\.\.'/],
      ['s3://192.168.1.10', /IP address/],
      ['s3://bucket//x', /prefix/],
      ['s3://bucket/../x', /prefix/],
      ['s3://bucket/a\\b', /prefix/],
      ['gs://bucket/x', /unsupported scheme gs:\/\//],
      ['https://example.com/bucket', /unsupported scheme/],
    ];
    for (const [spec, why] of bad) {
      let err: unknown;
      try {
        parseStoreSpec(spec);
      } catch (e) {
        err = e;
      }
      expect(err, spec).toBeInstanceOf(StoreConfigError);
      expect((err as Error).message, spec).toContain(`invalid store spec ${JSON.stringify(spec)}`);
      expect((err as Error).message, spec).toMatch(why);
      expect(() => openStore(spec), spec).toThrow(StoreConfigError);
    }
  });

  it('opens a local directory store at the absolute path', async () => {
    const dir = await scratchDir('open-local');
    const store = openStore(relative(process.cwd(), dir));
    expect(store).toBeInstanceOf(LocalDirectoryStore);
    expect(store.description).toBe(`local:${dir}`);
    await store.put('k', bytesOf('v'));
    expect(await tree(dir)).toEqual(['k']);
  });

  it('opens an S3 store without touching the network, with the client settings asked for', () => {
    const store = openStore('s3://market-data/prod', { region: 'eu-west-1' });
    expect(store).toBeInstanceOf(S3ObjectStore);
    expect(store.description).toBe('s3://market-data/prod/');
    expect((store as S3ObjectStore).bucket).toBe('market-data');
    expect((store as S3ObjectStore).prefix).toBe('prod/');

    // Timeouts are always set: a silent server must fail the request, not hang it.
    const requestHandler = { requestTimeout: 60_000, connectionTimeout: 5_000, throwOnRequestTimeout: true };
    expect(s3ClientConfig({ region: 'eu-west-1' })).toEqual({ region: 'eu-west-1', requestHandler });
    expect(s3ClientConfig({ region: 'eu-west-1', requestTimeoutMs: 1000, connectionTimeoutMs: 200 }).requestHandler)
      .toEqual({ requestTimeout: 1000, connectionTimeout: 200, throwOnRequestTimeout: true });
    const base = { endpoint: 'http://127.0.0.1:9000', region: 'x', forcePathStyle: true };
    expect(s3ClientConfig({ ...base, compatibilityMode: false })).toEqual({ ...base, requestHandler });
    expect(s3ClientConfig({ ...base, compatibilityMode: true })).toEqual({
      requestHandler,
      region: 'x',
      endpoint: 'http://127.0.0.1:9000',
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    expect(() => openStore('s3://market-data', { endpoint: 'localhost:9000' })).toThrow(
      /invalid S3 endpoint "localhost:9000"/,
    );
  });

  it('takes the region from AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1', () => {
    const saved = { region: process.env.AWS_REGION, fallback: process.env.AWS_DEFAULT_REGION };
    try {
      process.env.AWS_REGION = 'ap-southeast-2';
      process.env.AWS_DEFAULT_REGION = 'eu-central-1';
      expect(s3ClientConfig({}).region).toBe('ap-southeast-2');
      process.env.AWS_REGION = '';
      expect(s3ClientConfig({}).region).toBe('eu-central-1');
      delete process.env.AWS_DEFAULT_REGION;
      expect(s3ClientConfig({}).region).toBe('us-east-1');
    } finally {
      restoreEnv('AWS_REGION', saved.region);
      restoreEnv('AWS_DEFAULT_REGION', saved.fallback);
    }
  });
});

/**
 * Object tags, which the compactor puts on the warm objects it has folded into a cold file: kept in the metadata
 * sidecar by the local store, sent as S3 object tagging by the S3 store, and reported as TaggingNotSupportedError
 * by a server without tagging (Swift answers NotImplemented).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectoryStore } from '../core/object-store/local-directory-store.ts';
import {
  InvalidTagsError,
  ObjectNotFoundError,
  TaggingNotSupportedError,
  validateTags,
} from '../core/object-store/object-store.ts';
import { S3ObjectStore } from '../core/object-store/s3-store.ts';
import { type S3TestServer, s3ServerAvailability, startS3Server } from './support/s3-server.ts';

const swift = s3ServerAvailability();
if (!swift.available) console.warn(`compaction-store-tags.test.ts: S3 tests SKIPPED: ${swift.reason}`);

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const KEY = 'warm/trades/date=2024-07-01/symbol=ESU4/part-00000-edge-1.parquet';

describe('LocalDirectoryStore tags', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'tv-tags-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('keeps tags beside the metadata, replaces them whole, and a put clears them', async () => {
    const store = new LocalDirectoryStore(root);
    await store.put(KEY, bytes('data'), { metadata: { sha256: 'abc' }, contentType: 'application/vnd.apache.parquet' });
    expect(await store.getTags(KEY)).toEqual({});
    await store.putTags(KEY, { 'tickvault:compacted': 'true', 'tickvault:compacted-at': '2024-08-01T06:00:00.000Z' });
    expect(await store.getTags(KEY)).toEqual({ 'tickvault:compacted': 'true', 'tickvault:compacted-at': '2024-08-01T06:00:00.000Z' });
    // Metadata and bytes are untouched by tagging.
    expect((await store.head(KEY))?.metadata).toEqual({ sha256: 'abc' });
    expect(new TextDecoder().decode(await store.get(KEY))).toBe('data');
    await store.putTags(KEY, { only: 'this' });
    expect(await store.getTags(KEY)).toEqual({ only: 'this' });
    // The sidecar that holds them stays hidden from listings.
    const keys: string[] = [];
    for await (const info of store.list('warm/')) keys.push(info.key);
    expect(keys).toEqual([KEY]);
    expect((await readdir(join(root, 'warm/trades/date=2024-07-01/symbol=ESU4'))).sort()).toEqual([
      '.part-00000-edge-1.parquet.meta.json', 'part-00000-edge-1.parquet',
    ]);
    await store.put(KEY, bytes('new data'));
    expect(await store.getTags(KEY)).toEqual({});
  });

  it('tags many objects of one directory at once (their directory fsyncs shared), each with its own tags', async () => {
    const store = new LocalDirectoryStore(root);
    const keys = Array.from({ length: 60 }, (_, i) => `warm/trades/date=2024-07-02/symbol=ESU4/part-${String(i).padStart(5, '0')}-edge-1.parquet`);
    for (const key of keys) await store.put(key, bytes(key), { metadata: { sha256: key } });
    await Promise.all(keys.map((key, i) => store.putTags(key, { 'tickvault:compacted': 'true', n: String(i) })));
    await Promise.all(keys.map((key, i) => store.putTags(key, { n: String(i * 2) })));
    for (const [i, key] of keys.entries()) {
      expect(await store.getTags(key)).toEqual({ n: String(i * 2) });
      expect((await store.head(key))?.metadata).toEqual({ sha256: key });
    }
  });

  it('refuses to tag an absent object, and removing the object removes its tags', async () => {
    const store = new LocalDirectoryStore(root);
    await expect(store.putTags('warm/none.parquet', { a: 'b' })).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(store.getTags('warm/none.parquet')).rejects.toBeInstanceOf(ObjectNotFoundError);
    await store.put('warm/x.parquet', bytes('x'));
    await store.putTags('warm/x.parquet', { a: 'b' });
    await store.delete('warm/x.parquet');
    await store.put('warm/x.parquet', bytes('y'));
    expect(await store.getTags('warm/x.parquet')).toEqual({});
  });
});

describe('validateTags', () => {
  it('accepts what S3 accepts and names what it refuses', () => {
    expect(validateTags({ 'tickvault:compacted-at': '2024-08-01T06:00:00.000Z', 'a b': 'c/d@e+f=g' })).toBeDefined();
    expect(() => validateTags(Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v'])))).toThrow(/11 tags, over S3's limit of 10/);
    expect(() => validateTags({ '': 'v' })).toThrow(InvalidTagsError);
    expect(() => validateTags({ k: 'a'.repeat(257) })).toThrow(/value over 256 characters/);
    expect(() => validateTags({ 'k;': 'v' })).toThrow(/only letters, digits/);
    expect(() => validateTags({ 'aws:x': 'v' })).toThrow(/reserved/);
  });
});

describe.skipIf(!swift.available)('S3ObjectStore tags on Swift', () => {
  let server: S3TestServer;
  beforeAll(async () => {
    server = await startS3Server();
    await server.createBucket('tags');
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('reports TaggingNotSupportedError when Swift answers NotImplemented; reading tags gives none', async () => {
    const store = new S3ObjectStore({ client: server.createClient(), bucket: 'tags' });
    await store.put(KEY, bytes('data'));
    const put = await store.putTags(KEY, { 'tickvault:compacted': 'true' }).catch((e: unknown) => e);
    expect(put).toBeInstanceOf(TaggingNotSupportedError);
    expect((put as Error).message).toMatch(/object tagging is not supported by this server/);
    // Swift implements GET ?tagging as an empty tag set.
    expect(await store.getTags(KEY)).toEqual({});
    await expect(store.putTags(KEY, { 'bad;': 'x' })).rejects.toBeInstanceOf(InvalidTagsError);
  });
});

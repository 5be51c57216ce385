import { mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SNAPSHOT_HEADER_BYTES, parseSnapshotFileName, snapshotFileName } from '../edge-agent/snapshot/snapshot-format.ts';
import { type SnapshotDefect, SnapshotOrderError, SnapshotStore } from '../edge-agent/snapshot/snapshot-store.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tv-snapshot-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function payloadOf(walSeq: number): Buffer {
  return Buffer.from(`state as of wal seq ${walSeq} `.repeat(50 + walSeq));
}

/** A store with a clock that advances one second per read, and the skipped files it reported. */
function storeWithClock(keep?: number): { store: SnapshotStore; skipped: [string, SnapshotDefect][] } {
  let nowMs = Date.UTC(2025, 10, 26, 7, 44, 0, 123);
  const skipped: [string, SnapshotDefect][] = [];
  const store = new SnapshotStore(dir, {
    ...(keep === undefined ? {} : { keep }),
    nowMs: () => (nowMs += 1000),
    onInvalidSnapshot: (file, defect) => skipped.push([file, defect]),
  });
  return { store, skipped };
}

function damage(file: string, change: (bytes: Buffer) => Buffer): void {
  const path = join(dir, file);
  writeFileSync(path, change(readFileSync(path)));
}

describe('snapshot store', () => {
  it('writes a snapshot with the documented header and loads it back', async () => {
    const { store } = storeWithClock();
    const info = await store.write(42n, payloadOf(42));
    expect(info).toMatchObject({ file: 'snapshot-00000000000000000042-20251126T074401123Z.snap', walSeq: 42n, payloadBytes: payloadOf(42).length });
    const bytes = readFileSync(info.path);
    expect(bytes.subarray(0, 8).toString('ascii')).toBe('TVSNAPSH');
    expect(bytes.readUInt16LE(8)).toBe(1);
    expect(bytes.readUInt16LE(10)).toBe(SNAPSHOT_HEADER_BYTES);
    expect(bytes.readBigUInt64LE(16)).toBe(42n);
    expect(bytes.readBigUInt64LE(24)).toBe(BigInt(info.createdAtMs));
    expect(bytes.readBigUInt64LE(32)).toBe(BigInt(payloadOf(42).length));
    expect(bytes.readUInt32LE(40)).toBe(crc32c(payloadOf(42), crc32c(bytes.subarray(0, 40))));
    expect(bytes.subarray(SNAPSHOT_HEADER_BYTES).equals(payloadOf(42))).toBe(true);

    const loaded = await store.loadNewestValid();
    expect(loaded).toMatchObject({ file: info.file, walSeq: 42n, createdAtMs: info.createdAtMs });
    expect(Buffer.from(loaded!.payload).equals(payloadOf(42))).toBe(true);
    expect(readdirSync(dir)).toEqual([info.file]);
  });

  it('names sort by walSeq, then creation time', () => {
    const a = snapshotFileName(9n, Date.UTC(2030, 0, 1));
    const b = snapshotFileName(10n, Date.UTC(2020, 0, 1));
    expect([b, a].sort()).toEqual([a, b]);
    expect(parseSnapshotFileName(a)).toBe(9n);
    expect(parseSnapshotFileName(`.${a}.tmp-abc`)).toBeUndefined();
  });

  it('keeps the newest 12 by default and deletes the older ones after each write', async () => {
    const { store } = storeWithClock();
    expect(store.keep).toBe(12);
    for (let walSeq = 1; walSeq <= 15; walSeq++) await store.write(BigInt(walSeq * 100), payloadOf(walSeq));
    const names = await store.list();
    expect(names).toHaveLength(12);
    expect(names.map(parseSnapshotFileName)).toEqual(Array.from({ length: 12 }, (_, i) => BigInt((i + 4) * 100)));
    expect(readdirSync(dir).sort()).toEqual(names);
    expect((await store.loadNewestValid())?.walSeq).toBe(1500n);
  });

  it('falls back to the previous snapshot when the newest is damaged, reporting why', async () => {
    const cases: [SnapshotDefect, (b: Buffer) => Buffer][] = [
      ['crc-mismatch', (b) => { b[b.length - 10]! ^= 0x04; return b; }],
      ['crc-mismatch', (b) => { b[17]! ^= 0x01; return b; }], // walSeq field
      ['truncated', (b) => b.subarray(0, b.length - 1)],
      ['truncated', (b) => b.subarray(0, 20)],
      ['truncated', (b) => b.subarray(0, 0)],
      ['bad-magic', (b) => { b[0] = 0x58; return b; }],
      ['unsupported-version', (b) => { b.writeUInt16LE(2, 8); return b; }],
      ['length-mismatch', (b) => Buffer.concat([b, Buffer.alloc(3)])],
    ];
    for (const [defect, change] of cases) {
      rmSync(dir, { recursive: true, force: true });
      const { store, skipped } = storeWithClock(5);
      await store.write(1n, payloadOf(1));
      await store.write(2n, payloadOf(2));
      const newest = await store.write(3n, payloadOf(3));
      damage(newest.file, change);
      const loaded = await store.loadNewestValid();
      expect(loaded?.walSeq, defect).toBe(2n);
      expect(Buffer.from(loaded!.payload).equals(payloadOf(2))).toBe(true);
      expect(skipped).toEqual([[newest.file, defect]]);
    }
  });

  it('skips a file whose name and header disagree on walSeq', async () => {
    const { store, skipped } = storeWithClock();
    await store.write(1n, payloadOf(1));
    const second = await store.write(2n, payloadOf(2));
    const forged = snapshotFileName(7n, Date.UTC(2025, 0, 1));
    renameSync(second.path, join(dir, forged));
    expect((await store.loadNewestValid())?.walSeq).toBe(1n);
    expect(skipped).toEqual([[forged, 'name-mismatch']]);
  });

  it('returns undefined when every snapshot is damaged, with a reason for each, newest first', async () => {
    const { store, skipped } = storeWithClock();
    const infos = [];
    for (let walSeq = 1; walSeq <= 3; walSeq++) infos.push(await store.write(BigInt(walSeq), payloadOf(walSeq)));
    damage(infos[0]!.file, (b) => b.subarray(0, 10));
    damage(infos[1]!.file, (b) => { b[50]! ^= 0xff; return b; });
    damage(infos[2]!.file, (b) => { b.write('NOTASNAP', 0, 'ascii'); return b; });
    expect(await store.loadNewestValid()).toBeUndefined();
    expect(skipped).toEqual([[infos[2]!.file, 'bad-magic'], [infos[1]!.file, 'crc-mismatch'], [infos[0]!.file, 'truncated']]);
  });

  it('returns undefined for an empty or missing directory', async () => {
    expect(await new SnapshotStore(dir).loadNewestValid()).toBeUndefined();
    expect(await new SnapshotStore(join(dir, 'missing')).loadNewestValid()).toBeUndefined();
    expect(await new SnapshotStore(join(dir, 'missing')).list()).toEqual([]);
  });

  it('ignores torn temp files from interrupted writes and removes them on the next write', async () => {
    const { store, skipped } = storeWithClock();
    const first = await store.write(5n, payloadOf(5));
    const temp = `.${snapshotFileName(9n, Date.UTC(2025, 10, 26))}.tmp-0a1b2c3d4e5f`;
    writeFileSync(join(dir, temp), readFileSync(first.path).subarray(0, 100));
    writeFileSync(join(dir, 'unrelated.txt'), 'not a snapshot');
    expect((await store.loadNewestValid())?.walSeq).toBe(5n);
    expect(skipped).toEqual([]);
    await store.write(6n, payloadOf(6));
    expect(readdirSync(dir).sort()).toEqual([first.file, snapshotFileName(6n, Date.UTC(2025, 10, 26, 7, 44, 2, 123)), 'unrelated.txt'].sort());
  });

  it('refuses a walSeq below the newest snapshot, accepts an equal one, and serialises concurrent writes', async () => {
    const { store } = storeWithClock();
    await Promise.all([store.write(1n, payloadOf(1)), store.write(2n, payloadOf(2)), store.write(3n, payloadOf(3))]);
    expect((await store.list()).map(parseSnapshotFileName)).toEqual([1n, 2n, 3n]);
    await expect(store.write(2n, payloadOf(2))).rejects.toBeInstanceOf(SnapshotOrderError);
    await expect(store.write(3n, payloadOf(33))).resolves.toMatchObject({ walSeq: 3n });
    expect(Buffer.from((await store.loadNewestValid())!.payload).equals(payloadOf(33))).toBe(true);
  });
});

import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CorruptRecordPolicy, WalCorruptionError, type WriteAheadLog, openLog } from '../edge-agent/wal/write-ahead-log.ts';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'tv-wal-recovery-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

let dirCount = 0;
function freshDir(): string {
  return join(root, `case-${dirCount++}`);
}

function payloadOf(seq: number): Buffer {
  const out = Buffer.alloc(20 + ((seq * 13) % 41));
  for (let k = 0; k < out.length; k++) out[k] = (seq * 29 + k * 3) & 0xff;
  return out;
}

/** A log of `count` records in dir; returns the segment files, oldest first. */
async function buildLog(dir: string, count: number, segmentBytes = 64 * 1024 * 1024): Promise<string[]> {
  const log = await openLog(dir, { segmentBytes });
  for (let seq = 1; seq <= count; seq++) log.append(payloadOf(seq));
  await log.close();
  return readdirSync(dir).filter((f) => f.endsWith('.wal')).sort();
}

/** Start offsets of the records in an intact segment file, and its size at the end. */
function recordOffsets(path: string): number[] {
  const bytes = readFileSync(path);
  const offsets: number[] = [];
  for (let at = 0; at < bytes.length; at += 16 + bytes.readUInt32LE(at)) offsets.push(at);
  offsets.push(bytes.length);
  return offsets;
}

async function replayAll(log: WriteAheadLog): Promise<{ seq: number; payload: Buffer }[]> {
  const out: { seq: number; payload: Buffer }[] = [];
  await log.replay(1n, (seq, payload) => {
    out.push({ seq: Number(seq), payload: Buffer.from(payload) });
  });
  return out;
}

function expectIntact(records: readonly { seq: number; payload: Buffer }[], seqs: readonly number[]): void {
  expect(records.map((r) => r.seq)).toEqual(seqs);
  for (const r of records) expect(r.payload.equals(payloadOf(r.seq)), `payload of seq ${r.seq}`).toBe(true);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

function flipBit(path: string, bit: number): void {
  const bytes = readFileSync(path);
  bytes[bit >> 3]! ^= 1 << (bit & 7);
  writeFileSync(path, bytes);
}

describe('write-ahead log recovery: torn tail of the last segment', () => {
  it('truncates at the last complete record for a cut at every byte of the last four records, and appends continue', async () => {
    const source = freshDir();
    const [segment] = await buildLog(source, 24);
    const original = readFileSync(join(source, segment!));
    const offsets = recordOffsets(join(source, segment!));
    const from = offsets[offsets.length - 5]!;
    let cuts = 0;
    for (let cut = from; cut <= original.length; cut++) {
      const dir = freshDir();
      cpSync(source, dir, { recursive: true });
      writeFileSync(join(dir, segment!), original.subarray(0, cut));
      const complete = offsets.filter((o, i) => i > 0 && o <= cut).length;
      const goodEnd = offsets[complete]!;

      const log = await openLog(dir);
      expect(log.recovery.lastSeq).toBe(BigInt(complete));
      if (cut === goodEnd) {
        expect(log.recovery.truncatedTail).toBeUndefined();
      } else {
        expect(log.recovery.truncatedTail).toMatchObject({ offset: goodEnd, droppedBytes: cut - goodEnd, seq: BigInt(complete + 1), recordsAfterDamage: 0, quarantineFile: undefined });
      }
      expect(statSync(join(dir, segment!)).size).toBe(goodEnd);
      expect(log.append(payloadOf(complete + 1))).toBe(BigInt(complete + 1));
      await log.close();

      const reopened = await openLog(dir);
      expect(reopened.recovery.truncatedTail).toBeUndefined();
      expectIntact(await replayAll(reopened), range(1, complete + 1));
      await reopened.close();
      rmSync(dir, { recursive: true });
      cuts++;
    }
    expect(cuts).toBeGreaterThan(150);
  });

  it('truncates a torn tail in the last of several segments and leaves the earlier ones alone', async () => {
    const dir = freshDir();
    const segments = await buildLog(dir, 300, 2048);
    expect(segments.length).toBeGreaterThan(5);
    const last = join(dir, segments.at(-1)!);
    const offsets = recordOffsets(last);
    const firstOfLast = Number(segments.at(-1)!.slice(0, 20));
    writeFileSync(last, readFileSync(last).subarray(0, offsets[0]! + 7));
    const log = await openLog(dir);
    expect(log.recovery.lastSeq).toBe(BigInt(firstOfLast - 1));
    expect(log.recovery.truncatedTail).toMatchObject({ file: last, offset: 0, droppedBytes: 7, reason: 'short-header' });
    expect(log.append(payloadOf(firstOfLast))).toBe(BigInt(firstOfLast));
    await log.close();
    const reopened = await openLog(dir);
    expectIntact(await replayAll(reopened), range(1, firstOfLast));
    await reopened.close();
  });

  it('cuts a zero-filled or random tail (lost pages after a power cut) and keeps no quarantine copy', async () => {
    for (const tail of [Buffer.alloc(8192), Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919 + 13) & 0xff))]) {
      const dir = freshDir();
      const [segment] = await buildLog(dir, 50);
      const path = join(dir, segment!);
      const size = statSync(path).size;
      writeFileSync(path, Buffer.concat([readFileSync(path), tail]));
      const log = await openLog(dir);
      expect(log.recovery.lastSeq).toBe(50n);
      expect(log.recovery.truncatedTail).toMatchObject({ offset: size, droppedBytes: tail.length, recordsAfterDamage: 0, quarantineFile: undefined });
      expect(statSync(path).size).toBe(size);
      await log.close();
    }
  });
});

describe('write-ahead log recovery: flipped bits', () => {
  it('detects every single-bit flip of the last record of the last segment and truncates it', async () => {
    const source = freshDir();
    const [segment] = await buildLog(source, 30);
    const offsets = recordOffsets(join(source, segment!));
    const start = offsets[offsets.length - 2]!;
    const end = offsets[offsets.length - 1]!;
    const reasons = new Set<string>();
    for (let bit = start * 8; bit < end * 8; bit++) {
      const dir = freshDir();
      cpSync(source, dir, { recursive: true });
      flipBit(join(dir, segment!), bit);
      const log = await openLog(dir);
      expect(log.recovery.lastSeq, `bit ${bit}`).toBe(29n);
      expect(log.recovery.truncatedTail).toMatchObject({ offset: start, droppedBytes: end - start, seq: 30n, recordsAfterDamage: 0 });
      reasons.add(log.recovery.truncatedTail!.reason);
      expect(log.append(payloadOf(30))).toBe(30n);
      await log.close();
      rmSync(dir, { recursive: true });
    }
    expect([...reasons].sort()).toEqual(['crc-mismatch', 'length-beyond-end', 'length-too-large']);
  });

  it("stop: a flip inside the last segment cuts there, counts the valid records after it and quarantines them", async () => {
    const source = freshDir();
    const [segment] = await buildLog(source, 40);
    const offsets = recordOffsets(join(source, segment!));
    const start = offsets[19]!; // record 20
    const end = offsets[20]!;
    for (let bit = start * 8; bit < end * 8; bit += 5) {
      const dir = freshDir();
      cpSync(source, dir, { recursive: true });
      const path = join(dir, segment!);
      flipBit(path, bit);
      const damaged = readFileSync(path);
      const log = await openLog(dir);
      expect(log.recovery.lastSeq).toBe(19n);
      const tail = log.recovery.truncatedTail!;
      expect(tail).toMatchObject({ offset: start, seq: 20n, recordsAfterDamage: 20 });
      expect(readFileSync(tail.quarantineFile!).equals(damaged.subarray(start))).toBe(true);
      expect(log.append(payloadOf(20))).toBe(20n);
      await log.close();
      rmSync(dir, { recursive: true });
    }
  });

  it('skip: a flip anywhere in a record inside the last segment (every third bit) loses exactly that record', async () => {
    const source = freshDir();
    const [segment] = await buildLog(source, 40);
    const offsets = recordOffsets(join(source, segment!));
    const start = offsets[19]!;
    const end = offsets[20]!;
    for (let bit = start * 8; bit < end * 8; bit += 3) {
      const dir = freshDir();
      cpSync(source, dir, { recursive: true });
      flipBit(join(dir, segment!), bit);
      const log = await openLog(dir, { onCorruptRecord: 'skip' });
      expect(log.recovery).toMatchObject({ lastSeq: 40n, records: 39, skippedRecords: 1, truncatedTail: undefined });
      expect(log.recovery.skipped).toEqual([expect.objectContaining({ offset: start, seq: 20n, count: 1 })]);
      const records = await replayAll(log);
      expectIntact(records, [...range(1, 19), ...range(21, 40)]);
      expect(log.append(payloadOf(41))).toBe(41n);
      await log.close();
      rmSync(dir, { recursive: true });
    }
  });

  it('stop: a flip in an earlier segment throws WalCorruptionError naming the file, offset and sequence, and changes nothing', async () => {
    const dir = freshDir();
    const segments = await buildLog(dir, 300, 2048);
    const second = join(dir, segments[1]!);
    const firstSeq = Number(segments[1]!.slice(0, 20));
    const offsets = recordOffsets(second);
    flipBit(second, offsets[3]! * 8 + 16 * 8 + 5); // a payload bit of the segment's fourth record
    const before = readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).toString('hex')]);
    const error = await openLog(dir).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(WalCorruptionError);
    expect(error).toMatchObject({ file: second, offset: offsets[3], seq: BigInt(firstSeq + 3), reason: 'crc-mismatch' });
    expect((error as Error).message).toContain(second);
    expect((error as Error).message).toContain(`byte ${offsets[3]}`);
    expect((error as Error).message).toContain(`seq ${firstSeq + 3}`);
    expect(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).toString('hex')])).toEqual(before);
  });

  it('skip: a flip in an earlier segment is skipped and counted; replay and appends go on', async () => {
    const dir = freshDir();
    const segments = await buildLog(dir, 300, 2048);
    const second = join(dir, segments[1]!);
    const firstSeq = Number(segments[1]!.slice(0, 20));
    const offsets = recordOffsets(second);
    flipBit(second, offsets[3]! * 8 + 2); // a length bit
    const log = await openLog(dir, { onCorruptRecord: 'skip' });
    expect(log.recovery).toMatchObject({ lastSeq: 300n, records: 299, skippedRecords: 1 });
    expect(log.recovery.skipped).toEqual([{ file: second, offset: offsets[3], seq: BigInt(firstSeq + 3), count: 1, reason: 'crc-mismatch' }]);
    const replayed = await log.replay(1n, () => undefined);
    expect(replayed).toMatchObject({ records: 299, lastSeq: 300n, skipped: log.recovery.skipped });
    expectIntact(await replayAll(log), range(1, 300).filter((s) => s !== firstSeq + 3));
    expect(log.append(payloadOf(301))).toBe(301n);
    await log.close();
  });

  it('skip: damage at the very end of an earlier segment is counted from the next segment name', async () => {
    const dir = freshDir();
    const segments = await buildLog(dir, 300, 2048);
    const second = join(dir, segments[1]!);
    const offsets = recordOffsets(second);
    flipBit(second, offsets.at(-2)! * 8 + 16 * 8);
    const lostSeq = Number(segments[2]!.slice(0, 20)) - 1;
    const log = await openLog(dir, { onCorruptRecord: 'skip' });
    expect(log.recovery.skipped).toEqual([{ file: second, offset: offsets.at(-2), seq: BigInt(lostSeq), count: 1, reason: 'crc-mismatch' }]);
    expectIntact(await replayAll(log), range(1, 300).filter((s) => s !== lostSeq));
    await log.close();
  });
});

describe('write-ahead log recovery: missing segments', () => {
  async function withMissingSegment(policy: CorruptRecordPolicy) {
    const dir = freshDir();
    const segments = await buildLog(dir, 300, 2048);
    unlinkSync(join(dir, segments[2]!));
    const missingFrom = Number(segments[2]!.slice(0, 20));
    const nextFrom = Number(segments[3]!.slice(0, 20));
    return { dir, segments, missingFrom, nextFrom, open: () => openLog(dir, { onCorruptRecord: policy }) };
  }

  it('stop: a gap between segments throws missing-records naming the segment after the gap', async () => {
    const { dir, segments, missingFrom, open } = await withMissingSegment('stop');
    await expect(open()).rejects.toMatchObject({ name: 'WalCorruptionError', file: join(dir, segments[3]!), offset: 0, seq: BigInt(missingFrom), reason: 'missing-records' });
  });

  it('skip: the records of the missing segment are counted', async () => {
    const { missingFrom, nextFrom, open } = await withMissingSegment('skip');
    const log = await open();
    expect(log.recovery.skippedRecords).toBe(nextFrom - missingFrom);
    expectIntact(await replayAll(log), range(1, 300).filter((s) => s < missingFrom || s >= nextFrom));
    await log.close();
  });

  it('a log whose oldest segments were removed opens cleanly from its first remaining segment', async () => {
    const dir = freshDir();
    const segments = await buildLog(dir, 300, 2048);
    for (const s of segments.slice(0, 3)) unlinkSync(join(dir, s));
    const first = Number(segments[3]!.slice(0, 20));
    const log = await openLog(dir);
    expect(log.firstSeq).toBe(BigInt(first));
    expect(log.recovery).toMatchObject({ lastSeq: 300n, skippedRecords: 0 });
    expectIntact(await replayAll(log), range(first, 300));
    expect(existsSync(join(dir, segments[0]!))).toBe(false);
    await log.close();
  });
});

import { crc32c } from '@node-rs/crc32';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crc32cOf } from '../edge-agent/wal/checksum.ts';
import { parseSegmentFileName, segmentFileName } from '../edge-agent/wal/record-format.ts';
import { WalBackpressureError, WalClosedError, type WriteAheadLog, openLog } from '../edge-agent/wal/write-ahead-log.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tv-wal-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A payload of varied length (0 to 299 bytes) whose bytes derive from i. */
function payloadOf(i: number): Buffer {
  const out = Buffer.alloc((i * 37) % 300);
  for (let k = 0; k < out.length; k++) out[k] = (i * 31 + k * 7) & 0xff;
  return out;
}

async function readAll(log: WriteAheadLog, fromSeq = 1n): Promise<{ seq: bigint; payload: Buffer }[]> {
  const out: { seq: bigint; payload: Buffer }[] = [];
  await log.replay(fromSeq, (seq, payload) => {
    out.push({ seq, payload: Buffer.from(payload) });
  });
  return out;
}

describe('write-ahead log: format', () => {
  it('hashes short ranges in JS exactly as the native CRC32C does', () => {
    const bytes = Buffer.alloc(700);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + 17) & 0xff;
    for (let length = 0; length <= 600; length += 1) {
      const start = length % 13;
      expect(crc32cOf(bytes, start, start + length)).toBe(crc32c(bytes.subarray(start, start + length)));
    }
    expect(crc32cOf(Buffer.from('123456789'), 0, 9)).toBe(0xe3069283);
  });

  it('writes the documented record layout (golden bytes)', async () => {
    const log = await openLog(dir);
    expect(log.append(Buffer.from('tick'))).toBe(1n);
    await log.close();
    const bytes = readFileSync(join(dir, '00000000000000000001.wal'));
    const seqAndPayload = Buffer.from('0100000000000000' + Buffer.from('tick').toString('hex'), 'hex');
    const crc = Buffer.alloc(4);
    crc.writeUInt32LE(crc32c(seqAndPayload));
    expect(bytes.toString('hex')).toBe(`04000000${crc.toString('hex')}${seqAndPayload.toString('hex')}`);
  });

  it('names segments by their first sequence in 20 digits', () => {
    expect(segmentFileName(1)).toBe('00000000000000000001.wal');
    expect(parseSegmentFileName('00000000000000004242.wal')).toBe(4242);
    expect(parseSegmentFileName('00000000000000004242.wal.tail-at-10.damaged')).toBeUndefined();
    expect(parseSegmentFileName('00000000000000000000.wal')).toBeUndefined();
  });
});

describe('write-ahead log: append, durability, replay', () => {
  it('replays exactly the payloads appended, in order, with their sequences, after close and reopen', async () => {
    const log = await openLog(dir);
    const seqs: bigint[] = [];
    for (let i = 0; i < 3000; i++) seqs.push(log.append(payloadOf(i)));
    expect(seqs[0]).toBe(1n);
    expect(seqs.at(-1)).toBe(3000n);
    await log.close();

    const reopened = await openLog(dir);
    expect(reopened.recovery).toMatchObject({ records: 3000, lastSeq: 3000n, truncatedTail: undefined, skippedRecords: 0 });
    expect(reopened.durableSeq).toBe(3000n);
    const records = await readAll(reopened);
    expect(records.map((r) => r.seq)).toEqual(seqs);
    records.forEach((r, i) => expect(r.payload.equals(payloadOf(i))).toBe(true));
    await reopened.close();
  });

  it('continues with the next sequence after every reopen', async () => {
    let expected = 1n;
    for (let cycle = 0; cycle < 4; cycle++) {
      const log = await openLog(dir, { segmentBytes: 2048 });
      for (let i = 0; i < 50; i++) expect(log.append(payloadOf(Number(expected)))).toBe(expected++);
      await log.close();
    }
    const log = await openLog(dir);
    const records = await readAll(log);
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => BigInt(i + 1)));
    records.forEach((r) => expect(r.payload.equals(payloadOf(Number(r.seq)))).toBe(true));
    await log.close();
  });

  it('makes records durable by group commit: whenDurable, onDurable and flush agree', async () => {
    const durable: bigint[] = [];
    const log = await openLog(dir, { fsyncIntervalMs: 5, onDurable: (seq) => durable.push(seq) });
    let last = 0n;
    for (let i = 0; i < 500; i++) last = log.append(payloadOf(i));
    expect(log.durableSeq).toBe(0n);
    await log.whenDurable(last);
    expect(log.durableSeq).toBe(500n);
    expect(durable.at(-1)).toBe(500n);
    // One group commit took all 500 appends of the same tick.
    expect(log.stats().fsyncs).toBe(1);

    const a = log.append(payloadOf(1));
    const b = log.append(payloadOf(2));
    const order: string[] = [];
    await Promise.all([log.whenDurable(b).then(() => order.push('b')), log.whenDurable(a).then(() => order.push('a'))]);
    expect(order.sort()).toEqual(['a', 'b']);
    expect(log.durableSeq).toBe(502n);
    await expect(log.whenDurable(503n)).rejects.toThrow(RangeError);
    await expect(log.whenDurable(1n)).resolves.toBeUndefined();

    log.append(payloadOf(3));
    await log.flush();
    expect(log.durableSeq).toBe(503n);
    expect([...durable]).toEqual([...durable].sort((x, y) => (x < y ? -1 : 1)));
    const stats = log.stats();
    expect(stats).toMatchObject({ recordsAppended: 503, pendingRecords: 0, pendingBytes: 0, writeErrors: 0, stalledBy: undefined });
    expect(stats.fsyncLatency.count).toBe(stats.fsyncs);
    expect(stats.fsyncLatency.buckets.at(-1)?.count).toBe(stats.fsyncs);
    expect(stats.fsyncLatency.p99Ms).toBeGreaterThan(0);
    await log.close();
  });

  it('rolls segments at the configured size, names each by its first sequence, and replays across them', async () => {
    const log = await openLog(dir, { segmentBytes: 4096 });
    for (let i = 0; i < 2000; i++) log.append(payloadOf(i));
    await log.flush();
    const files = readdirSync(dir).sort();
    expect(files.length).toBeGreaterThan(50);
    expect(files).toEqual(log.segmentFiles());
    const firsts = files.map((f) => parseSegmentFileName(f) ?? 0);
    expect(firsts[0]).toBe(1);
    for (let i = 1; i < firsts.length; i++) expect(firsts[i]!).toBeGreaterThan(firsts[i - 1]!);
    for (const file of files) expect(statSync(join(dir, file)).size).toBeLessThanOrEqual(4096);
    const reopenedRecords: bigint[] = [];
    await log.close();
    const reopened = await openLog(dir, { segmentBytes: 4096 });
    await reopened.replay(1n, (seq) => {
      reopenedRecords.push(seq);
    });
    expect(reopenedRecords).toEqual(Array.from({ length: 2000 }, (_, i) => BigInt(i + 1)));
    const fromMiddle = await readAll(reopened, 1234n);
    expect(fromMiddle[0]?.seq).toBe(1234n);
    expect(fromMiddle).toHaveLength(2000 - 1233);
    expect(fromMiddle[0]?.payload.equals(payloadOf(1233))).toBe(true);
    expect(reopened.append(payloadOf(2000))).toBe(2001n);
    await reopened.close();
  });

  it('removes only whole segments below a sequence, never the active one, and keeps replay and reopen working', async () => {
    const log = await openLog(dir, { segmentBytes: 1024 });
    for (let i = 0; i < 400; i++) log.append(payloadOf(i));
    await log.flush();
    const before = log.segmentFiles();
    const firsts = before.map((f) => parseSegmentFileName(f) ?? 0);
    // A bound inside the fourth segment removes the first three only.
    const bound = BigInt(firsts[3]! + 1);
    expect(await log.removeSegmentsBelow(bound)).toEqual(before.slice(0, 3));
    expect(log.segmentFiles()).toEqual(before.slice(3));
    expect(readdirSync(dir).sort()).toEqual(before.slice(3));
    expect(log.firstSeq).toBe(BigInt(firsts[3]!));
    // The bound equal to a segment's first sequence removes every segment before it.
    expect(await log.removeSegmentsBelow(BigInt(firsts[5]!))).toEqual(before.slice(3, 5));
    const replayed = await readAll(log, 1n);
    expect(replayed[0]?.seq).toBe(BigInt(firsts[5]!));
    expect(replayed.at(-1)?.seq).toBe(400n);
    // Everything below a bound past the end: all but the active segment.
    expect(await log.removeSegmentsBelow(10_000n)).toEqual(before.slice(5, -1));
    expect(log.segmentFiles()).toEqual([before.at(-1)]);
    expect(log.stats().segmentsRemoved).toBe(before.length - 1);
    expect(log.append(payloadOf(400))).toBe(401n);
    await log.close();

    const reopened = await openLog(dir, { segmentBytes: 1024 });
    expect(reopened.lastSeq).toBe(401n);
    const tail = await readAll(reopened);
    expect(tail[0]?.seq).toBe(BigInt(firsts.at(-1)!));
    expect(tail.at(-1)?.payload.equals(payloadOf(400))).toBe(true);
    await reopened.close();
  });

  it('keeps the sequence when only an empty active segment is left', async () => {
    const log = await openLog(dir, { segmentBytes: 200 });
    for (let i = 0; i < 10; i++) log.append(Buffer.alloc(150, i));
    await log.flush();
    expect(await log.removeSegmentsBelow(11n)).toHaveLength(9);
    await log.close();
    const reopened = await openLog(dir);
    expect(reopened.lastSeq).toBe(10n);
    expect(reopened.append(Buffer.from('next'))).toBe(11n);
    await reopened.close();
  });

  it('starts an empty directory at initialSeq', async () => {
    const log = await openLog(join(dir, 'nested', 'wal'), { initialSeq: 1000n });
    expect(log.recovery).toMatchObject({ records: 0, lastSeq: undefined, segments: 1 });
    expect(log.durableSeq).toBe(999n);
    expect(log.append(Buffer.alloc(0))).toBe(1000n);
    await log.close();
    expect(readdirSync(join(dir, 'nested', 'wal'))).toEqual(['00000000000000001000.wal']);
    const reopened = await openLog(join(dir, 'nested', 'wal'), { initialSeq: 5n });
    const records = await readAll(reopened);
    expect(records).toEqual([{ seq: 1000n, payload: Buffer.alloc(0) }]);
    await reopened.close();
  });

  it('replays records larger than the read window and awaits an async visitor', async () => {
    const log = await openLog(dir, { readWindowBytes: 64 * 1024 });
    const big = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 13) & 0xff;
    log.append(Buffer.from('small'));
    log.append(big);
    log.append(Buffer.from('after'));
    await log.flush();
    const seen: string[] = [];
    const result = await log.replay(1n, async (seq, payload) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      seen.push(`${seq}:${payload.length}:${crc32c(payload)}`);
    });
    expect(seen).toEqual([`1:5:${crc32c(Buffer.from('small'))}`, `2:${big.length}:${crc32c(big)}`, `3:5:${crc32c(Buffer.from('after'))}`]);
    expect(result).toMatchObject({ records: 3, firstSeq: 1n, lastSeq: 3n, skipped: [] });
    await log.close();
  });

  it('refuses appends after close, oversize payloads, and waits for pending records on close', async () => {
    const log = await openLog(dir, { fsyncIntervalMs: 1000 });
    const seq = log.append(Buffer.from('pending'));
    const durable = log.whenDurable(seq);
    expect(() => log.append(Buffer.alloc(16 * 1024 * 1024 + 1))).toThrow(RangeError);
    await log.close();
    await durable;
    expect(() => log.append(Buffer.from('late'))).toThrow(WalClosedError);
    const reopened = await openLog(dir);
    expect((await readAll(reopened)).map((r) => r.payload.toString())).toEqual(['pending']);
    await reopened.close();
  });

  it('discards pending records on close({ discardPending }) and rejects their waiters', async () => {
    const log = await openLog(dir, { fsyncIntervalMs: 1000 });
    log.append(Buffer.from('kept'));
    await log.flush();
    const rejected = expect(log.whenDurable(log.append(Buffer.from('dropped')))).rejects.toThrow(WalClosedError);
    await log.close({ discardPending: true });
    await rejected;
    const reopened = await openLog(dir);
    expect((await readAll(reopened)).map((r) => r.payload.toString())).toEqual(['kept']);
    await reopened.close();
  });

  it('throws WalBackpressureError past maxPendingBytes without taking a sequence, and accepts again once durable', async () => {
    const log = await openLog(dir, { maxPendingBytes: 10_000, fsyncIntervalMs: 1000, commitAtBytes: 1_000_000 });
    let accepted = 0;
    let refusal: unknown;
    for (let i = 0; i < 1000; i++) {
      try {
        log.append(Buffer.alloc(100, i));
        accepted++;
      } catch (error) {
        refusal = error;
        break;
      }
    }
    expect(refusal).toBeInstanceOf(WalBackpressureError);
    expect(refusal).toMatchObject({ pendingBytes: accepted * 116, maxPendingBytes: 10_000, stalledBy: undefined });
    expect(accepted).toBe(Math.floor(10_000 / 116));
    await log.flush();
    expect(log.append(Buffer.alloc(100))).toBe(BigInt(accepted + 1));
    await log.close();
  });
});

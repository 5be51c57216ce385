/**
 * Disk faults: an injected file system layer (over the real one) runs out of space, writes short, fails fsync and
 * truncate; then the same against a real 1 MiB tmpfs when this machine lets us mount one.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type WalFile, type WalFileSystem, nodeWalFileSystem } from '../edge-agent/wal/wal-file-system.ts';
import { WalBackpressureError, WalClosedError, type WalWriteError, type WriteAheadLog, openLog } from '../edge-agent/wal/write-ahead-log.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tv-wal-faults-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function errno(code: string, syscall: string): Error {
  return Object.assign(new Error(`${code}: simulated, ${syscall}`), { code, syscall });
}

/** The real file system with a byte budget shared by all files, short writes and scripted failures. */
class FaultyFileSystem implements WalFileSystem {
  /** Bytes all files opened through this layer may hold together. */
  capacityBytes = Infinity;
  /** A write call writes at most this many bytes. */
  maxWriteBytes = Infinity;
  /** The next N calls of each kind fail. */
  failDatasyncs = 0;
  failTruncates = 0;
  failCreates = 0;
  readonly events: string[] = [];
  private readonly sizes = new Map<string, number>();

  get usedBytes(): number {
    let sum = 0;
    for (const size of this.sizes.values()) sum += size;
    return sum;
  }

  async open(path: string, mode: 'read' | 'write' | 'create'): Promise<WalFile> {
    if (mode === 'create' && this.failCreates > 0) {
      this.failCreates--;
      this.events.push('create:ENOSPC');
      throw errno('ENOSPC', 'open');
    }
    const file = await nodeWalFileSystem.open(path, mode);
    this.sizes.set(path, await file.sizeBytes());
    return {
      read: (into, position) => file.read(into, position),
      write: async (data, position) => {
        const size = this.sizes.get(path) ?? 0;
        const room = size + (this.capacityBytes - this.usedBytes) - position;
        const n = Math.min(data.byteLength, this.maxWriteBytes, room);
        if (n <= 0) {
          this.events.push('write:ENOSPC');
          throw errno('ENOSPC', 'write');
        }
        const written = await file.write(data.subarray(0, n), position);
        this.sizes.set(path, Math.max(size, position + written));
        this.events.push(written < data.byteLength ? 'write:short' : 'write');
        return written;
      },
      datasync: async () => {
        if (this.failDatasyncs > 0) {
          this.failDatasyncs--;
          this.events.push('datasync:EIO');
          throw errno('EIO', 'fdatasync');
        }
        this.events.push('datasync');
        await file.datasync();
      },
      truncate: async (lengthBytes) => {
        if (this.failTruncates > 0) {
          this.failTruncates--;
          this.events.push('truncate:EIO');
          throw errno('EIO', 'ftruncate');
        }
        this.events.push(`truncate:${lengthBytes}`);
        await file.truncate(lengthBytes);
        this.sizes.set(path, lengthBytes);
      },
      sizeBytes: () => file.sizeBytes(),
      close: () => file.close(),
    };
  }

  list(d: string): Promise<string[]> {
    return nodeWalFileSystem.list(d);
  }

  async remove(path: string): Promise<void> {
    await nodeWalFileSystem.remove(path);
    this.sizes.delete(path);
  }

  makeDirectory(d: string): Promise<void> {
    return nodeWalFileSystem.makeDirectory(d);
  }

  syncDirectory(d: string): Promise<void> {
    return nodeWalFileSystem.syncDirectory(d);
  }
}

function payloadOf(seq: number): Buffer {
  const out = Buffer.alloc(40 + (seq % 90));
  out.writeUInt32LE(seq, 0);
  for (let k = 4; k < out.length; k++) out[k] = (seq * 17 + k) & 0xff;
  return out;
}

async function expectIntactLog(path: string, count: number): Promise<void> {
  const log = await openLog(path);
  expect(log.recovery).toMatchObject({ truncatedTail: undefined, skippedRecords: 0, lastSeq: count === 0 ? undefined : BigInt(count) });
  let expected = 1n;
  await log.replay(1n, (seq, payload) => {
    expect(seq).toBe(expected++);
    expect(Buffer.from(payload).equals(payloadOf(Number(seq)))).toBe(true);
  });
  expect(expected).toBe(BigInt(count + 1));
  await log.close();
}

/** Copies the log directory as it is on disk right now (a crash at this instant) and checks the copy opens clean. */
function snapshotOf(log: WriteAheadLog): string {
  const copy = mkdtempSync(join(dir, 'copy-'));
  cpSync(log.dir, copy, { recursive: true });
  return copy;
}

describe('write-ahead log with an injected failing file system', () => {
  it('completes short writes and loses nothing', async () => {
    const fs = new FaultyFileSystem();
    fs.maxWriteBytes = 61;
    const log = await openLog(join(dir, 'wal'), { fileSystem: fs, segmentBytes: 8192 });
    for (let seq = 1; seq <= 2000; seq++) log.append(payloadOf(seq));
    await log.flush();
    expect(fs.events).toContain('write:short');
    expect(log.stats().writeErrors).toBe(0);
    await log.close();
    await expectIntactLog(join(dir, 'wal'), 2000);
  });

  it('on ENOSPC keeps records pending, leaves no partial record on disk, and writes them all once space returns', async () => {
    const fs = new FaultyFileSystem();
    fs.capacityBytes = 50_000;
    const errors: WalWriteError[] = [];
    let crashCopy: { path: string; durableSeq: bigint } | undefined;
    const log: WriteAheadLog = await openLog(join(dir, 'wal'), {
      fileSystem: fs, fsyncIntervalMs: 5, retryDelayMs: 10,
      onWriteError: (error) => {
        errors.push(error);
        // A crash right now: the disk must hold exactly the durable records, no half record.
        crashCopy ??= { path: snapshotOf(log), durableSeq: log.durableSeq };
      },
    });
    for (let seq = 1; seq <= 200; seq++) log.append(payloadOf(seq));
    await log.flush();
    let last = 0n;
    for (let seq = 201; seq <= 2000; seq++) last = log.append(payloadOf(seq));
    while (errors.length < 3) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(errors[0]).toMatchObject({ name: 'WalWriteError', code: 'ENOSPC', operation: 'write' });
    expect(log.durableSeq).toBeLessThan(last);
    expect(log.stats().stalledBy?.code).toBe('ENOSPC');
    expect(fs.events).toContain('write:short');

    const copy = crashCopy!;
    const reopened = await openLog(copy.path);
    expect(reopened.recovery.truncatedTail).toBeUndefined();
    expect(copy.durableSeq).toBe(200n);
    expect(reopened.recovery.lastSeq).toBe(200n);
    await reopened.close();

    fs.capacityBytes = Infinity;
    await log.whenDurable(last);
    expect(log.stats()).toMatchObject({ stalledBy: undefined, pendingBytes: 0 });
    expect(log.stats().writeErrors).toBeGreaterThanOrEqual(3);
    await log.close();
    await expectIntactLog(join(dir, 'wal'), 2000);
  });

  it('under a lasting ENOSPC, refuses appends past maxPendingBytes with the disk error as cause, then recovers', async () => {
    const fs = new FaultyFileSystem();
    fs.capacityBytes = 0;
    let firstError: (() => void) | undefined;
    const failed = new Promise<void>((resolve) => {
      firstError = resolve;
    });
    const log = await openLog(join(dir, 'wal'), { fileSystem: fs, maxPendingBytes: 20_000, fsyncIntervalMs: 2, retryDelayMs: 5, onWriteError: () => firstError?.() });
    let accepted = 0;
    log.append(payloadOf(++accepted));
    await failed;
    let refusal: unknown;
    for (;;) {
      try {
        log.append(payloadOf(accepted + 1));
        accepted++;
      } catch (error) {
        refusal = error;
        break;
      }
    }
    expect(refusal).toBeInstanceOf(WalBackpressureError);
    const backpressure = refusal as WalBackpressureError;
    expect(backpressure.stalledBy?.code).toBe('ENOSPC');
    expect(backpressure.cause).toBe(backpressure.stalledBy);
    expect(backpressure.message).toContain('ENOSPC');
    expect(log.stats().pendingRecords).toBe(accepted);

    fs.capacityBytes = Infinity;
    await log.whenDurable(BigInt(accepted));
    expect(log.append(payloadOf(accepted + 1))).toBe(BigInt(accepted + 1));
    await log.close();
    await expectIntactLog(join(dir, 'wal'), accepted + 1);
  });

  it('after a failed fdatasync truncates back and rewrites, without duplicates', async () => {
    const fs = new FaultyFileSystem();
    fs.failDatasyncs = 1;
    const log = await openLog(join(dir, 'wal'), { fileSystem: fs, retryDelayMs: 5 });
    let last = 0n;
    for (let seq = 1; seq <= 300; seq++) last = log.append(payloadOf(seq));
    await log.whenDurable(last);
    const failedAt = fs.events.indexOf('datasync:EIO');
    expect(failedAt).toBeGreaterThanOrEqual(0);
    expect(fs.events[failedAt + 1]).toBe('truncate:0');
    expect(log.stats()).toMatchObject({ writeErrors: 1, stalledBy: undefined });
    await log.close();
    await expectIntactLog(join(dir, 'wal'), 300);
  });

  it('when the truncate after a partial write fails too, retries the truncate first; a crash meanwhile recovers clean', async () => {
    const fs = new FaultyFileSystem();
    const errors: WalWriteError[] = [];
    const log = await openLog(join(dir, 'wal'), { fileSystem: fs, fsyncIntervalMs: 2, retryDelayMs: 5, onWriteError: (e) => errors.push(e) });
    for (let seq = 1; seq <= 100; seq++) log.append(payloadOf(seq));
    await log.flush();
    const durableBytes = fs.usedBytes;
    fs.capacityBytes = durableBytes + 1000;
    fs.failTruncates = 2;
    let last = 0n;
    for (let seq = 101; seq <= 400; seq++) last = log.append(payloadOf(seq));
    while (errors.length < 2) await new Promise((resolve) => setTimeout(resolve, 2));
    expect(errors.map((e) => e.operation)).toEqual(['write', 'truncate']);
    // The partial write is still on disk (both truncates failed): a crash now keeps its complete records (valid,
    // though never acknowledged) and cuts the torn one.
    const copy = snapshotOf(log);
    const crashed = await openLog(copy);
    const tail = crashed.recovery.truncatedTail!;
    expect(tail).toMatchObject({ recordsAfterDamage: 0 });
    expect(tail.offset + tail.droppedBytes).toBe(durableBytes + 1000);
    expect(crashed.recovery.lastSeq).toBe(tail.seq - 1n);
    expect(tail.seq).toBeGreaterThan(100n);
    await crashed.close();
    await expectIntactLog(copy, Number(tail.seq - 1n));

    fs.capacityBytes = Infinity;
    await log.whenDurable(last);
    expect(fs.events.filter((e) => e.startsWith('truncate')).slice(0, 3)).toEqual(['truncate:EIO', 'truncate:EIO', `truncate:${durableBytes}`]);
    await log.close();
    await expectIntactLog(join(dir, 'wal'), 400);
  });

  it('close() on a full disk rejects and keeps the records; a second close() drains once space returns', async () => {
    const fs = new FaultyFileSystem();
    const log = await openLog(join(dir, 'wal'), { fileSystem: fs, fsyncIntervalMs: 1000, retryDelayMs: 1000 });
    for (let seq = 1; seq <= 10; seq++) log.append(payloadOf(seq));
    await log.flush();
    fs.capacityBytes = fs.usedBytes;
    for (let seq = 11; seq <= 20; seq++) log.append(payloadOf(seq));
    await expect(log.close()).rejects.toMatchObject({ name: 'WalWriteError', code: 'ENOSPC' });
    expect(() => log.append(payloadOf(21))).toThrow(WalClosedError);
    expect(log.stats().pendingRecords).toBe(10);
    fs.capacityBytes = Infinity;
    await log.close();
    await expectIntactLog(join(dir, 'wal'), 20);
  });

  it('close({ discardPending }) after a failed close drops only records never made durable', async () => {
    const fs = new FaultyFileSystem();
    const log = await openLog(join(dir, 'wal'), { fileSystem: fs, fsyncIntervalMs: 1000, retryDelayMs: 1000 });
    for (let seq = 1; seq <= 10; seq++) log.append(payloadOf(seq));
    await log.flush();
    fs.capacityBytes = fs.usedBytes;
    const lost = log.whenDurable(log.append(payloadOf(11)));
    const rejected = expect(lost).rejects.toBeInstanceOf(WalClosedError);
    const draining = log.close();
    const forced = log.close({ discardPending: true });
    await expect(draining).rejects.toMatchObject({ code: 'ENOSPC' });
    await forced;
    await rejected;
    await expectIntactLog(join(dir, 'wal'), 10);
  });

  it('retries a segment roll that failed with ENOSPC', async () => {
    const fs = new FaultyFileSystem();
    const errors: WalWriteError[] = [];
    const log = await openLog(join(dir, 'wal'), { fileSystem: fs, segmentBytes: 1024, retryDelayMs: 5, onWriteError: (e) => errors.push(e) });
    fs.failCreates = 2;
    let last = 0n;
    for (let seq = 1; seq <= 100; seq++) last = log.append(payloadOf(seq));
    await log.whenDurable(last);
    expect(errors.map((e) => [e.operation, e.code])).toEqual([['create-segment', 'ENOSPC'], ['create-segment', 'ENOSPC']]);
    expect(log.segmentFiles().length).toBeGreaterThan(5);
    await log.close();
    await expectIntactLog(join(dir, 'wal'), 100);
  });
});

describe('write-ahead log on a real full file system', () => {
  it('survives ENOSPC on a 1 MiB tmpfs and loses nothing once space returns', async (ctx) => {
    const mountPoint = mkdtempSync(join(tmpdir(), 'tv-wal-tmpfs-'));
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint], { encoding: 'utf8' });
    if (mount.status !== 0) {
      rmSync(mountPoint, { recursive: true, force: true });
      ctx.skip(`cannot mount a tmpfs here (${(mount.stderr || mount.error?.message || `status ${mount.status}`).trim()}); the injected ENOSPC tests cover this path`);
    }
    try {
      const filler = join(mountPoint, 'filler');
      writeFileSync(filler, Buffer.alloc(880 * 1024, 1));
      const errors: WalWriteError[] = [];
      let crashCopy: { path: string; durableSeq: bigint } | undefined;
      const log: WriteAheadLog = await openLog(join(mountPoint, 'wal'), {
        segmentBytes: 64 * 1024, fsyncIntervalMs: 2, retryDelayMs: 10, maxPendingBytes: 2 * 1024 * 1024,
        onWriteError: (error) => {
          errors.push(error);
          crashCopy ??= { path: snapshotOf(log), durableSeq: log.durableSeq };
        },
      });
      let last = 0n;
      for (let seq = 1; seq <= 3000; seq++) last = log.append(payloadOf(seq));
      while (errors.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(errors[0]?.code).toBe('ENOSPC');
      expect(log.durableSeq).toBeLessThan(last);
      const copy = await openLog(crashCopy!.path);
      expect(copy.recovery.truncatedTail).toBeUndefined();
      expect(copy.recovery.lastSeq).toBe(crashCopy!.durableSeq === 0n ? undefined : crashCopy!.durableSeq);
      await copy.close();

      rmSync(filler);
      await log.whenDurable(last);
      await log.close();
      await expectIntactLog(join(mountPoint, 'wal'), 3000);
    } finally {
      spawnSync('umount', [mountPoint]);
      rmSync(mountPoint, { recursive: true, force: true });
    }
  });
});

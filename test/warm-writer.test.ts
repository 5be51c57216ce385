/**
 * The warm writer: partitions by event time (not arrival time) across midnight and month ends, is unaffected by
 * wall-clock jumps, seals under memory pressure, and keeps rows through a disk that refuses writes. Its files are
 * written whole or not at all, and the checksum it records is the checksum of the file on disk.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TradeRow } from '../core/datasets.ts';
import { parseIsoInstantNs } from '../core/time.ts';
import { writeFileAtomicWith } from '../edge-agent/warm/atomic-file.ts';
import { type SealedFile, WarmWriter } from '../edge-agent/warm/warm-writer.ts';
import { duckdbRows, sqlPath } from './support/duckdb.ts';

function trade(iso: string, id: number, symbol = 'AAPL'): TradeRow {
  const ts = parseIsoInstantNs(iso);
  return { ts, ts_ns: ts, symbol, trade_id: BigInt(id), price: 100 + id / 100, size: 1, exchange: 'V', conditions: '', tape: 'C' };
}

describe('event-time partitioning', () => {
  it('splits across midnight and a month end by event time, whatever the wall clock says', async () => {
    const warmDir = mkdtempSync(join(tmpdir(), 'tv-writer-'));
    let wallMs = Date.parse('2030-06-15T12:00:00Z');
    const sealed: SealedFile[] = [];
    const writer = new WarmWriter({ warmDir, flushIntervalMs: 60_000, maxRowsPerFile: 1_000_000, nowMs: () => wallMs, onSealed: (f) => sealed.push(f) });
    const times = [
      '2024-01-31T23:59:59.999999999Z', '2024-02-01T00:00:00Z', '2024-02-29T23:59:59.5Z', '2024-03-01T00:00:00.000000001Z',
      '2024-12-31T23:59:59.999999999Z', '2025-01-01T00:00:00Z',
    ];
    times.forEach((t, i) => writer.append('trades', trade(t, i), BigInt(i + 1)));
    // An out-of-order late event for a day already seen goes to that day's partition.
    writer.append('trades', trade('2024-01-31T12:00:00Z', 99), 7n);
    wallMs -= 3_600_000; // the wall clock jumps back an hour: nothing is sealed early, nothing breaks
    await writer.flushDue();
    expect(sealed).toHaveLength(0);
    wallMs += 2 * 3_600_000; // and forward past the flush interval
    await writer.flushDue();
    await writer.close();
    const dates = sealed.map((f) => f.ref.date).sort();
    expect(dates).toEqual(['2024-01-31', '2024-02-01', '2024-02-29', '2024-03-01', '2024-12-31', '2025-01-01']);
    const jan31 = sealed.find((f) => f.ref.date === '2024-01-31');
    expect(jan31?.rows).toBe(2);
    expect(jan31?.walSeq).toBe(7n);
    const rows = await duckdbRows(`SELECT date::VARCHAR AS date, count(*)::INTEGER AS n FROM read_parquet(${sqlPath(join(warmDir, 'trades', '**', '*.parquet'))}, hive_partitioning = true) GROUP BY ALL ORDER BY 1`);
    expect(rows.map((r) => r['date'])).toEqual(dates);
  });
});

describe('memory pressure and a disk that refuses writes', () => {
  it('seals the largest buffers early when buffered bytes pass the bound', async () => {
    const warmDir = mkdtempSync(join(tmpdir(), 'tv-writer-'));
    const sealed: SealedFile[] = [];
    const writer = new WarmWriter({ warmDir, flushIntervalMs: 1e12, maxRowsPerFile: 1e9, maxBufferedBytes: 200_000, onSealed: (f) => sealed.push(f) });
    for (let i = 0; i < 20_000; i++) writer.append('trades', trade(`2024-05-0${1 + (i % 3)}T10:00:00Z`, i, i % 2 === 0 ? 'AAPL' : 'MSFT'), BigInt(i + 1));
    await writer.flushDue();
    expect(writer.stats.memoryPressureSeals).toBeGreaterThan(0);
    expect(writer.bufferedBytes()).toBeLessThanOrEqual(200_000);
    expect(sealed.length).toBeGreaterThan(0);
    await writer.close();
  });

  it('keeps rows through failed writes and writes them once the disk takes them again', async () => {
    const warmDir = mkdtempSync(join(tmpdir(), 'tv-writer-'));
    let failing = true;
    const errors: string[] = [];
    const sealed: SealedFile[] = [];
    const writer = new WarmWriter({
      warmDir, flushIntervalMs: 0, maxRowsPerFile: 1e9,
      onSealed: (f) => {
        if (failing) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        sealed.push(f);
      },
      onWriteError: (e) => errors.push(e.message),
    });
    for (let i = 0; i < 500; i++) writer.append('trades', trade('2024-05-01T10:00:00Z', i), BigInt(i + 1));
    await writer.flushDue();
    await writer.flushDue();
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(writer.stats.writeErrors).toBe(errors.length);
    expect(writer.minUnsealedSeq()).toBe(1n); // still owed: the log keeps these records
    // A failed seal leaves no file behind to be counted twice.
    expect(readdirSync(join(warmDir, 'trades', 'date=2024-05-01', 'symbol=AAPL')).filter((f) => f.endsWith('.parquet'))).toEqual([]);
    failing = false;
    await writer.flushAll();
    expect(sealed).toHaveLength(1);
    expect(sealed[0]?.rows).toBe(500);
    expect(writer.minUnsealedSeq()).toBeUndefined();
    await writer.close();
  });
});

describe('whole files', () => {
  it('records the size and SHA-256 of the file on disk, and leaves no temporary file', async () => {
    const warmDir = mkdtempSync(join(tmpdir(), 'tv-writer-'));
    const sealed: SealedFile[] = [];
    const writer = new WarmWriter({ warmDir, flushIntervalMs: 0, maxRowsPerFile: 1e9, onSealed: (f) => sealed.push(f) });
    for (let i = 0; i < 5000; i++) writer.append('trades', trade('2024-05-01T10:00:00Z', i), BigInt(i + 1));
    await writer.flushAll();
    await writer.close();
    expect(sealed).toHaveLength(1);
    const file = readFileSync(sealed[0]?.absPath ?? '');
    expect([sealed[0]?.bytes, sealed[0]?.sha256]).toEqual([file.byteLength, createHash('sha256').update(file).digest('base64')]);
    expect(readdirSync(join(warmDir, 'trades', 'date=2024-05-01', 'symbol=AAPL'))).toEqual(['part-00000.parquet']);
  });

  it('a write that fails part-way leaves neither the file nor its temporary file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tv-atomic-'));
    const target = join(dir, 'part-00000.parquet');
    await expect(writeFileAtomicWith(target, async (temp) => {
      await writeFile(temp, 'half a file');
      throw new Error('disk went away');
    })).rejects.toThrow('disk went away');
    expect(readdirSync(dir)).toEqual([]);
  });
});

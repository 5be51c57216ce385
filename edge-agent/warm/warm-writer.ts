/**
 * The warm writer: buffers rows per (dataset, date, symbol) in columnar batches and seals each buffer into an
 * immutable Parquet part file when it is old enough, large enough, or the agent stops.
 */
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ColumnarBatch } from '../../core/codec/columnar-batch.ts';
import { encodeParquet } from '../../core/codec/parquet-file.ts';
import { type DatasetName, type RowOf, SCHEMA_VERSION } from '../../core/datasets.ts';
import { type WarmFileRef, warmFilePath, warmPartitionPath } from '../../core/layout.ts';
import { dateOfNs } from '../../core/time.ts';
import { writeFileAtomic } from './atomic-file.ts';

export interface SealedFile {
  readonly ref: WarmFileRef;
  /** Path relative to the warm directory; also the key under the store's warm/ prefix. */
  readonly relPath: string;
  readonly absPath: string;
  readonly rows: number;
  readonly bytes: number;
  readonly minTsNs: bigint;
  readonly maxTsNs: bigint;
  readonly sha256: string;
  readonly schemaVersion: number;
}

export interface WarmWriterOptions {
  readonly warmDir: string;
  /** A buffer older than this is sealed at the next flush check. */
  readonly flushIntervalMs: number;
  /** A buffer reaching this many rows is sealed at once. */
  readonly maxRowsPerFile: number;
  readonly onSealed: (file: SealedFile) => void;
  /** Milliseconds clock for buffer ages; injectable for tests. */
  readonly nowMs?: () => number;
}

interface Buffer<D extends DatasetName = DatasetName> {
  readonly dataset: D;
  readonly date: string;
  readonly symbol: string;
  batch: ColumnarBatch<D>;
  openedAtMs: number;
  minTsNs: bigint;
  maxTsNs: bigint;
}

export class WarmWriter {
  private readonly buffers = new Map<string, Buffer>();
  private readonly nextPart = new Map<string, number>();
  private queue: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private readonly nowMs: () => number;
  readonly stats = { rowsBuffered: 0, rowsWritten: {} as Record<string, number>, filesWritten: 0, bytesWritten: 0 };

  constructor(private readonly options: WarmWriterOptions) {
    this.nowMs = options.nowMs ?? Date.now;
  }

  /** Buffers a row in its partition, by the row's event time. */
  append<D extends DatasetName>(dataset: D, row: RowOf<D>): void {
    if (this.failure !== undefined) throw this.failure;
    const ts = (row as { ts: bigint }).ts;
    const symbol = (row as { symbol: string }).symbol;
    const date = dateOfNs(ts);
    const key = `${dataset}\u0000${date}\u0000${symbol}`;
    let buffer = this.buffers.get(key) as Buffer<D> | undefined;
    if (buffer === undefined) {
      buffer = { dataset, date, symbol, batch: new ColumnarBatch(dataset, 1024), openedAtMs: this.nowMs(), minTsNs: ts, maxTsNs: ts };
      this.buffers.set(key, buffer as unknown as Buffer);
    }
    buffer.batch.append(row);
    if (ts < buffer.minTsNs) buffer.minTsNs = ts;
    if (ts > buffer.maxTsNs) buffer.maxTsNs = ts;
    this.stats.rowsBuffered++;
    if (buffer.batch.length >= this.options.maxRowsPerFile) this.seal(key);
  }

  /** Seals every buffer older than the flush interval. Resolves when those files are durable. */
  flushDue(): Promise<void> {
    const now = this.nowMs();
    for (const [key, buffer] of this.buffers) {
      if (now - buffer.openedAtMs >= this.options.flushIntervalMs) this.seal(key);
    }
    return this.settled();
  }

  /** Seals every buffer. Resolves when every file is durable. */
  flushAll(): Promise<void> {
    for (const key of [...this.buffers.keys()]) this.seal(key);
    return this.settled();
  }

  get bufferedRows(): number {
    return this.stats.rowsBuffered;
  }

  private async settled(): Promise<void> {
    await this.queue;
    if (this.failure !== undefined) throw this.failure;
  }

  private seal(key: string): void {
    const buffer = this.buffers.get(key);
    if (buffer === undefined || buffer.batch.length === 0) return;
    this.buffers.delete(key);
    // Files are written one at a time, in seal order, so part numbers rise with time within a partition.
    this.queue = this.queue.then(() => this.write(buffer)).catch((error: unknown) => {
      this.failure ??= error instanceof Error ? error : new Error(String(error));
    });
  }

  private async write(buffer: Buffer): Promise<void> {
    const partitionPath = warmPartitionPath(buffer.dataset, buffer.date, buffer.symbol);
    const part = await this.allocatePart(partitionPath);
    const ref: WarmFileRef = { dataset: buffer.dataset, date: buffer.date, symbol: buffer.symbol, part };
    const relPath = warmFilePath(ref);
    const absPath = join(this.options.warmDir, relPath);
    const bytes = encodeParquet(buffer.batch);
    await writeFileAtomic(absPath, bytes);
    const rows = buffer.batch.length;
    this.stats.rowsBuffered -= rows;
    this.stats.rowsWritten[buffer.dataset] = (this.stats.rowsWritten[buffer.dataset] ?? 0) + rows;
    this.stats.filesWritten++;
    this.stats.bytesWritten += bytes.byteLength;
    this.options.onSealed({
      ref, relPath, absPath, rows, bytes: bytes.byteLength,
      minTsNs: buffer.minTsNs, maxTsNs: buffer.maxTsNs,
      sha256: createHash('sha256').update(bytes).digest('base64'),
      schemaVersion: SCHEMA_VERSION,
    });
  }

  /** The next unused part number in a partition, continuing after files left by earlier runs. */
  private async allocatePart(partitionPath: string): Promise<number> {
    let next = this.nextPart.get(partitionPath);
    if (next === undefined) {
      next = 0;
      try {
        for (const name of await readdir(join(this.options.warmDir, partitionPath))) {
          const m = /^part-(\d{5})\.parquet$/.exec(name);
          if (m) next = Math.max(next, Number(m[1]) + 1);
        }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    this.nextPart.set(partitionPath, next + 1);
    return next;
  }
}

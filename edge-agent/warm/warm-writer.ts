/**
 * The warm writer: buffers rows per (dataset, date, symbol) in columnar batches and seals each buffer into an
 * immutable Parquet part file when it is old enough, large enough, memory is short, or the agent stops.
 *
 * Every row carries the write-ahead-log sequence of the record it came in. Within a partition rows arrive in
 * sequence order, so a sealed file covers every event of its partition up to its last sequence: recovery skips
 * exactly those. A file that cannot be written (disk full) keeps its buffer and is retried; nothing is dropped.
 * Files are encoded by DuckDB (opened at the first write; close() stops it) straight into the atomic temporary file.
 */
import { createHash } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ColumnarBatch } from '../../core/codec/columnar-batch.ts';
import { DuckDBParquetEncoder } from '../../core/codec/duckdb-parquet-encoder.ts';
import { type DatasetName, type RowOf, SCHEMA_VERSION } from '../../core/datasets.ts';
import { type WarmFileRef, warmFilePath, warmPartitionPath } from '../../core/layout.ts';
import { dateOfNs } from '../../core/time.ts';
import { LatencyHistogram } from '../wal/latency-histogram.ts';
import { writeFileAtomicWith } from './atomic-file.ts';

export interface SealedFile {
  readonly ref: WarmFileRef;
  /** Path relative to the warm directory; also the tail of the store key. */
  readonly relPath: string;
  readonly absPath: string;
  readonly rows: number;
  readonly bytes: number;
  readonly minTsNs: bigint;
  readonly maxTsNs: bigint;
  readonly minTradeId: bigint | undefined;
  readonly maxTradeId: bigint | undefined;
  readonly sha256: string;
  readonly schemaVersion: number;
  /** Highest write-ahead-log sequence of a row in the file. */
  readonly walSeq: bigint;
}

export interface WarmWriterOptions {
  readonly warmDir: string;
  /** A buffer older than this is sealed at the next flush check. */
  readonly flushIntervalMs: number;
  /** A buffer reaching this many rows is sealed at once. */
  readonly maxRowsPerFile: number;
  /** When buffers hold more than this many bytes, the largest are sealed early. @default 256 MiB */
  readonly maxBufferedBytes?: number;
  /** Called once the file is durable on disk, in seal order. Must record it durably before returning. */
  readonly onSealed: (file: SealedFile) => void;
  /** Called when a file could not be written; its rows stay buffered and are retried. */
  readonly onWriteError?: (error: Error, partition: string) => void;
  /** Milliseconds clock for buffer ages; injectable for tests. */
  readonly nowMs?: () => number;
  /** The lowest part number never used in a partition, from durable records (files deleted by retention included). */
  readonly firstUnusedPart?: (partitionPath: string) => number;
}

interface Buffer<D extends DatasetName = DatasetName> {
  readonly key: string;
  readonly dataset: D;
  readonly date: string;
  readonly symbol: string;
  batch: ColumnarBatch<D>;
  openedAtMs: number;
  minTsNs: bigint;
  maxTsNs: bigint;
  minTradeId: bigint | undefined;
  maxTradeId: bigint | undefined;
  firstSeq: bigint;
  lastSeq: bigint;
}

export class WarmWriter {
  private readonly buffers = new Map<string, Buffer>();
  /** Buffers being written or waiting to be retried after a failed write, in seal order. */
  private readonly sealing: Buffer[] = [];
  private readonly nextPart = new Map<string, number>();
  private writing: Promise<void> | undefined;
  /** Per symbol, the open buffer each dataset last appended to (its entry goes when that buffer is sealed). */
  private readonly openBySymbol = new Map<string, { [D in DatasetName]?: Buffer | undefined }>();
  private encoder: Promise<DuckDBParquetEncoder> | undefined;
  /** Time to encode and durably write one part file. */
  readonly writeLatency = new LatencyHistogram();
  private readonly nowMs: () => number;
  readonly stats = {
    rowsBuffered: 0,
    rowsWritten: {} as Record<string, number>,
    filesWritten: 0,
    bytesWritten: 0,
    writeErrors: 0,
    lastWriteError: undefined as string | undefined,
    /** Files sealed early because buffers held too many bytes. */
    memoryPressureSeals: 0,
  };

  constructor(private readonly options: WarmWriterOptions) {
    this.nowMs = options.nowMs ?? Date.now;
  }

  /** Buffers a row in its partition (by the row's event time), tagged with its log sequence. */
  append<D extends DatasetName>(dataset: D, row: RowOf<D>, seq: bigint): void {
    const ts = (row as { ts: bigint }).ts;
    const symbol = (row as { symbol: string }).symbol;
    const date = dateOfNs(ts);
    // A symbol's rows nearly always share a date: find their buffer without building its key.
    let open = this.openBySymbol.get(symbol);
    let buffer = open?.[dataset] as Buffer<D> | undefined;
    if (buffer === undefined || buffer.date !== date) {
      const key = `${dataset}\u0000${date}\u0000${symbol}`;
      buffer = this.buffers.get(key) as Buffer<D> | undefined;
      if (buffer === undefined) {
        buffer = {
          key, dataset, date, symbol, batch: new ColumnarBatch(dataset, 256), openedAtMs: this.nowMs(),
          minTsNs: ts, maxTsNs: ts, minTradeId: undefined, maxTradeId: undefined, firstSeq: seq, lastSeq: seq,
        };
        this.buffers.set(key, buffer as unknown as Buffer);
      }
      if (open === undefined) {
        open = {};
        this.openBySymbol.set(symbol, open);
      }
      open[dataset] = buffer as unknown as Buffer;
    }
    buffer.batch.append(row);
    if (ts < buffer.minTsNs) buffer.minTsNs = ts;
    if (ts > buffer.maxTsNs) buffer.maxTsNs = ts;
    if (dataset === 'trades') {
      const id = (row as RowOf<'trades'>).trade_id;
      if (buffer.minTradeId === undefined || id < buffer.minTradeId) buffer.minTradeId = id;
      if (buffer.maxTradeId === undefined || id > buffer.maxTradeId) buffer.maxTradeId = id;
    }
    buffer.lastSeq = seq;
    this.stats.rowsBuffered++;
    if (buffer.batch.length >= this.options.maxRowsPerFile) this.seal(buffer.key);
  }

  /** Seals buffers older than the flush interval (or the largest, under memory pressure) and retries failed writes. */
  flushDue(): Promise<void> {
    const now = this.nowMs();
    for (const [key, buffer] of this.buffers) {
      if (now - buffer.openedAtMs >= this.options.flushIntervalMs) this.seal(key);
    }
    const limit = this.options.maxBufferedBytes ?? 256 * 1024 * 1024;
    let bytes = this.bufferedBytes();
    if (bytes > limit) {
      const largest = [...this.buffers.values()].sort((a, b) => b.batch.byteSize - a.batch.byteSize);
      for (const b of largest) {
        if (bytes <= limit / 2) break;
        bytes -= b.batch.byteSize;
        this.stats.memoryPressureSeals++;
        this.seal(b.key);
      }
    }
    return this.writeSealed();
  }

  /** Seals every buffer. Resolves when every file is durable; rejects if one cannot be written (it stays queued). */
  async flushAll(): Promise<void> {
    for (const key of [...this.buffers.keys()]) this.seal(key);
    await this.writeSealed();
    if (this.sealing.length > 0) throw new Error(`${this.sealing.length} warm file(s) could not be written: ${this.stats.lastWriteError}`);
  }

  /** Bytes held in buffers (including ones waiting to be written). */
  bufferedBytes(): number {
    let bytes = 0;
    for (const b of this.buffers.values()) bytes += b.batch.byteSize;
    for (const b of this.sealing) bytes += b.batch.byteSize;
    return bytes;
  }

  /** The lowest log sequence of a row not yet in a sealed file, or undefined when nothing is buffered. */
  minUnsealedSeq(): bigint | undefined {
    let min: bigint | undefined;
    for (const b of this.buffers.values()) if (min === undefined || b.firstSeq < min) min = b.firstSeq;
    for (const b of this.sealing) if (min === undefined || b.firstSeq < min) min = b.firstSeq;
    return min;
  }

  get pendingFiles(): number {
    return this.sealing.length;
  }

  /** Stops the encoder once any write in progress ends. Buffers are kept; call flushAll() first to write them. */
  async close(): Promise<void> {
    while (this.writing !== undefined) await this.writing;
    const encoder = this.encoder;
    this.encoder = undefined;
    if (encoder !== undefined) await (await encoder.catch(() => undefined))?.close();
  }

  /** The encoder, opened at the first write; an open that failed is tried again at the next. */
  private openEncoder(): Promise<DuckDBParquetEncoder> {
    this.encoder ??= DuckDBParquetEncoder.open().catch((error: unknown) => {
      this.encoder = undefined;
      throw error;
    });
    return this.encoder;
  }

  private seal(key: string): void {
    const buffer = this.buffers.get(key);
    if (buffer === undefined || buffer.batch.length === 0) return;
    this.buffers.delete(key);
    const open = this.openBySymbol.get(buffer.symbol);
    if (open?.[buffer.dataset] === buffer) open[buffer.dataset] = undefined;
    this.sealing.push(buffer);
  }

  /** Writes queued buffers one at a time, in seal order, so part numbers rise with time within a partition. */
  private async writeSealed(): Promise<void> {
    while (this.writing !== undefined) await this.writing;
    if (this.sealing.length === 0) return;
    this.writing = this.drainSealing().finally(() => {
      this.writing = undefined;
    });
    await this.writing;
  }

  /** Writes until the queue is empty or a write fails (that buffer stays first in the queue for the next try). */
  private async drainSealing(): Promise<void> {
    while (this.sealing.length > 0) {
      const buffer = this.sealing[0] as Buffer;
      try {
        await this.write(buffer);
        this.sealing.shift();
      } catch (error) {
        const e = error instanceof Error ? error : new Error(String(error));
        this.stats.writeErrors++;
        this.stats.lastWriteError = e.message;
        this.options.onWriteError?.(e, warmPartitionPath(buffer.dataset, buffer.date, buffer.symbol));
        return;
      }
    }
  }

  private async write(buffer: Buffer): Promise<void> {
    const partitionPath = warmPartitionPath(buffer.dataset, buffer.date, buffer.symbol);
    const part = await this.allocatePart(partitionPath);
    const ref: WarmFileRef = { dataset: buffer.dataset, date: buffer.date, symbol: buffer.symbol, part };
    const relPath = warmFilePath(ref);
    const absPath = join(this.options.warmDir, relPath);
    const startedNs = process.hrtime.bigint();
    let bytes: Uint8Array;
    try {
      const encoder = await this.openEncoder();
      bytes = await writeFileAtomicWith(absPath, (temp) => encoder.writeFile(buffer.batch, temp));
      this.writeLatency.record(Number(process.hrtime.bigint() - startedNs) / 1e6);
    } catch (error) {
      this.nextPart.set(partitionPath, part); // the number was not used
      throw error;
    }
    const rows = buffer.batch.length;
    const sealed: SealedFile = {
      ref, relPath, absPath, rows, bytes: bytes.byteLength,
      minTsNs: buffer.minTsNs, maxTsNs: buffer.maxTsNs, minTradeId: buffer.minTradeId, maxTradeId: buffer.maxTradeId,
      sha256: createHash('sha256').update(bytes).digest('base64'),
      schemaVersion: SCHEMA_VERSION,
      walSeq: buffer.lastSeq,
    };
    try {
      this.options.onSealed(sealed);
    } catch (error) {
      // Not recorded, so not sealed: remove the file so a retry cannot leave the same rows in two files.
      await rm(absPath, { force: true });
      throw error;
    }
    this.stats.rowsBuffered -= rows;
    this.stats.rowsWritten[buffer.dataset] = (this.stats.rowsWritten[buffer.dataset] ?? 0) + rows;
    this.stats.filesWritten++;
    this.stats.bytesWritten += bytes.byteLength;
  }

  /** The next unused part number in a partition, continuing after files left by earlier runs. */
  private async allocatePart(partitionPath: string): Promise<number> {
    let next = this.nextPart.get(partitionPath);
    if (next === undefined) {
      next = this.options.firstUnusedPart?.(partitionPath) ?? 0;
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

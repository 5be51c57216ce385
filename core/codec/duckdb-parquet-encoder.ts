/**
 * The warm tier's Parquet encoder: DuckDB's native writer, fed straight from a columnar batch.
 *
 * A table function hands DuckDB the batch's typed arrays one 2048-row vector at a time, and `COPY ... TO` writes
 * the file: no table is filled and no row value passes through SQL text. Strings go in as ENUM columns whose
 * members are the batch's dictionary, which DuckDB writes as dictionary-encoded UTF-8 without hashing every row.
 * Integers are delta-encoded (PARQUET_VERSION V2), doubles dictionary- or byte-stream-split-encoded, pages
 * ZSTD-compressed at level 1: as fast here as Snappy and smaller, since DuckDB's split doubles compress poorly with
 * Snappy (level 3 saves another 1-4% for about 10 ms more per 100K rows). Statistics are written; bloom filters are
 * not (warm files are found by partition and time range, and a filter costs 2 KB a file). Files read back exactly
 * in hyparquet and DuckDB: `ts` is INT64 TIMESTAMP(NANOS, isAdjustedToUTC=false), `ts_ns` a plain INT64.
 *
 * DuckDB writes to a path, so writeFile() is the primitive: the caller names a new file (the warm writer, its
 * atomic temporary file) and gets the bytes back for its checksum. Encoding is deterministic (one thread, rows in
 * batch order), so a file rebuilt from the same rows has the same bytes. A batch holding a string DuckDB cannot
 * take (a NUL character or a lone surrogate) is written by the pure-JavaScript encoder instead, which keeps what it
 * can of such strings, as it always has.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile as writeBytes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BIGINT, DOUBLE, DuckDBInstance, DuckDBTableFunction, ENUM,
  type DuckDBConnection, type DuckDBType, type DuckDBVector,
} from '@duckdb/node-api';
import type { ColumnDefinition } from '../column-types.ts';
import { type DatasetName, SCHEMA_VERSION } from '../datasets.ts';
import type { ColumnarBatch, StoredColumn } from './columnar-batch.ts';
import { KV_DATASET, KV_SCHEMA_VERSION, ParquetFileError, ROW_GROUP_ROWS, encodeParquet } from './parquet-file.ts';

/** Rows DuckDB takes per call of a table function (its STANDARD_VECTOR_SIZE). */
const VECTOR_ROWS = 2048;
const TABLE_FUNCTION = 'tickvault_batch';

export interface DuckDBParquetEncoderOptions {
  /** DuckDB worker threads. One keeps the output deterministic and leaves the other cores to the agent. @default 1 */
  readonly threads?: number;
  /** DuckDB memory limit; nothing spills to disk, and a 1M-row trades file needs about 100 MB. @default '512MB' */
  readonly memoryLimit?: string;
}

/** Writes one batch's column into one DuckDB vector: rows start..start+count of the batch to rows 0..count-1. */
type ColumnFeed = (vector: DuckDBVector, start: number, count: number) => void;

interface Job {
  readonly rows: number;
  readonly columns: readonly { readonly name: string; readonly type: DuckDBType; readonly feed: ColumnFeed }[];
  error?: Error;
}

export class DuckDBParquetEncoder {
  /** Batches written by DuckDB, and by the pure-JavaScript encoder because of a string DuckDB cannot hold. */
  readonly stats = { duckdbFiles: 0, fallbackFiles: 0 };
  private job: Job | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
  ) {}

  /** Starts an in-memory DuckDB for encoding. Close it with close(). */
  static async open(options: DuckDBParquetEncoderOptions = {}): Promise<DuckDBParquetEncoder> {
    const instance = await DuckDBInstance.create(':memory:', {
      threads: String(options.threads ?? 1),
      memory_limit: options.memoryLimit ?? '512MB',
      temp_directory: '', // never spill: a batch is already in memory, and the agent's directories stay its own
    });
    try {
      const connection = await instance.connect();
      const encoder = new DuckDBParquetEncoder(instance, connection);
      connection.registerTableFunction(encoder.tableFunction());
      return encoder;
    } catch (error) {
      instance.closeSync();
      throw error;
    }
  }

  /**
   * Writes a batch as a complete Parquet file at path (a new file) and returns the file's bytes.
   * Not durable: the caller fsyncs and renames. Calls are queued: one file is encoded at a time.
   */
  writeFile<D extends DatasetName>(batch: ColumnarBatch<D>, path: string): Promise<Uint8Array> {
    const result = this.queue.then(() => this.writeNow(batch, path));
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Encodes a batch as Parquet bytes, through a temporary file of its own that it removes. */
  async encode<D extends DatasetName>(batch: ColumnarBatch<D>): Promise<Uint8Array> {
    const path = join(tmpdir(), `.tickvault-encode-${process.pid}-${randomBytes(6).toString('hex')}.parquet`);
    try {
      return await this.writeFile(batch, path);
    } finally {
      await rm(path, { force: true });
    }
  }

  /** Stops DuckDB, after any file in progress. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    this.connection.closeSync();
    this.instance.closeSync();
  }

  private async writeNow<D extends DatasetName>(batch: ColumnarBatch<D>, path: string): Promise<Uint8Array> {
    if (this.closed) throw new ParquetFileError('the DuckDB Parquet encoder is closed');
    if (batch.length === 0) throw new ParquetFileError(`refusing to write an empty ${batch.dataset} file`);
    const stored = batch.storedColumns();
    if (stored.some((column) => column.kind === 'string' && column.dictionary.some((v) => UNSAFE_FOR_DUCKDB.test(v)))) {
      const bytes = encodeParquet(batch);
      await writeBytes(path, bytes, { flag: 'wx' });
      this.stats.fallbackFiles++;
      return bytes;
    }
    const job: Job = { rows: batch.length, columns: batch.definitions.map((def, c) => columnFeed(def, stored[c] as StoredColumn)) };
    // Timestamps come in as BIGINT (no object per row) and become TIMESTAMP_NS here, exactly.
    const select = batch.definitions
      .map((def) => (def.type === 'timestamp_ns' ? `make_timestamp_ns(${sqlName(def.name)}) AS ${sqlName(def.name)}` : sqlName(def.name)))
      .join(', ');
    this.job = job;
    try {
      await this.connection.run(
        `COPY (SELECT ${select} FROM ${TABLE_FUNCTION}()) TO ${sqlString(path)} (FORMAT parquet, COMPRESSION zstd, ` +
        `COMPRESSION_LEVEL 1, PARQUET_VERSION V2, WRITE_BLOOM_FILTER false, ROW_GROUP_SIZE ${ROW_GROUP_ROWS}, ` +
        `KV_METADATA {${sqlString(KV_DATASET)}: ${sqlString(batch.dataset)}, ${sqlString(KV_SCHEMA_VERSION)}: '${SCHEMA_VERSION}'})`,
      );
      const bytes = await readFile(path);
      this.stats.duckdbFiles++;
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (cause) {
      const reason = job.error ?? cause;
      throw new ParquetFileError(`${path}: DuckDB could not write ${batch.length} ${batch.dataset} rows: ${(reason as Error).message}`, { cause: reason });
    } finally {
      this.job = undefined;
    }
  }

  /** `tickvault_batch()`: the rows of the batch being encoded, with its column names and types. */
  private tableFunction(): DuckDBTableFunction {
    return DuckDBTableFunction.create({
      name: TABLE_FUNCTION,
      bindFunction: (info) => {
        const job = this.job;
        if (job === undefined) {
          info.setError(`${TABLE_FUNCTION}() has no batch to read`);
          return;
        }
        for (const column of job.columns) info.addResultColumn(column.name, column.type);
        info.setCardinality(job.rows, true);
      },
      initFunction: (info) => info.setInitData({ next: 0 }),
      mainFunction: (info, output) => {
        const job = this.job;
        const state = info.initData as { next: number };
        if (job === undefined) {
          info.setError(`${TABLE_FUNCTION}() lost its batch`);
          return;
        }
        const count = Math.min(VECTOR_ROWS, job.rows - state.next);
        output.rowCount = count; // zero ends the scan
        try {
          for (let c = 0; c < job.columns.length; c++) {
            const vector = output.getColumnVector(c);
            (job.columns[c] as Job['columns'][number]).feed(vector, state.next, count);
            vector.flush();
          }
        } catch (error) {
          job.error = error instanceof Error ? error : new Error(String(error));
          info.setError(job.error.message);
          return;
        }
        state.next += count;
      },
    });
  }
}

/** The DuckDB type of a column and how its stored values go into a vector. */
function columnFeed(def: ColumnDefinition, column: StoredColumn): Job['columns'][number] {
  const { name } = def;
  switch (column.kind) {
    case 'bigint': {
      const { values, nulls } = column;
      return {
        name, type: BIGINT, feed: (vector, start, count) => {
          if (nulls === undefined) for (let i = 0; i < count; i++) vector.setItem(i, values[start + i] as bigint);
          else for (let i = 0; i < count; i++) vector.setItem(i, nulls[start + i] === 1 ? null : (values[start + i] as bigint));
        },
      };
    }
    case 'float': {
      const { values, nulls } = column;
      return {
        name, type: DOUBLE, feed: (vector, start, count) => {
          if (nulls === undefined) for (let i = 0; i < count; i++) vector.setItem(i, values[start + i] as number);
          else for (let i = 0; i < count; i++) vector.setItem(i, nulls[start + i] === 1 ? null : (values[start + i] as number));
        },
      };
    }
    case 'string': {
      // The batch's dictionary is the ENUM's member list; DuckDB writes it as the Parquet dictionary, as UTF-8.
      const { codes, dictionary } = column;
      return {
        name, type: ENUM(dictionary), feed: (vector, start, count) => {
          for (let i = 0; i < count; i++) vector.setItem(i, dictionary[codes[start + i] as number] as string);
        },
      };
    }
  }
}

/** DuckDB strings are NUL-terminated UTF-8 in its C API: no NUL, no unpaired surrogate. */
const UNSAFE_FOR_DUCKDB = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function sqlName(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

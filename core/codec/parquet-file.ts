/**
 * Encoding and decoding dataset files. encodeParquet writes with hyparquet-writer (pure JS, synchronous, exact INT64):
 * test fixtures use it, and the warm writer's DuckDB encoder (duckdb-parquet-encoder.ts, several times faster)
 * falls back to it for strings DuckDB cannot hold. Reading uses hyparquet with timestamps kept as exact bigint
 * nanoseconds.
 */
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import type { FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { ByteWriter, parquetWrite } from 'hyparquet-writer';
import type { ColumnSource } from 'hyparquet-writer';
import { type DatasetName, type RowOf, SCHEMA_VERSION, columnsOf, isDatasetName } from '../datasets.ts';
import type { ColumnarBatch } from './columnar-batch.ts';
import { parquetSchema, parquetSchemaElement } from './parquet-schema.ts';

export const KV_DATASET = 'tickvault.dataset';
export const KV_SCHEMA_VERSION = 'tickvault.schema_version';

/** Row groups of up to 1M rows: large enough for Athena to read efficiently, small enough to decode in memory. */
export const ROW_GROUP_ROWS = 1_000_000;

export class ParquetFileError extends Error {
  override readonly name = 'ParquetFileError';
}

/** Integer columns whose neighbours differ by little: delta encoding stores them in a few bits each. */
const DELTA_COLUMNS = new Set(['ts', 'ts_ns', 'trade_id', 'trade_count']);

/** Encodes a batch as a complete Parquet file (Snappy, dictionary strings, delta timestamps and ids, statistics). */
export function encodeParquet<D extends DatasetName>(batch: ColumnarBatch<D>): Uint8Array {
  if (batch.length === 0) throw new ParquetFileError(`refusing to write an empty ${batch.dataset} file`);
  const values = batch.columnValues();
  const columnData: ColumnSource[] = columnsOf(batch.dataset).map((def, i) => {
    const source: ColumnSource = {
      name: def.name,
      data: values[i] as ColumnSource['data'],
      nullable: def.nullable,
    };
    if (DELTA_COLUMNS.has(def.name)) source.encoding = 'DELTA_BINARY_PACKED';
    return source;
  });
  const writer = new ByteWriter();
  parquetWrite({
    writer,
    columnData,
    schema: parquetSchema(batch.dataset),
    codec: 'SNAPPY',
    statistics: true,
    rowGroupSize: ROW_GROUP_ROWS,
    kvMetadata: [
      { key: KV_DATASET, value: batch.dataset },
      { key: KV_SCHEMA_VERSION, value: String(SCHEMA_VERSION) },
    ],
    createdBy: 'tickvault',
  });
  return new Uint8Array(writer.getBuffer());
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

export interface ParquetFileInfo {
  readonly dataset: DatasetName;
  readonly schemaVersion: number;
  readonly rows: number;
  readonly metadata: FileMetaData;
}

/**
 * Reads and checks a file's footer: readable, written by tickvault for a known dataset, with that dataset's exact
 * schema. `name` (a path or key) goes into every error.
 */
export function inspectParquet(bytes: Uint8Array, name: string): ParquetFileInfo {
  let metadata: FileMetaData;
  try {
    metadata = parquetMetadata(toArrayBuffer(bytes));
  } catch (cause) {
    throw new ParquetFileError(`${name}: footer unreadable (${bytes.byteLength} bytes): ${(cause as Error).message}`, { cause });
  }
  const kv = new Map((metadata.key_value_metadata ?? []).map((e) => [e.key, e.value]));
  const dataset = kv.get(KV_DATASET) ?? '';
  if (!isDatasetName(dataset)) throw new ParquetFileError(`${name}: not a tickvault file (dataset ${JSON.stringify(dataset)})`);
  const schemaVersion = Number(kv.get(KV_SCHEMA_VERSION));
  if (schemaVersion !== SCHEMA_VERSION) {
    throw new ParquetFileError(`${name}: schema version ${kv.get(KV_SCHEMA_VERSION)} where ${SCHEMA_VERSION} is expected`);
  }
  const expected = columnsOf(dataset).map(parquetSchemaElement);
  const actual = metadata.schema.slice(1);
  const mismatch = expected.findIndex((e, i) => {
    const a = actual[i];
    // Repetition is not compared: DuckDB writes every column OPTIONAL; readers only need names and types.
    return a === undefined || a.name !== e.name || a.type !== e.type;
  });
  if (mismatch !== -1 || actual.length !== expected.length) {
    throw new ParquetFileError(`${name}: columns do not match the ${dataset} schema (first difference at column ${mismatch === -1 ? expected.length : mismatch})`);
  }
  return { dataset, schemaVersion, rows: Number(metadata.num_rows), metadata };
}

/** Decodes every row of a tickvault file, timestamps as exact bigint nanoseconds. */
export async function decodeParquet<D extends DatasetName>(bytes: Uint8Array, dataset: D, name: string): Promise<RowOf<D>[]> {
  const info = inspectParquet(bytes, name);
  if (info.dataset !== dataset) throw new ParquetFileError(`${name}: holds ${info.dataset}, not ${dataset}`);
  const rows = await parquetReadObjects({
    file: toArrayBuffer(bytes),
    metadata: info.metadata,
    // Cold files are ZSTD (written by DuckDB); warm files are Snappy.
    compressors,
    parsers: { timestampFromNanoseconds: (ns: bigint) => ns },
  });
  return rows as RowOf<D>[];
}

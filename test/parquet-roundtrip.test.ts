/**
 * Every real sample in ../shared/data goes through both encoders — the warm writer's (DuckDB) and the pure-JavaScript
 * one (hyparquet-writer) — and comes back exactly, read by two independent readers (DuckDB and hyparquet): nanosecond
 * timestamps, prices, fractional sizes, null quote sizes. Then the DuckDB encoder's own cases: every dataset with
 * its nulls, extreme values, deterministic bytes, and the strings it hands to the pure-JavaScript encoder.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parquetMetadata } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ColumnarBatch } from '../core/codec/columnar-batch.ts';
import { DuckDBParquetEncoder } from '../core/codec/duckdb-parquet-encoder.ts';
import { parseMarketCsv } from '../core/codec/market-csv.ts';
import { decodeParquet, encodeParquet, inspectParquet } from '../core/codec/parquet-file.ts';
import { DATASET_NAMES, type DatasetName, type QuoteRow, type RowOf, type TradeRow, columnsOf } from '../core/datasets.ts';
import { duckdbRows, sqlPath } from './support/duckdb.ts';
import { sharedCsvFiles } from './support/shared-data.ts';

const dir = mkdtempSync(join(tmpdir(), 'tv-roundtrip-'));
let duckdb: DuckDBParquetEncoder;
beforeAll(async () => {
  duckdb = await DuckDBParquetEncoder.open();
});
afterAll(() => duckdb.close());

const ENCODERS = {
  duckdb: (batch: ColumnarBatch<DatasetName>) => duckdb.encode(batch),
  'hyparquet-writer': async (batch: ColumnarBatch<DatasetName>) => encodeParquet(batch),
};

function batchOf<D extends DatasetName>(dataset: D, rows: readonly RowOf<D>[]): ColumnarBatch<D> {
  const batch = new ColumnarBatch(dataset, 8);
  for (const row of rows) batch.append(row);
  return batch;
}

/** Rows as DuckDB returns them: ts as epoch nanoseconds beside its type, the other columns as they are. */
async function duckdbReadBack(file: string): Promise<Record<string, unknown>[]> {
  const back = await duckdbRows(`SELECT epoch_ns(ts) AS ts_epoch, typeof(ts) AS ts_type, * EXCLUDE (ts) FROM read_parquet(${sqlPath(file)})`);
  return back.map(({ ts_epoch, ts_type, ...rest }) => {
    expect(ts_type).toBe('TIMESTAMP_NS');
    return { ts: ts_epoch, ...rest };
  });
}

/** The same rows with keys in one order, so toEqual compares values only. */
const inColumnOrder = (dataset: DatasetName, rows: readonly Record<string, unknown>[]) =>
  rows.map((r) => Object.fromEntries(columnsOf(dataset).map((c) => [c.name, r[c.name]])));

describe.each(sharedCsvFiles())('real sample %s', (csvPath) => {
  const { kind, records, errors } = parseMarketCsv(readFileSync(csvPath, 'utf8'), csvPath);
  const rows = records.map((r) => r.row);
  const lineCount = readFileSync(csvPath, 'utf8').trimEnd().split('\n').length - 1;

  it('parses every line of the file', () => {
    expect(errors).toEqual([]);
    expect(rows.length).toBe(lineCount);
  });

  describe.each(Object.keys(ENCODERS) as (keyof typeof ENCODERS)[])('encoded by %s', (encoderName) => {
    // The kind is only known at run time; the batch takes the rows of whichever dataset the header named.
    const batch = batchOf(kind, rows as (TradeRow & QuoteRow)[]) as ColumnarBatch<DatasetName>;
    const file = join(dir, `${basename(csvPath, '.csv')}.${encoderName}.parquet`);
    let bytes: Uint8Array;
    beforeAll(async () => {
      bytes = await ENCODERS[encoderName](batch);
      writeFileSync(file, bytes);
    });

    it('reads back exactly with hyparquet', async () => {
      const back = await decodeParquet(bytes, kind, file);
      expect(back).toEqual(rows);
      expect(inspectParquet(bytes, file).rows).toBe(rows.length);
    });

    it('reads back exactly with DuckDB, timestamps as TIMESTAMP_NS', async () => {
      expect(inColumnOrder(kind, await duckdbReadBack(file))).toEqual(inColumnOrder(kind, rows as Record<string, unknown>[]));
    });

    it('is compact', () => {
      // Recorded for the README by the benchmark; here only a sanity bound against accidental bloat.
      expect(bytes.byteLength / rows.length).toBeLessThan(40);
    });
  });
});

/** Rows of a dataset with every nullable column null in some, extreme and awkward values in others. */
function awkwardRows<D extends DatasetName>(dataset: D): RowOf<D>[] {
  const strings = ['', 'V', "it's", '日本', '😀 emoji', 'a,b,c', '"quoted"'];
  const times = [-1n, 0n, 1_719_844_200_123_456_789n, 4_102_444_800_000_000_001n, -(2n ** 62n), 2n ** 62n];
  const ints = [0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 123_456_789_012_345n];
  const floats = [0, 0.1, 1e-300, 1.7976931348623157e308, -123.456, 5e-324, Number.MAX_SAFE_INTEGER];
  return Array.from({ length: 3000 }, (_, i) => Object.fromEntries(columnsOf(dataset).map((c) => {
    if (c.nullable && i % 3 === 1) return [c.name, null];
    if (c.name === 'ts' || c.name === 'ts_ns') return [c.name, times[i % times.length]];
    if (c.name === 'symbol') return [c.name, 'BTC/USD'];
    switch (c.type) {
      case 'timestamp_ns':
      case 'int64':
        return [c.name, ints[i % ints.length]];
      case 'float64':
        return [c.name, floats[i % floats.length]];
      case 'string':
        return [c.name, strings[(i * 3) % strings.length]];
    }
  })) as RowOf<D>);
}

describe('the DuckDB encoder', () => {
  it.each(DATASET_NAMES.map((d) => [d]))('writes %s with its nulls and extreme values, read back exactly by hyparquet and DuckDB', async (dataset) => {
    const rows = awkwardRows(dataset);
    const bytes = await duckdb.encode(batchOf(dataset, rows));
    const file = join(dir, `awkward-${dataset}.parquet`);
    writeFileSync(file, bytes);
    expect(await decodeParquet(bytes, dataset, file)).toEqual(rows);
    expect(inColumnOrder(dataset, await duckdbReadBack(file))).toEqual(inColumnOrder(dataset, rows as Record<string, unknown>[]));
  });

  it('writes the schema the catalog expects: ts as TIMESTAMP(NANOS, not adjusted to UTC), ts_ns as a plain INT64, tickvault metadata', async () => {
    const bytes = await duckdb.encode(batchOf('trades', awkwardRows('trades')));
    const metadata = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    const columns = new Map(metadata.schema.slice(1).map((e) => [e.name, e]));
    expect(columns.get('ts')).toMatchObject({ type: 'INT64', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: false, unit: 'NANOS' } });
    expect(columns.get('ts_ns')?.type).toBe('INT64');
    expect(columns.get('ts_ns')?.logical_type).toBeUndefined();
    expect(columns.get('exchange')).toMatchObject({ type: 'BYTE_ARRAY', converted_type: 'UTF8' });
    expect(metadata.created_by).toMatch(/^DuckDB/);
    expect(inspectParquet(bytes, 'awkward trades')).toMatchObject({ dataset: 'trades', rows: 3000 });
  });

  it('gives the same bytes for the same rows (a rebuild from the log must match the sealed file)', async () => {
    const rows = awkwardRows('quotes');
    const first = await duckdb.encode(batchOf('quotes', rows));
    const again = await duckdb.encode(batchOf('quotes', rows));
    expect(Buffer.from(again).equals(Buffer.from(first))).toBe(true);
  });

  it('hands a batch with a NUL or a lone surrogate to the pure-JavaScript encoder, which keeps what it always kept', async () => {
    const before = duckdb.stats.fallbackFiles;
    const rows = awkwardRows('trades').slice(0, 10);
    const nul = rows.map((r, i) => (i === 4 ? { ...r, conditions: 'a\u0000b' } : r));
    const nulBytes = await duckdb.encode(batchOf('trades', nul));
    expect(await decodeParquet(nulBytes, 'trades', 'nul')).toEqual(nul);
    const lone = rows.map((r, i) => (i === 2 ? { ...r, exchange: 'x\uD800' } : r));
    const loneBytes = await duckdb.encode(batchOf('trades', lone));
    expect(Buffer.from(loneBytes).equals(Buffer.from(encodeParquet(batchOf('trades', lone))))).toBe(true);
    expect(duckdb.stats.fallbackFiles).toBe(before + 2);
  });

  it('reports a full disk naming the file, and writes the next file as if nothing happened', async () => {
    const batch = batchOf('trades', awkwardRows('trades'));
    await expect(duckdb.writeFile(batch, '/dev/full')).rejects.toThrow(/^\/dev\/full: DuckDB could not write 3000 trades rows: .*No space left on device/);
    expect(await decodeParquet(await duckdb.encode(batch), 'trades', 'after a full disk')).toHaveLength(3000);
  });

  it('refuses an empty batch, naming the dataset', async () => {
    await expect(duckdb.encode(new ColumnarBatch('quotes'))).rejects.toThrow(/empty quotes file/);
  });
});

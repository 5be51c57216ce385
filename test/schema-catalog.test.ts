/** One definition per dataset: the Parquet written, the Glue columns and the DuckDB columns all agree with it. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { duckdbColumns, glueColumns } from '../core/catalog-columns.ts';
import { ColumnarBatch } from '../core/codec/columnar-batch.ts';
import { ParquetFileError, encodeParquet, inspectParquet } from '../core/codec/parquet-file.ts';
import { DATASET_NAMES, type DatasetName, type RowOf, columnsOf } from '../core/datasets.ts';
import { duckdbRows, sqlPath } from './support/duckdb.ts';

const dir = mkdtempSync(join(tmpdir(), 'tv-schema-'));

function sampleRow(dataset: DatasetName): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const c of columnsOf(dataset)) {
    row[c.name] = c.type === 'timestamp_ns' || c.type === 'int64' ? 1719878281218218853n
      : c.type === 'float64' ? 1.25
      : 'X';
  }
  return row;
}

describe.each(DATASET_NAMES)('dataset %s', (dataset) => {
  const batch = new ColumnarBatch(dataset);
  batch.append(sampleRow(dataset) as RowOf<typeof dataset>);
  const bytes = encodeParquet(batch);
  const file = join(dir, `${dataset}.parquet`);
  writeFileSync(file, bytes);

  it('Glue columns equal the columns of the Parquet written, in order, with matching types', () => {
    const info = inspectParquet(bytes, file);
    const physical = info.metadata.schema.slice(1).map((e) => [e.name, e.type]);
    const glueToPhysical: Record<string, string> = { timestamp: 'INT64', bigint: 'INT64', double: 'DOUBLE', string: 'BYTE_ARRAY' };
    expect(glueColumns(dataset).map((c) => [c.name, glueToPhysical[c.type]])).toEqual(physical);
    const tsElement = info.metadata.schema.find((e) => e.name === 'ts');
    expect(tsElement?.logical_type).toEqual({ type: 'TIMESTAMP', isAdjustedToUTC: false, unit: 'NANOS' });
  });

  it('DuckDB sees exactly the declared DuckDB columns', async () => {
    const described = await duckdbRows(`DESCRIBE SELECT * FROM read_parquet(${sqlPath(file)})`);
    expect(described.map((r) => [r['column_name'], r['column_type']])).toEqual(
      duckdbColumns(dataset).map((c) => [c.name, c.type]),
    );
  });
});

describe('nullable columns', () => {
  it('keeps nulls in nullable integer and double columns through DuckDB', async () => {
    const batch = new ColumnarBatch('trade_events');
    const base = sampleRow('trade_events');
    batch.append({ ...base, action: 'cancel', corrected_trade_id: null, corrected_price: null, corrected_size: null } as RowOf<'trade_events'>);
    batch.append({ ...base, action: 'correction', corrected_trade_id: 7n, corrected_price: 2.5, corrected_size: 3 } as RowOf<'trade_events'>);
    const file = join(dir, 'nulls.parquet');
    writeFileSync(file, encodeParquet(batch));
    const rows = await duckdbRows(`SELECT action, corrected_trade_id, corrected_price, corrected_size FROM read_parquet(${sqlPath(file)})`);
    expect(rows).toEqual([
      { action: 'cancel', corrected_trade_id: null, corrected_price: null, corrected_size: null },
      { action: 'correction', corrected_trade_id: 7n, corrected_price: 2.5, corrected_size: 3 },
    ]);
  });
});

describe('file checks', () => {
  it('rejects an empty batch, a truncated file and a foreign file with the name in the error', () => {
    expect(() => encodeParquet(new ColumnarBatch('trades'))).toThrow(/empty trades file/);
    const batch = new ColumnarBatch('trades');
    batch.append(sampleRow('trades') as RowOf<'trades'>);
    const bytes = encodeParquet(batch);
    expect(() => inspectParquet(bytes.subarray(0, bytes.length - 10), 'x/part-00001.parquet')).toThrow(ParquetFileError);
    expect(() => inspectParquet(bytes.subarray(0, bytes.length - 10), 'x/part-00001.parquet')).toThrow(/x\/part-00001\.parquet: footer unreadable/);
  });
});

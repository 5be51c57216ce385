/**
 * Every real sample in ../shared/data goes through the warm writer's encoder and comes back exactly — read by two
 * independent readers (DuckDB and hyparquet): nanosecond timestamps, prices, fractional sizes, null quote sizes.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ColumnarBatch } from '../core/codec/columnar-batch.ts';
import { parseMarketCsv } from '../core/codec/market-csv.ts';
import { decodeParquet, encodeParquet, inspectParquet } from '../core/codec/parquet-file.ts';
import type { QuoteRow, TradeRow } from '../core/datasets.ts';
import { duckdbRows, sqlPath } from './support/duckdb.ts';
import { sharedCsvFiles } from './support/shared-data.ts';

const dir = mkdtempSync(join(tmpdir(), 'tv-roundtrip-'));

describe.each(sharedCsvFiles())('real sample %s', (csvPath) => {
  const { kind, records, errors } = parseMarketCsv(readFileSync(csvPath, 'utf8'), csvPath);
  const rows = records.map((r) => r.row);
  const lineCount = readFileSync(csvPath, 'utf8').trimEnd().split('\n').length - 1;

  it('parses every line of the file', () => {
    expect(errors).toEqual([]);
    expect(rows.length).toBe(lineCount);
  });

  // The kind is only known at run time; the batch takes the rows of whichever dataset the header named.
  const batch = new ColumnarBatch(kind, 8) as unknown as ColumnarBatch<'trades'>;
  for (const row of rows) batch.append(row as TradeRow & QuoteRow);
  const bytes = encodeParquet(batch);
  const file = join(dir, `${basename(csvPath, '.csv')}.parquet`);
  writeFileSync(file, bytes);

  it('reads back exactly with hyparquet', async () => {
    const back = await decodeParquet(bytes, kind, file);
    expect(back).toEqual(rows);
    expect(inspectParquet(bytes, file).rows).toBe(rows.length);
  });

  it('reads back exactly with DuckDB, timestamps as TIMESTAMP_NS', async () => {
    const back = await duckdbRows(
      `SELECT epoch_ns(ts) AS ts_epoch, typeof(ts) AS ts_type, * EXCLUDE (ts) FROM read_parquet(${sqlPath(file)})`,
    );
    expect(back).toHaveLength(rows.length);
    back.forEach((r, i) => {
      const expected = rows[i] as Record<string, unknown>;
      expect(r['ts_type']).toBe('TIMESTAMP_NS');
      expect(r['ts_epoch']).toBe(expected['ts']);
      const { ts_epoch: _e, ts_type: _t, ...rest } = r;
      const { ts: _ts, ...expectedRest } = expected;
      expect(rest).toEqual(expectedRest);
    });
  });

  it('is compact', () => {
    // Recorded for the README by the benchmark; here only a sanity bound against accidental bloat.
    expect(bytes.byteLength / rows.length).toBeLessThan(40);
  });
});

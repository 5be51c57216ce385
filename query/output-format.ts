/**
 * Result output: an aligned table for people, CSV and JSON lines for programs, Parquet for other engines.
 * Timestamps keep all nine digits; 64-bit integers are written exactly (decimal strings in text formats).
 */
import { ByteWriter, parquetWrite } from 'hyparquet-writer';
import type { ColumnSource } from 'hyparquet-writer';
import type { SchemaElement } from 'hyparquet';
import { formatNs } from '../core/time.ts';
import type { QueryResult, ResultColumn, ResultValue } from './model.ts';

export const OUTPUT_FORMATS = ['table', 'csv', 'json', 'parquet'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
/** Formats written line by line. */
export type TextFormat = Exclude<OutputFormat, 'parquet'>;

/** Display value of one cell: exact timestamps as RFC 3339 nanoseconds; 64-bit integers as decimal strings. */
function cell(column: ResultColumn, value: ResultValue | undefined): string | number | null {
  if (value === null || value === undefined) return null;
  if (column.type === 'timestamp_ns') return formatNs(BigInt(value));
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function csvField(value: string | number | null): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The result as lines of text (no line ends). */
export function* formatResult(result: QueryResult, format: TextFormat): Generator<string> {
  const { columns, rows } = result;
  if (format === 'json') {
    for (const row of rows) {
      const out: Record<string, string | number | null> = {};
      for (const c of columns) out[c.name] = cell(c, row[c.name]);
      yield JSON.stringify(out);
    }
    return;
  }
  if (format === 'csv') {
    yield columns.map((c) => csvField(c.name)).join(',');
    for (const row of rows) yield columns.map((c) => csvField(cell(c, row[c.name]))).join(',');
    return;
  }
  const text = rows.map((row) => columns.map((c) => String(cell(c, row[c.name]) ?? '')));
  const numeric = columns.map((c) => c.type === 'bigint' || c.type === 'double');
  const widths = columns.map((c, i) => Math.max(c.name.length, ...text.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((v, i) => (numeric[i] === true ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  yield line(columns.map((c) => c.name));
  yield line(widths.map((w) => '-'.repeat(w)));
  for (const r of text) yield line(r);
  yield `(${rows.length} row${rows.length === 1 ? '' : 's'})`;
}

/**
 * The result as a Parquet file. Exact timestamps are INT64 TIMESTAMP(NANOS) (UTC by convention, as the stored
 * files), integers INT64, doubles DOUBLE, everything else UTF-8 strings; every column may hold nulls.
 */
export function encodeResultParquet(result: QueryResult): Uint8Array {
  const schema: SchemaElement[] = [{ name: 'schema', num_children: result.columns.length }];
  const columnData: ColumnSource[] = [];
  for (const c of result.columns) {
    const values = result.rows.map((r) => r[c.name] ?? null);
    switch (c.type) {
      case 'timestamp_ns':
        schema.push({ name: c.name, type: 'INT64', repetition_type: 'OPTIONAL', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: false, unit: 'NANOS' } });
        columnData.push({ name: c.name, data: values.map((v) => (v === null ? null : BigInt(v))), nullable: true });
        break;
      case 'bigint':
        schema.push({ name: c.name, type: 'INT64', repetition_type: 'OPTIONAL' });
        columnData.push({ name: c.name, data: values.map((v) => (v === null ? null : BigInt(v))), nullable: true });
        break;
      case 'double':
        schema.push({ name: c.name, type: 'DOUBLE', repetition_type: 'OPTIONAL' });
        columnData.push({ name: c.name, data: values.map((v) => (v === null ? null : Number(v))), nullable: true });
        break;
      case 'timestamp':
      case 'string':
        schema.push({ name: c.name, type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' }, repetition_type: 'OPTIONAL' });
        columnData.push({ name: c.name, data: values.map((v) => (v === null ? null : String(v))), nullable: true });
        break;
    }
  }
  const writer = new ByteWriter();
  parquetWrite({ writer, columnData, schema, codec: 'SNAPPY', statistics: true, createdBy: 'tickvault query' });
  return new Uint8Array(writer.getBuffer());
}

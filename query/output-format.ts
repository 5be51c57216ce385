/** Result output: an aligned table for people, CSV and JSON lines for programs. Timestamps keep all nine digits. */
import { formatNs } from '../core/time.ts';
import type { QueryResult, ResultRow } from './local-query.ts';

export const OUTPUT_FORMATS = ['table', 'csv', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Display value of one cell: ts as RFC 3339 nanoseconds; 64-bit integers as decimal strings (exact). */
function cell(column: string, value: ResultRow[string]): string | number | null {
  if (value === null || value === undefined) return null;
  if (column === 'ts') return formatNs(BigInt(value));
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function csvField(value: string | number | null): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function* formatResult(result: QueryResult, format: OutputFormat): Generator<string> {
  const { columns, rows } = result;
  if (format === 'json') {
    for (const row of rows) {
      const out: Record<string, string | number | null> = {};
      for (const c of columns) out[c] = cell(c, row[c] ?? null);
      yield JSON.stringify(out);
    }
    return;
  }
  if (format === 'csv') {
    yield columns.join(',');
    for (const row of rows) yield columns.map((c) => csvField(cell(c, row[c] ?? null))).join(',');
    return;
  }
  const text = rows.map((row) => columns.map((c) => String(cell(c, row[c] ?? null) ?? '')));
  const widths = columns.map((c, i) => Math.max(c.length, ...text.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  yield line([...columns]);
  yield line(widths.map((w) => '-'.repeat(w)));
  for (const r of text) yield line(r);
  yield `(${rows.length} row${rows.length === 1 ? '' : 's'})`;
}

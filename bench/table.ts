/** Benchmark tables: aligned text for the terminal and Markdown for the README, from the same rows. */

export interface BenchTable {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
  /** One line on what the baseline is and how the figures were taken. */
  readonly note?: string;
}

function text(value: string | number): string {
  if (typeof value === 'string') return value;
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toPrecision(3);
}

export function renderText(table: BenchTable): string {
  const cells = table.rows.map((r) => r.map(text));
  const widths = table.columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((v, i) => (i === 0 ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0))).join('  ');
  return [`## ${table.title}`, line(table.columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line), ...(table.note ? [table.note] : [])].join('\n');
}

export function renderMarkdown(table: BenchTable): string {
  const cells = table.rows.map((r) => r.map(text));
  return [
    `#### ${table.title}`,
    '',
    `| ${table.columns.join(' | ')} |`,
    `|${table.columns.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...cells.map((r) => `| ${r.join(' | ')} |`),
    ...(table.note ? ['', table.note] : []),
  ].join('\n');
}

/** Median of a few timed runs, in milliseconds. */
export async function medianMs(runs: number, fn: () => unknown): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? NaN;
}

/**
 * `npm run bench`: every benchmark, each beside its named baseline measured in the same run. Prints text tables;
 * with --markdown, prints the Markdown that goes into the README.
 */
import { join, resolve } from 'node:path';
import { runIngestBench } from './ingest.bench.ts';
import { runParquetBench } from './parquet.bench.ts';
import { type BenchTable, renderMarkdown, renderText } from './table.ts';

const markdown = process.argv.includes('--markdown');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const sharedData = process.env['TICKVAULT_SHARED_DATA'] ?? resolve(join(import.meta.dirname, '..', '..', 'shared', 'data'));

const suites: Record<string, () => Promise<BenchTable[]>> = {
  ingest: () => runIngestBench(),
  parquet: () => runParquetBench(sharedData),
};

for (const [name, run] of Object.entries(suites)) {
  if (only !== undefined && only !== name) continue;
  for (const table of await run()) {
    process.stdout.write(`${markdown ? renderMarkdown(table) : renderText(table)}\n\n`);
  }
}

/**
 * `npm run bench`: every benchmark, each beside its named baseline measured in the same run. Prints text tables;
 * with --markdown, prints the Markdown that goes into the README. `--only=NAME` runs one suite.
 */
import { join, resolve } from 'node:path';
import { runSimulatorBench } from '../edge-agent/simulator/simulator.bench.ts';
import { runCompactionBench } from './compaction.bench.ts';
import { runFeedBench } from './feed.bench.ts';
import { runHotBench } from './hot.bench.ts';
import { runIngestBench } from './ingest.bench.ts';
import { runParquetBench } from './parquet.bench.ts';
import { runQueryBench } from './query.bench.ts';
import { type BenchTable, renderMarkdown, renderText } from './table.ts';
import { runUploadBench } from './upload.bench.ts';
import { runWalBench } from './wal.bench.ts';

const markdown = process.argv.includes('--markdown');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const sharedData = process.env['TICKVAULT_SHARED_DATA'] ?? resolve(join(import.meta.dirname, '..', '..', 'shared', 'data'));

const suites: Record<string, () => Promise<BenchTable[]>> = {
  hot: async () => [await runHotBench()],
  feed: async () => {
    const result = runFeedBench();
    return [{
      title: result.title,
      columns: ['case', 'messages/s', 'vs baseline', 'bytes/message'],
      rows: result.rows.map((r) => [r.case, r.msgsPerSecond, r.vsBaseline, r.bytesPerMessage ?? '']),
      note: `JSON decode+validate / msgpack decode+validate = ${result.jsonOverMsgpack.toFixed(2)}: ${result.faster} is faster (the agent's default is JSON).`,
    }, {
      title: 'Event-time parsing (RFC 3339 with nanoseconds)',
      columns: ['parser', 'parses/s'],
      rows: result.timeParsers.map((p) => [p.parser, p.parsesPerSecond]),
    }];
  },
  ingest: () => runIngestBench(),
  simulator: () => runSimulatorBench(),
  wal: () => runWalBench(),
  parquet: () => runParquetBench(sharedData),
  upload: () => runUploadBench(),
  compaction: () => runCompactionBench(),
  query: () => runQueryBench(),
};

if (only !== undefined && !(only in suites)) {
  process.stderr.write(`unknown suite ${JSON.stringify(only)}; suites: ${Object.keys(suites).join(', ')}\n`);
  process.exit(2);
}
for (const [name, run] of Object.entries(suites)) {
  if (only !== undefined && only !== name) continue;
  for (const table of await run()) {
    process.stdout.write(`${markdown ? renderMarkdown(table) : renderText(table)}\n\n`);
  }
}

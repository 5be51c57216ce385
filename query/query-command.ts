/**
 * `tickvault query`: trades, quotes or bars of one or more symbols over [from, to), from every tier, on DuckDB
 * (embedded, the default) or Athena. Arguments are validated here; a bad one is a UsageError (exit 2) naming it.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { openStore, parseStoreSpec } from '../core/object-store/open-store.ts';
import { parseSymbolList } from '../core/symbols.ts';
import { type ChartBar, buildChart, chartHtml } from './chart.ts';
import { sceneToPng } from './chart-png.ts';
import { QueryCancelledError, QueryInputError } from './errors.ts';
import {
  INTERVALS, INTERVAL_NAMES, type Interval, type Query, type QueryKind, type QueryResult, type TierChoice, defineQuery, parseTier,
} from './model.ts';
import { OUTPUT_FORMATS, type OutputFormat, encodeResultParquet, formatResult } from './output-format.ts';
import { terminalProgress } from './progress.ts';
import { resolveAthenaSettings, resolveHotUrl } from './query-config.ts';
import { ENGINES, type Engine, type QueryOptions, runQuery } from './tier-router.ts';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const QUERY_HELP = `Usage: tickvault query trades|quotes|bars --symbol S --from ISO --to ISO [options]
       tickvault query --sql "SELECT ... FROM trades|quotes|bars ..." --symbols A,B --from ISO --to ISO [--param V]...

Range [from, to): from included, to excluded; UTC unless the time carries an offset.
  --symbol S | --symbols A,B   symbols (BTC/USD for pairs)
  --interval 1s|5s|10s|15s|30s|1m|5m|15m|30m|1h|4h|1d
                               bars: OHLCV built from trades; with --vwap/--spread: one row per bucket
  --timeframe 1m|5m|1d         bars without --interval: the feed's stored bars (default 1m)
  --vwap                       trades: volume-weighted average price (whole range, or per --interval)
  --spread                     quotes: spread statistics (mean, min, max, time-weighted mean)
  --sql TEXT [--param V]...    read-only SELECT/WITH over trades, quotes, bars (the range's data only); ? placeholders
  --tier all|hot|warm|cold     force one tier (default all: cold for compacted months, hot for its span, else warm)
  --hot URL                    the agent's read API (else httpPort of --config FILE, else TICKVAULT_HOT_URL)
  --engine duckdb|athena       duckdb (default): embedded, no AWS; athena: the Glue tables (needs --store s3://…)
  --workgroup W --database D   Athena workgroup and Glue database (default: cdk.json context, else tickvault)
  --output-location s3://…     Athena results location, only if the workgroup does not enforce one
  --format table|csv|json|parquet   (parquet needs --output FILE)
  --output FILE                write the result to FILE instead of stdout
  --plot FILE.html|FILE.png    price and volume chart of one symbol over the range
  --timeout SECONDS            stop the query after this long (Athena: StopQueryExecution)
  --data-dir DIR --store DIR|s3://B/P   warm files of the agent, and the store (default DATA_DIR/store)
`;

const OPTIONS = {
  'data-dir': { type: 'string' }, store: { type: 'string' },
  symbol: { type: 'string' }, symbols: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' },
  format: { type: 'string' }, output: { type: 'string' }, timeframe: { type: 'string' }, interval: { type: 'string' },
  vwap: { type: 'boolean' }, spread: { type: 'boolean' }, sql: { type: 'string' }, param: { type: 'string', multiple: true },
  tier: { type: 'string' }, hot: { type: 'string' }, config: { type: 'string' }, engine: { type: 'string' },
  workgroup: { type: 'string' }, database: { type: 'string' }, 'output-location': { type: 'string' },
  plot: { type: 'string' }, timeout: { type: 'string' }, help: { type: 'boolean', short: 'h' },
} as const;

/** The flag a model input comes from, for messages. */
const FLAG_OF_INPUT: Record<string, string> = {
  symbols: '--symbols', from: '--from', to: '--to', interval: '--interval', timeframe: '--timeframe', sql: '--sql', tier: '--tier',
  hot: '--hot', engine: '--engine', workgroup: '--workgroup', database: '--database', 'output-location': '--output-location', config: '--config',
};

/** A QueryInputError as a UsageError that names the flag. */
function usage(error: QueryInputError): UsageError {
  const param = /^param (\d+)$/.exec(error.input);
  const flag = param !== null ? `--param #${param[1]}` : FLAG_OF_INPUT[error.input] ?? `--${error.input}`;
  const message = error.message.startsWith(`${error.input} `) || error.message.startsWith(`${error.input}:`)
    ? error.message.slice(error.input.length).replace(/^:?\s*/, '')
    : error.message;
  return new UsageError(`${flag}: ${message}`, { cause: error });
}

function oneOf<T extends string>(flag: string, value: string | undefined, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(choices as readonly string[]).includes(value)) throw new UsageError(`${flag} ${JSON.stringify(value)}: expected ${choices.join(', ')}`);
  return value as T;
}

function positiveSeconds(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(text) || Number(text) <= 0) throw new UsageError(`${flag} ${JSON.stringify(text)}: expected a positive number of seconds`);
  return Number(text);
}

/** The model query the flags ask for. */
function queryKind(positional: string | undefined, values: { vwap?: boolean | undefined; spread?: boolean | undefined; interval?: string | undefined; sql?: string | undefined }): QueryKind {
  if (values.sql !== undefined) {
    if (positional !== undefined) throw new UsageError(`--sql: takes no ${JSON.stringify(positional)}; the statement names its relations (trades, quotes, bars)`);
    return 'sql';
  }
  if (positional === undefined) throw new UsageError('query takes one of: trades, quotes, bars (or --sql)');
  if (values.vwap === true && positional !== 'trades') throw new UsageError('--vwap: applies to trades');
  if (values.spread === true && positional !== 'quotes') throw new UsageError('--spread: applies to quotes');
  switch (positional) {
    case 'trades':
      if (values.vwap === true) return 'vwap';
      if (values.interval !== undefined) throw new UsageError('--interval: with trades, add --vwap (or use query bars --interval for OHLCV bars)');
      return 'trades';
    case 'quotes':
      if (values.spread === true) return 'spread';
      if (values.interval !== undefined) throw new UsageError('--interval: with quotes, add --spread');
      return 'quotes';
    case 'bars':
      return values.interval === undefined ? 'bars' : 'ohlcv';
    default:
      throw new UsageError(`query ${JSON.stringify(positional)}: expected trades, quotes or bars`);
  }
}

/** The chart interval for a range: the finest one that keeps the chart to about 300 bars. */
export function chartInterval(fromNs: bigint, toNs: bigint): Interval {
  return INTERVAL_NAMES.find((i) => (toNs - fromNs) / INTERVALS[i] <= 300n) ?? '1d';
}

export async function runQueryCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(QUERY_HELP);
    return 0;
  }
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`);
  const kind = queryKind(positionals[0], values);
  const symbolText = [values.symbol, values.symbols].filter((s): s is string => s !== undefined);
  if (symbolText.length === 0 || values.from === undefined || values.to === undefined) {
    throw new UsageError('query needs --symbol (or --symbols), --from and --to');
  }
  let symbols: string[];
  try {
    symbols = [...new Set(symbolText.flatMap((s) => parseSymbolList(s)))];
  } catch (e) {
    throw new UsageError(`${values.symbols === undefined ? '--symbol' : '--symbols'}: ${(e as Error).message}`, { cause: e });
  }
  const format = oneOf<OutputFormat>('--format', values.format, OUTPUT_FORMATS, 'table');
  if (format === 'parquet' && values.output === undefined) throw new UsageError('--format parquet: needs --output FILE');
  const engine = oneOf<Engine>('--engine', values.engine, ENGINES, 'duckdb');
  const timeoutSeconds = positiveSeconds('--timeout', values.timeout);
  if (values.plot !== undefined) {
    if (!['.png', '.html'].includes(extname(values.plot).toLowerCase())) throw new UsageError(`--plot ${JSON.stringify(values.plot)}: expected a .png or .html file`);
    if (symbols.length !== 1) throw new UsageError(`--plot: charts one symbol; ${symbols.length} given`);
  }

  let query: Query;
  let tier: TierChoice;
  let hotUrl: string | undefined;
  let athena: ReturnType<typeof resolveAthenaSettings> | undefined;
  try {
    query = defineQuery({
      kind, symbols, from: values.from, to: values.to,
      ...(values.interval !== undefined && { interval: values.interval }),
      ...(values.timeframe !== undefined && { timeframe: values.timeframe }),
      ...(values.sql !== undefined && { sql: values.sql }),
      ...(values.param !== undefined && { params: values.param }),
    });
    tier = parseTier(values.tier ?? 'all');
    hotUrl = resolveHotUrl(values.hot, values.config);
    if (engine === 'athena') {
      athena = resolveAthenaSettings({ workgroup: values.workgroup, database: values.database, outputLocation: values['output-location'] });
    }
  } catch (e) {
    if (e instanceof QueryInputError) throw usage(e);
    throw e;
  }
  if (values.param !== undefined && kind !== 'sql') throw new UsageError('--param: only with --sql');

  const dataDir = resolve(values['data-dir'] ?? './data');
  const storeSpec = values.store ?? join(dataDir, 'store');
  if (engine === 'athena' && parseStoreSpec(storeSpec).kind !== 's3') {
    throw new UsageError('--engine athena: needs --store s3://bucket[/prefix], the bucket the Glue tables read (to find compacted months)');
  }
  const store = openStore(storeSpec);
  const warmDir = join(dataDir, 'warm');
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once('SIGINT', onSigint);
  const progress = terminalProgress(process.stderr);
  let athenaTarget: QueryOptions['athena'];
  if (athena !== undefined) {
    const { AthenaClient } = await import('@aws-sdk/client-athena');
    athenaTarget = { client: new AthenaClient({}), ...athena };
  }
  const options: QueryOptions = {
    store, engine, tier,
    ...(existsSync(warmDir) && { warmDir }),
    ...(hotUrl !== undefined && { hotUrl }),
    signal: controller.signal,
    ...(timeoutSeconds !== undefined && { timeoutMs: timeoutSeconds * 1000 }),
    onProgress: (text) => progress.update(text),
    onNote: (text) => process.stderr.write(`tickvault: note: ${text}\n`),
    ...(athenaTarget !== undefined && { athena: athenaTarget }),
  };
  let result: QueryResult;
  try {
    result = await runQuery(query, options);
    if (values.plot !== undefined) await writeChart(values.plot, query, result, options);
  } catch (e) {
    if (e instanceof QueryInputError) throw usage(e);
    if (e instanceof QueryCancelledError && controller.signal.aborted) {
      progress.done();
      process.stderr.write(`tickvault: ${e.message}\n`);
      return 130;
    }
    throw e;
  } finally {
    progress.done();
    process.removeListener('SIGINT', onSigint);
  }
  await writeResult(result, format, values.output);
  reportStats(result);
  return 0;
}

async function writeResult(result: QueryResult, format: OutputFormat, output: string | undefined): Promise<void> {
  if (format === 'parquet') {
    await writeFile(output as string, encodeResultParquet(result));
    return;
  }
  const lines: string[] = [];
  for (const line of formatResult(result, format)) lines.push(line);
  const text = lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  if (output !== undefined) await writeFile(output, text);
  else await new Promise<void>((done, fail) => process.stdout.write(text, (e) => (e ? fail(e) : done())));
}

function reportStats(result: QueryResult): void {
  const a = result.stats.athena;
  if (a !== undefined) {
    const mb = (a.dataScannedBytes / 2 ** 20).toFixed(2);
    process.stderr.write(`tickvault: athena query ${a.queryExecutionId}: ${mb} MB scanned, estimated cost $${a.estimatedCostUsd.toFixed(6)} (at $5/TB, 10 MB minimum)${result.stats.hotRows > 0 ? `; ${result.stats.hotRows} hot rows merged` : ''}\n`);
  } else if (process.stderr.isTTY === true) {
    const files = result.stats.files;
    const cold = files.filter((f) => f.tier === 'cold').length;
    const downloaded = files.filter((f) => f.access === 'downloaded').length;
    process.stderr.write(`tickvault: duckdb read ${files.length} file(s) (${cold} cold, ${files.length - cold} warm; ${downloaded} downloaded) and ${result.stats.hotRows} hot row(s)\n`);
  }
}

/** Bars for the chart: the result itself when it is bars, else OHLCV from trades at an automatic interval. */
async function writeChart(file: string, query: Query, result: QueryResult, options: QueryOptions): Promise<void> {
  const symbol = query.symbols[0] as string;
  let rows = result.rows;
  // Stored bars' timeframes (1m, 5m, 1d) are intervals too.
  const interval: Interval = query.kind === 'ohlcv' ? query.interval : query.kind === 'bars' ? query.timeframe : chartInterval(query.range.fromNs, query.range.toNs);
  if (query.kind !== 'ohlcv' && query.kind !== 'bars') {
    rows = (await runQuery({ kind: 'ohlcv', symbols: [symbol], range: query.range, interval }, options)).rows;
  }
  const intervalNs = INTERVALS[interval];
  const bars: ChartBar[] = rows.map((r) => ({
    tsNs: BigInt(r['ts_ns'] as bigint), open: Number(r['open']), high: Number(r['high']), low: Number(r['low']),
    close: Number(r['close']), volume: Number(r['volume']),
  }));
  const scene = buildChart(bars, { symbol, fromNs: query.range.fromNs, toNs: query.range.toNs, intervalNs, intervalName: interval });
  const title = `${symbol} price and volume`;
  await writeFile(file, extname(file).toLowerCase() === '.png' ? sceneToPng(scene) : chartHtml(scene, title));
  process.stderr.write(`tickvault: chart of ${symbol} (${bars.length} ${interval} bars) written to ${file}\n`);
}

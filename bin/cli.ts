/**
 * The `tickvault` command line. Every argument is validated here, at the edge: a bad one ends the command with a
 * one-line error that names it, and exit code 2.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDatasetName, type DatasetName } from '../core/datasets.ts';
import { parseSymbolList, validateSymbol } from '../core/symbols.ts';
import { parseIsoMonth } from '../core/time.ts';
import type { AgentConfigInput } from '../edge-agent/config.ts';

// Commands load their heavy modules (DuckDB, the AWS SDK, the agent) only when they run, so a mistyped flag is
// reported at once.
const openStore = async (spec: string) => (await import('../core/object-store/open-store.ts')).openStore(spec);

class UsageError extends Error {
  override readonly name = 'UsageError';
}

const HELP = `tickvault: tiered storage for market data (hot in memory, warm Parquet on this host, cold Parquet in S3)

Usage: tickvault <command> [options]

Commands:
  agent     Run the edge agent: feed in, hot tier, warm Parquet, copy to the store
              --data-dir DIR         warm files and agent state (default ./data)
              --store DIR|s3://B/P   object store (default DATA_DIR/store)
              --feed sim|alpaca|replay  market data source (default sim: the built-in simulator)
              --symbols A,B          symbols to subscribe (default AAPL,MSFT,SPY,NVDA,BTC/USD)
              --duration SECONDS     stop by itself after this long (drain, flush, exit 0)
              --flush-interval SECONDS  seal warm buffers this old (default 300)
              --rate N               simulator messages per second (default 2000)
              --replay FILE...       replay recorded files (CSV as in shared/data, or JSONL of Alpaca frames)
              --speed N|max          replay speed: 1 = real time, N = N times faster, max (default)
              --http PORT            local read API on 127.0.0.1 (0 picks a free port)
              --agent-id ID          part of every store key (default: from the host name)
              --config FILE          JSON config file (keys as in the README); flags override it
  backfill  Fill the gaps the agent recorded from Alpaca's historical API into warm files (agent stopped)
              tickvault backfill [--data-dir DIR] [--base-url URL]   (credentials: APCA_API_KEY_ID / APCA_API_SECRET_KEY)
  status    A summary of every tier      verify   manifests, files, objects and rows agree      repair   fix what verify finds
  validate  Check warm files (footer, schema version, pages, rows and checksum against the manifest);
            bad files move to DATA_DIR/quarantine and are never uploaded or compacted
              tickvault validate PATH... [--data-dir DIR] [--no-quarantine]
  sim       Run the Alpaca-protocol simulator on 127.0.0.1 until Ctrl-C
              --port N (default 0: a free port)  --symbols A,B  --rate N  --seed N
  compact   Compact a month of warm objects into one cold file per symbol (the Lambda's code)
              --month YYYY-MM (required)  --dataset D  --symbol S  --data-dir DIR  --store DIR|s3://B/P
              --dry-run   print the units a run would compact; read, write and tag nothing
  query     Query across hot, warm and cold over [from, to): trades, quotes, bars, OHLCV, VWAP, spreads, raw SQL
              tickvault query trades|quotes|bars --symbol S --from ISO --to ISO [--format table|csv|json|parquet]
              [--tier hot|warm|cold|all] [--hot URL] [--interval 1m] [--engine duckdb|athena] [--plot FILE]
              (tickvault query --help lists every option)

Credentials: Alpaca keys from APCA_API_KEY_ID / APCA_API_SECRET_KEY; AWS from the standard SDK chain.
`;

const STORE_OPTIONS = {
  'data-dir': { type: 'string' },
  store: { type: 'string' },
} as const;

function parse<T extends NonNullable<Parameters<typeof parseArgs>[0]>['options']>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function positiveNumber(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(value) || value <= 0) {
    throw new UsageError(`--${flag} ${JSON.stringify(text)}: expected a positive number`);
  }
  return value;
}

function storeOf(values: { 'data-dir'?: string | undefined; store?: string | undefined }) {
  const dataDir = resolve(values['data-dir'] ?? './data');
  return openStore(values.store ?? join(dataDir, 'store'));
}

async function runAgent(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...STORE_OPTIONS,
    config: { type: 'string' },
    feed: { type: 'string' },
    symbols: { type: 'string' },
    duration: { type: 'string' },
    'flush-interval': { type: 'string' },
    rate: { type: 'string' },
    replay: { type: 'string', multiple: true },
    speed: { type: 'string' },
    http: { type: 'string' },
    'agent-id': { type: 'string' },
  }, true);
  if (values.help === true) return printHelp();
  const cli: AgentConfigInput = {};
  if (values['data-dir'] !== undefined) cli.dataDir = values['data-dir'];
  if (values.store !== undefined) cli.store = values.store;
  if (values.feed !== undefined) {
    if (values.feed !== 'sim' && values.feed !== 'alpaca' && values.feed !== 'replay') throw new UsageError(`--feed ${JSON.stringify(values.feed)}: expected sim, alpaca or replay`);
    cli.feed = values.feed;
  }
  // `--replay A B C` and `--replay A --replay B` both name files; --replay alone implies --feed replay.
  const replayFiles = [...(values.replay ?? []), ...positionals];
  if (replayFiles.length > 0) {
    if (values.replay === undefined) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    cli.replayFiles = replayFiles.map((f) => resolve(f));
    cli.feed ??= 'replay';
  }
  if (values.speed !== undefined) {
    if (values.speed === 'max') cli.replaySpeed = 'max';
    else cli.replaySpeed = positiveNumber('speed', values.speed) ?? 1;
  }
  if (values.http !== undefined) {
    if (!/^\d{1,5}$/.test(values.http) || Number(values.http) > 65535) throw new UsageError(`--http ${JSON.stringify(values.http)}: expected a port 0-65535 (0 picks a free one)`);
    cli.httpPort = Number(values.http);
  }
  if (values['agent-id'] !== undefined) cli.agentId = values['agent-id'];
  if (values.symbols !== undefined) cli.symbols = parseSymbolList(values.symbols);
  const duration = positiveNumber('duration', values.duration);
  if (duration !== undefined) cli.durationSeconds = duration;
  const flush = positiveNumber('flush-interval', values['flush-interval']);
  if (flush !== undefined) cli.flushIntervalSeconds = flush;
  const rate = positiveNumber('rate', values.rate);
  if (rate !== undefined) cli.sim = { messagesPerSecond: rate };
  const { readConfigFile, redactedConfig, resolveAgentConfig } = await import('../edge-agent/config.ts');
  const { createLogger } = await import('../edge-agent/log.ts');
  const { EdgeAgent } = await import('../edge-agent/agent.ts');
  const layers = values.config === undefined ? { cli } : { cli, file: readConfigFile(values.config), filePath: values.config };
  const config = resolveAgentConfig(layers);
  const log = createLogger('tickvault-agent');
  const { openStoreWithClient } = await import('../core/object-store/open-store.ts');
  const { s3IncompleteUploadJanitor } = await import('../edge-agent/sync/multipart-janitor.ts');
  const s3Options = Object.fromEntries(Object.entries(config.s3).filter(([, v]) => v !== undefined));
  const { store, s3 } = openStoreWithClient(config.store, s3Options);
  log('info', 'agent starting', { config: redactedConfig(config), store: store.description });
  const agent = new EdgeAgent(config, { store, log, ...(s3 === undefined ? {} : { janitor: s3IncompleteUploadJanitor(s3) }) });

  let stopping: Promise<number> | undefined;
  const stop = (why: string): Promise<number> => {
    stopping ??= (async () => {
      log('info', 'agent draining', { why });
      const report = await agent.stop();
      process.stdout.write(`${JSON.stringify({ event: 'agent-stopped', why, ...report })}\n`);
      return 0;
    })();
    return stopping;
  };
  // Two-stage shutdown: the first signal drains; a second one forces. A repeat within a second is the same Ctrl-C
  // delivered twice (the terminal signals the whole process group, and npm forwards it again), not a second request.
  let firstSignalMs: number | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    const now = Date.now();
    if (firstSignalMs !== undefined) {
      if (now - firstSignalMs < 1000) return;
      log('warn', 'second signal: exiting without draining', { signal });
      process.exit(130);
    }
    firstSignalMs = now;
    void stop(signal).then((code) => process.exit(code));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    await agent.start();
  } catch (error) {
    // A fatal feed error (bad credentials, no subscription) ends the run: drain what was taken, then fail.
    log('error', 'agent could not start', { error: (error as Error).message });
    await agent.stop().catch(() => {});
    throw error;
  }
  if (agent.readApiUrl !== undefined) process.stderr.write(`tickvault: read API on ${agent.readApiUrl}\n`);
  if (config.feed === 'replay') {
    // A replay ends by itself when every file is read: drain and exit (unless --duration comes first).
    void agent.replayDone.then(() => stop('replay finished').then((code) => process.exit(code)));
  }
  if (config.durationSeconds !== undefined) {
    await new Promise((r) => setTimeout(r, (config.durationSeconds ?? 0) * 1000));
    return stop(`duration of ${config.durationSeconds} s reached`);
  }
  return new Promise<number>(() => {}); // runs until a signal
}

async function runSim(argv: string[]): Promise<number> {
  const { values } = parse(argv, { port: { type: 'string' }, symbols: { type: 'string' }, rate: { type: 'string' }, seed: { type: 'string' } });
  if (values.help === true) return printHelp();
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port ${JSON.stringify(values.port)}: expected 0-65535`);
  const seed = values.seed === undefined ? 42 : Number(values.seed);
  if (!Number.isInteger(seed)) throw new UsageError(`--seed ${JSON.stringify(values.seed)}: expected an integer`);
  const { startSimulator } = await import('../edge-agent/simulator/simulator-server.ts');
  const sim = await startSimulator({
    port,
    seed,
    ...(values.symbols === undefined ? {} : { symbols: parseSymbolList(values.symbols) }),
    ...(values.rate === undefined ? {} : { messagesPerSecond: positiveNumber('rate', values.rate) ?? 0 }),
  });
  process.stdout.write(`simulator listening on ${sim.url} (Ctrl-C to stop)\n`);
  await new Promise<void>((r) => { process.once('SIGINT', r); process.once('SIGTERM', r); });
  await sim.close();
  return 0;
}

async function runCompact(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...STORE_OPTIONS, month: { type: 'string' }, dataset: { type: 'string' }, symbol: { type: 'string' }, 'dry-run': { type: 'boolean' } });
  if (values.help === true) return printHelp();
  if (values.month === undefined) throw new UsageError('compact needs --month YYYY-MM');
  const month = parseIsoMonth(values.month);
  const filter: { dataset?: DatasetName; symbol?: string } = {};
  if (values.dataset !== undefined) filter.dataset = parseDatasetName(values.dataset);
  if (values.symbol !== undefined) filter.symbol = validateSymbol(values.symbol);
  const store = await storeOf(values);
  const { planMonth } = await import('../lambdas/planner/plan-month.ts');
  const { compactHandler } = await import('../lambdas/compactor/handler.ts');
  const units = await planMonth(store, month, filter);
  if (units.length === 0) {
    process.stderr.write(`tickvault compact: no warm objects for ${month} in ${store.description}\n`);
    return 0;
  }
  if (values['dry-run'] === true) {
    // The plan only: what a run would compact, nothing read, written or tagged.
    for (const unit of units) process.stdout.write(`${JSON.stringify({ dryRun: true, ...unit })}\n`);
    process.stderr.write(`tickvault compact --dry-run: ${units.length} unit(s) would be compacted for ${month}\n`);
    return 0;
  }
  const scratchDir = resolve(values['data-dir'] ?? './data', 'tmp');
  for (const unit of units) {
    const result = await compactHandler(unit, { store, scratchDir });
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
  return 0;
}

async function runQuery(argv: string[]): Promise<number> {
  const { runQueryCommand } = await import('../query/query-command.ts');
  return runQueryCommand(argv);
}

async function runValidate(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { 'data-dir': { type: 'string' }, 'no-quarantine': { type: 'boolean' } }, true);
  if (values.help === true) return printHelp();
  if (positionals.length === 0) throw new UsageError('validate needs at least one PATH (a warm file or directory)');
  const { validateWarmFiles } = await import('../edge-agent/warm/validate.ts');
  const findings = await validateWarmFiles({
    dataDir: resolve(values['data-dir'] ?? './data'),
    paths: positionals,
    quarantine: values['no-quarantine'] !== true,
  });
  let bad = 0;
  for (const f of findings) {
    if (f.ok) continue;
    bad++;
    process.stdout.write(`BAD ${f.file}: ${f.problems.join('; ')}${f.quarantinedTo === undefined ? '' : ` (moved to ${f.quarantinedTo})`}\n`);
  }
  process.stdout.write(`${findings.length} file(s) checked, ${findings.length - bad} good, ${bad} bad\n`);
  return bad === 0 ? 0 : 1;
}

function printHelp(): number {
  process.stdout.write(HELP);
  return 0;
}

/** Operator commands live in edge-agent/ops/ (status, verify, repair). */
const opsCommand = (name: 'runStatusCommand' | 'runVerifyCommand' | 'runRepairCommand') => async (argv: string[]): Promise<number> => {
  const ops = await import('../edge-agent/ops/commands.ts');
  return ops[name](argv);
};

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  backfill: async (argv) => (await import('../edge-agent/feed/backfill-command.ts')).runBackfillCommand(argv),
  status: opsCommand('runStatusCommand'),
  verify: opsCommand('runVerifyCommand'),
  repair: opsCommand('runRepairCommand'),
  agent: runAgent,
  sim: runSim,
  compact: runCompact,
  query: runQuery,
  validate: runValidate,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') return printHelp();
  const run = COMMANDS[command];
  if (run === undefined) throw new UsageError(`unknown command ${JSON.stringify(command)}; try tickvault --help`);
  return run(rest);
}

// A reader that goes away early (`| head`) is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const e = error instanceof Error ? error : new Error(String(error));
  process.stderr.write(`tickvault: ${e.message}\n`);
  if (process.env['TICKVAULT_DEBUG'] !== undefined && e.stack !== undefined) process.stderr.write(`${e.stack}\n`);
  process.exitCode = e instanceof UsageError || e.name === 'UsageError' ? 2 : 1;
  // Timers or sockets a failed command left open must not keep the process alive after its error.
  process.exit(process.exitCode);
}

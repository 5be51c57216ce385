/**
 * The agent's configuration, in one place: defaults, then the config file, then the environment, then the command
 * line. Validated once at start; a bad value fails fast with a message that names the key.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { symbolProblem } from '../core/symbols.ts';

export const DEFAULT_SIM_SYMBOLS = ['AAPL', 'MSFT', 'SPY', 'NVDA', 'BTC/USD'] as const;

const symbol = z.string().superRefine((s, ctx) => {
  const problem = symbolProblem(s);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `invalid symbol ${JSON.stringify(s)}: ${problem}` });
});

export const AgentConfigSchema = z.strictObject({
  /** Where the agent keeps warm files and its own state. @default './data' */
  dataDir: z.string().min(1).default('./data'),
  /** Object store: a directory, or s3://bucket/prefix. @default '<dataDir>/store' */
  store: z.string().min(1).optional(),
  /** Market data source. @default 'sim' (the built-in simulator; no account needed) */
  feed: z.enum(['sim', 'alpaca', 'replay']).default('sim'),
  /** Files to replay with feed 'replay': CSV as in ../shared/data, or JSONL of Alpaca frames. */
  replayFiles: z.array(z.string().min(1)).default([]),
  /** Replay speed: 1 = real time by the events' own timestamps, N = N times faster, 'max' = as fast as possible. @default 'max' */
  replaySpeed: z.union([z.number().positive().max(1_000_000), z.literal('max')]).default('max'),
  /** S3 settings when the store is s3://bucket/prefix; credentials come from the standard AWS SDK chain only. */
  s3: z.strictObject({
    /** An S3-compatible endpoint, e.g. http://127.0.0.1:8080. @default the AWS endpoint of the region */
    endpoint: z.url({ protocol: /^https?$/ }).optional(),
    /** @default AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1 */
    region: z.string().min(1).optional(),
    /** Path-style URLs, which most S3-compatible servers need. @default false */
    forcePathStyle: z.boolean().optional(),
    /** Checksums only where required (Swift and similar servers). @default false */
    compatibilityMode: z.boolean().optional(),
  }).default({}),
  /** Part of every store key; recorded in the data dir on first start. @default derived from the host name */
  agentId: z.string().optional(),
  /** Local read API port; 0 picks a free port (logged). Off when unset. */
  httpPort: z.number().int().min(0).max(65_535).optional(),
  /** Address the read API listens on. @default '127.0.0.1' (loopback only) */
  httpHost: z.string().min(1).default('127.0.0.1'),
  /** Write-ahead-log group commit interval. @default 10 */
  walFsyncIntervalMs: z.number().int().positive().max(10_000).default(10),
  /** Hot-state snapshot interval. @default 300 */
  snapshotIntervalSeconds: z.number().positive().max(86_400).default(300),
  /** Snapshots kept. @default 12 */
  snapshotsKept: z.number().int().positive().max(1000).default(12),
  /** Warm buffers above this many bytes are sealed early. @default 268_435_456 (256 MiB) */
  maxBufferedBytes: z.number().int().positive().default(256 * 1024 * 1024),
  /** Uploads in flight at once. @default 4 */
  uploadConcurrency: z.number().int().positive().max(64).default(4),
  /** How long a graceful stop waits for uploads in flight before leaving the rest for the next start. @default 30 */
  drainTimeoutSeconds: z.number().positive().max(3600).default(30),
  /** Reconnect when a subscribed feed sends nothing for this long; 0 = off (stock feeds are quiet out of hours). @default 0 */
  dataSilenceSeconds: z.number().min(0).max(86_400).default(0),
  /** Warm files whose partition date is older than this many days go, once the store holds a verified copy. @default 7 */
  warmRetentionDays: z.number().positive().max(3650).default(7),
  /** How often disk space and warm retention are checked. @default 60 */
  housekeepingIntervalSeconds: z.number().positive().max(86_400).default(60),
  /** Free disk below this share of the file system raises a warning. @default 0.1 */
  diskWarnFreeRatio: z.number().min(0).max(1).default(0.1),
  /** Hot tier: event-time window of the trade and quote rings. @default 60 */
  hotWindowSeconds: z.number().positive().max(86_400).default(60),
  /** Hot tier: symbols held at most (least recently used evicted). @default 100 */
  hotMaxSymbols: z.number().int().positive().max(100_000).default(100),
  /** Hot tier: memory ceiling in bytes. @default 268_435_456 (256 MiB) */
  hotMemoryCeilingBytes: z.number().int().positive().default(256 * 1024 * 1024),
  /** Alpaca stream URL (iex, sip, or crypto). */
  alpacaUrl: z.url({ protocol: /^wss?$/ }).default('wss://stream.data.alpaca.markets/v2/iex'),
  /** Credentials; normally from APCA_API_KEY_ID / APCA_API_SECRET_KEY. Never logged. */
  alpacaKeyId: z.string().optional(),
  alpacaSecretKey: z.string().optional(),
  symbols: z.array(symbol).min(1).max(10_000).default([...DEFAULT_SIM_SYMBOLS]),
  /** Stop by itself after this many seconds (drain, flush, exit 0). */
  durationSeconds: z.number().positive().max(10 * 365 * 86_400).optional(),
  /** Seal warm buffers this old. @default 300 */
  flushIntervalSeconds: z.number().positive().max(86_400).default(300),
  /** Seal a warm buffer when it holds this many rows. @default 1_000_000 */
  maxRowsPerFile: z.number().int().positive().max(50_000_000).default(1_000_000),
  /** Hot tier: trades held per symbol at most. @default 60_000 */
  hotTradesPerSymbol: z.number().int().positive().max(10_000_000).default(60_000),
  /** Hot tier: quotes held per symbol at most. @default 60_000 */
  hotQuotesPerSymbol: z.number().int().positive().max(10_000_000).default(60_000),
  sim: z.strictObject({
    messagesPerSecond: z.number().positive().max(1_000_000).default(2_000),
    seed: z.number().int().default(42),
  }).default({ messagesPerSecond: 2_000, seed: 42 }),
});

export type AgentConfig = z.output<typeof AgentConfigSchema> & { readonly store: string };
export type AgentConfigInput = z.input<typeof AgentConfigSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function describeIssues(error: z.ZodError, source: string): string {
  return error.issues
    .map((i) => `${source}: ${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

/** Reads a JSON config file, naming the file in every error. */
export function readConfigFile(path: string): AgentConfigInput {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`config file ${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return JSON.parse(text) as AgentConfigInput;
  } catch (e) {
    throw new ConfigError(`config file ${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** Merges file, environment and command-line values over the defaults and validates the result. */
export function resolveAgentConfig(layers: {
  file?: AgentConfigInput;
  filePath?: string;
  cli?: AgentConfigInput;
  env?: NodeJS.ProcessEnv;
}): AgentConfig {
  const env = layers.env ?? process.env;
  const fromEnv: AgentConfigInput = {};
  if (env['APCA_API_KEY_ID'] !== undefined) fromEnv.alpacaKeyId = env['APCA_API_KEY_ID'];
  if (env['APCA_API_SECRET_KEY'] !== undefined) fromEnv.alpacaSecretKey = env['APCA_API_SECRET_KEY'];
  const fileLayer = layers.file ?? {};
  const cliLayer = layers.cli ?? {};
  const merged = { ...fileLayer, ...fromEnv, ...cliLayer, sim: { ...fileLayer.sim, ...cliLayer.sim }, s3: { ...fileLayer.s3, ...cliLayer.s3 } };
  const parsed = AgentConfigSchema.safeParse(merged);
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error, layers.filePath ?? 'config'));
  const config = parsed.data;
  if (config.feed === 'replay' && config.replayFiles.length === 0) {
    throw new ConfigError('feed replay needs at least one file: --replay FILE...');
  }
  if (config.feed === 'alpaca' && (config.alpacaKeyId === undefined || config.alpacaSecretKey === undefined)) {
    throw new ConfigError('feed alpaca needs credentials: set APCA_API_KEY_ID and APCA_API_SECRET_KEY (or alpacaKeyId/alpacaSecretKey in the config file)');
  }
  const dataDir = resolve(config.dataDir);
  return { ...config, dataDir, store: config.store ?? join(dataDir, 'store') };
}

/** The config as safe to log: credentials replaced. */
export function redactedConfig(config: AgentConfig): Record<string, unknown> {
  return {
    ...config,
    alpacaKeyId: config.alpacaKeyId === undefined ? undefined : '[redacted]',
    alpacaSecretKey: config.alpacaSecretKey === undefined ? undefined : '[redacted]',
  };
}

/**
 * Compaction of one unit, as the Lambda runs it (`handler`) and as `tickvault compact` runs it (compactHandler
 * with a local store): the sources come from the warm manifests (sourcesOfUnit), the work from compactUnit.
 *
 * Event:  { dataset, symbol, month }         month 'YYYY-MM'; for bars_1d the year, 'YYYY' (a 'YYYY-MM' names its year)
 *         agentIds?: string[]                whose warm manifests to read (else the AGENT_IDS environment variable)
 * Result: CompactionSummary (JSON: the unit, status, mode, rows, keys, checksum, tagging)
 */
import { tmpdir } from 'node:os';
import { z } from 'zod';
import type { ObjectStore } from '../../core/object-store/object-store.ts';
import { type CompactionUnit, describeUnit, sourcesOfUnit, validateUnit } from '../shared/compaction-units.ts';
import { ConfigError, envAgentIds, envMemoryLimit, envNonNegativeNumber, envPositiveInt, readEnv } from '../shared/env.ts';
import { storeFromEnv } from '../shared/lambda-store.ts';
import { LOG_LEVELS, type LambdaContext, type Logger, type PowertoolsLogger, powertoolsLogger, silentLogger } from '../shared/log.ts';
import { createScratchDir } from '../shared/scratch-dir.ts';
import { type CompactionResult, compactUnit } from './compact-unit.ts';

export const CompactionEventSchema = z.strictObject({
  dataset: z.string().min(1).max(32),
  symbol: z.string().min(1).max(64),
  month: z.string().regex(/^\d{4}(-\d{2})?$/, 'expected YYYY-MM (or YYYY for bars_1d)'),
  agentIds: z.array(z.string().min(1).max(64)).min(1).max(100).optional(),
});
export type CompactionEvent = z.input<typeof CompactionEventSchema>;

export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError';
}

/** @default values are the Lambda's (see CompactorEnvSchema). */
export interface CompactionDeps {
  readonly store: ObjectStore;
  /** Parent of the run's scratch directory (inputs, output, DuckDB spill), which is removed afterwards. */
  readonly scratchDir: string;
  /** Agents whose warm manifests name the sources, when the event names none. */
  readonly agentIds?: readonly string[];
  /** DuckDB memory limit. @default '1GB' */
  readonly memoryLimit?: string;
  /** DuckDB threads. @default 2 */
  readonly threads?: number;
  /** Hours after a month's end before it is sealed (daily bars take only sealed months' feed bars). @default 6 */
  readonly graceHours?: number;
  /** @default () => Date.now() */
  readonly nowMs?: () => number;
  /** @default silentLogger */
  readonly log?: Logger;
}

/** JSON-safe summary of a result. */
export type CompactionSummary = Omit<CompactionResult, 'sourceKeys'> & { readonly sourceObjects: number };

export function parseCompactionEvent(event: unknown): CompactionUnit & { agentIds?: string[] } {
  const parsed = CompactionEventSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidEventError(`invalid compaction event: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const unit = validateUnit(parsed.data);
  return parsed.data.agentIds === undefined ? unit : { ...unit, agentIds: parsed.data.agentIds };
}

export async function compactHandler(event: unknown, deps: CompactionDeps): Promise<CompactionSummary> {
  const { agentIds: eventAgentIds, ...unit } = parseCompactionEvent(event);
  const agentIds = eventAgentIds ?? deps.agentIds;
  if (agentIds === undefined || agentIds.length === 0) {
    throw new ConfigError(`${describeUnit(unit)}: no agent ids to read warm manifests of: name them in the event (agentIds) or in AGENT_IDS`);
  }
  const nowMs = deps.nowMs ?? (() => Date.now());
  const log = deps.log ?? silentLogger;
  const sources = await sourcesOfUnit(deps.store, unit, { agentIds, nowMs: nowMs(), graceHours: deps.graceHours ?? 6 });
  const scratch = await createScratchDir(deps.scratchDir);
  let result: CompactionResult;
  try {
    result = await compactUnit(unit, {
      store: deps.store, workDir: scratch.path, sources, nowMs, log,
      ...(deps.memoryLimit !== undefined && { memoryLimit: deps.memoryLimit }),
      ...(deps.threads !== undefined && { threads: deps.threads }),
    });
  } finally {
    await scratch.remove();
  }
  const { sourceKeys, ...rest } = result;
  log.info(result.status === 'compacted' ? 'unit compacted' : 'unit has no input', { ...rest, unit: describeUnit(unit) });
  return { ...rest, sourceObjects: sourceKeys.length };
}

export const CompactorEnvSchema = z.object({
  AGENT_IDS: envAgentIds,
  /** @default '2GB' (the CDK app sets two thirds of the function's memory) */
  DUCKDB_MEMORY_LIMIT: envMemoryLimit('2GB'),
  /** @default 2 */
  DUCKDB_THREADS: envPositiveInt(2),
  /** @default 6 */
  GRACE_HOURS: envNonNegativeNumber(6),
  /** @default the system temp directory (/tmp in Lambda) */
  SCRATCH_DIR: z.string().min(1).optional(),
  /** @default 'info' */
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
});

/** Built on the first invocation, kept for the warm container's later ones. */
let lambda: { deps: CompactionDeps; logger: PowertoolsLogger } | undefined;

/** The Lambda handler: configuration from the environment (BUCKET, AGENT_IDS, …), credentials from the role. */
export async function handler(event: unknown, context?: LambdaContext): Promise<CompactionSummary> {
  lambda ??= (() => {
    const env = readEnv(CompactorEnvSchema, process.env);
    const logger = powertoolsLogger('tickvault-compactor', env.LOG_LEVEL);
    return { logger, deps: {
      store: storeFromEnv(process.env),
      scratchDir: env.SCRATCH_DIR ?? tmpdir(),
      ...(env.AGENT_IDS !== undefined && { agentIds: env.AGENT_IDS }),
      memoryLimit: env.DUCKDB_MEMORY_LIMIT,
      threads: env.DUCKDB_THREADS,
      graceHours: env.GRACE_HOURS,
      log: logger,
    } };
  })();
  if (context !== undefined) lambda.logger.addContext(context);
  return compactHandler(event, lambda.deps);
}

/**
 * The retention Lambda: deletes warm objects `WARM_RETENTION_DAYS_AFTER_COMPACTION` days after their compaction,
 * judged by the cold manifests (expire-warm.ts). Cold objects move to a cheaper storage class by the bucket's
 * lifecycle rule; nothing here touches them.
 *
 * Event (all optional; the schedule sends {}): retentionDays, lookbackMonths, dryRun
 * Result: RetentionResult without the key list (counts: examined, deleted, alreadyGone, notYetDue, mismatched…)
 * Environment: BUCKET (BUCKET_PREFIX, S3_FORCE_PATH_STYLE), WARM_RETENTION_DAYS_AFTER_COMPACTION (7; the CDK app's
 * WARM_EXPIRY_DAYS_AFTER_COMPACTION is read when it is unset), RETENTION_LOOKBACK_MONTHS (3), LOG_LEVEL ('info').
 */
import { z } from 'zod';
import type { ObjectStore } from '../../core/object-store/object-store.ts';
import { monthOfMs } from '../shared/compaction-units.ts';
import { envOptionalNonNegativeNumber, envPositiveInt, readEnv } from '../shared/env.ts';
import { storeFromEnv } from '../shared/lambda-store.ts';
import { LOG_LEVELS, type LambdaContext, type Logger, type PowertoolsLogger, powertoolsLogger, silentLogger } from '../shared/log.ts';
import { lookbackWindow } from '../planner/plan-units.ts';
import { type RetentionResult, expireCompactedWarmObjects } from './expire-warm.ts';

export const RetentionEventSchema = z.strictObject({
  retentionDays: z.number().min(0).max(3650).optional(),
  lookbackMonths: z.number().int().min(1).max(120).optional(),
  dryRun: z.boolean().optional(),
});

export class InvalidRetentionEventError extends Error {
  override readonly name = 'InvalidRetentionEventError';
}

export interface RetentionDeps {
  readonly store: ObjectStore;
  /** @default 7 */
  readonly retentionDays?: number;
  /** Months before the current one whose cold manifests are read. @default 3 */
  readonly lookbackMonths?: number;
  /** @default () => Date.now() */
  readonly nowMs?: () => number;
  /** @default silentLogger */
  readonly log?: Logger;
}

export type RetentionSummary = Omit<RetentionResult, 'deletedKeys'> & { readonly months: readonly string[]; readonly dryRun: boolean };

export async function retentionHandler(event: unknown, deps: RetentionDeps): Promise<RetentionSummary> {
  const parsed = RetentionEventSchema.safeParse(event ?? {});
  if (!parsed.success) {
    throw new InvalidRetentionEventError(`invalid retention event: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const nowMs = (deps.nowMs ?? (() => Date.now()))();
  // The current month too: daily-bar manifests are per year and are rewritten during it.
  const months = [...lookbackWindow(monthOfMs(nowMs), parsed.data.lookbackMonths ?? deps.lookbackMonths ?? 3), monthOfMs(nowMs)];
  const dryRun = parsed.data.dryRun ?? false;
  const { deletedKeys: _keys, ...result } = await expireCompactedWarmObjects({
    store: deps.store, nowMs, months, dryRun, log: deps.log ?? silentLogger,
    retentionDays: parsed.data.retentionDays ?? deps.retentionDays ?? 7,
  });
  return { ...result, months, dryRun };
}

export const RetentionEnvSchema = z.object({
  /** @default WARM_EXPIRY_DAYS_AFTER_COMPACTION (the name the CDK app sets), else 7 */
  WARM_RETENTION_DAYS_AFTER_COMPACTION: envOptionalNonNegativeNumber,
  WARM_EXPIRY_DAYS_AFTER_COMPACTION: envOptionalNonNegativeNumber,
  /** @default 3 */
  RETENTION_LOOKBACK_MONTHS: envPositiveInt(3),
  /** @default 'info' */
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
});

/** Built on the first invocation, kept for the warm container's later ones. */
let lambda: { deps: RetentionDeps; logger: PowertoolsLogger } | undefined;

export async function handler(event: unknown, context?: LambdaContext): Promise<RetentionSummary> {
  lambda ??= (() => {
    const env = readEnv(RetentionEnvSchema, process.env);
    const logger = powertoolsLogger('tickvault-retention', env.LOG_LEVEL);
    return { logger, deps: {
      store: storeFromEnv(process.env),
      retentionDays: env.WARM_RETENTION_DAYS_AFTER_COMPACTION ?? env.WARM_EXPIRY_DAYS_AFTER_COMPACTION ?? 7,
      lookbackMonths: env.RETENTION_LOOKBACK_MONTHS,
      log: logger,
    } };
  })();
  if (context !== undefined) lambda.logger.addContext(context);
  return retentionHandler(event, lambda.deps);
}

/**
 * The planner Lambda: returns the compaction units due for the archival workflow's Map, and publishes the
 * compaction lag (tickvault/CompactionLagDays, dimension service=tickvault-planner) through Powertools' Metrics (EMF).
 *
 * Event (all optional; the schedule sends {}): agentIds, lookbackMonths, graceHours, replanAfterHours, dataset, symbol
 * Result: { units: [{ dataset, symbol, month }], months, compactionLagDays, oldestDueMonth?, counts… }
 *         (month is the year 'YYYY' for bars_1d roll-ups)
 * Environment: BUCKET (BUCKET_PREFIX, S3_FORCE_PATH_STYLE), AGENT_IDS (comma-separated; required unless the event
 * names them), LOOKBACK_MONTHS (2), GRACE_HOURS (6), REPLAN_AFTER_HOURS (24), METRIC_NAMESPACE ('tickvault'),
 * COMPACTION_LAG_METRIC ('CompactionLagDays'), LOG_LEVEL ('info').
 */
import { z } from 'zod';
import { parseDatasetName } from '../../core/datasets.ts';
import type { ObjectStore } from '../../core/object-store/object-store.ts';
import { validateAgentId } from '../../core/layout.ts';
import { validateSymbol } from '../../core/symbols.ts';
import { ConfigError, envAgentIds, envNonNegativeNumber, envPositiveInt, readEnv } from '../shared/env.ts';
import { storeFromEnv } from '../shared/lambda-store.ts';
import { COMPACTION_LAG_METRIC, METRIC_NAMESPACE, PLANNER_SERVICE } from '../../lib/metrics.ts';
import { LOG_LEVELS, type LambdaContext, type Logger, type PowertoolsLogger, powertoolsLogger, silentLogger } from '../shared/log.ts';
import { MetricUnit, type Metrics, powertoolsMetrics } from '../shared/metrics.ts';
import { type PlanOptions, type PlanResult, planUnits } from './plan-units.ts';

export const PlannerEventSchema = z.strictObject({
  agentIds: z.array(z.string()).min(1).max(100).optional(),
  lookbackMonths: z.number().int().min(1).max(24).optional(),
  graceHours: z.number().min(0).max(24 * 31).optional(),
  replanAfterHours: z.number().min(0).max(24 * 31).optional(),
  dataset: z.string().min(1).max(32).optional(),
  symbol: z.string().min(1).max(64).optional(),
});

export class InvalidPlannerEventError extends Error {
  override readonly name = 'InvalidPlannerEventError';
}

export interface PlannerDeps {
  readonly store: ObjectStore;
  readonly agentIds?: readonly string[];
  /** @default 2 */
  readonly lookbackMonths?: number;
  /** @default 6 */
  readonly graceHours?: number;
  /** @default 24 */
  readonly replanAfterHours?: number;
  /** @default () => Date.now() */
  readonly nowMs?: () => number;
  /** @default silentLogger */
  readonly log?: Logger;
  /** Where CompactionLagDays goes. @default none */
  readonly metrics?: Metrics;
  /** @default 'CompactionLagDays' */
  readonly lagMetricName?: string;
}

/** The plan without what only the log needs (each unit's reasons, the warm keys), JSON-safe for the workflow. */
export type PlannerResult = Omit<PlanResult, 'planned' | 'warmKeys' | 'oldestDueMonth'> & { readonly oldestDueMonth?: string };

export async function plannerHandler(event: unknown, deps: PlannerDeps): Promise<PlannerResult> {
  const parsed = PlannerEventSchema.safeParse(event ?? {});
  if (!parsed.success) {
    throw new InvalidPlannerEventError(`invalid planner event: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const e = parsed.data;
  const agentIds = e.agentIds?.map(validateAgentId) ?? deps.agentIds;
  if (agentIds === undefined || agentIds.length === 0) throw new ConfigError('no agent ids to read warm manifests of: set AGENT_IDS or name them in the event');
  const log = deps.log ?? silentLogger;
  const options: PlanOptions = {
    store: deps.store,
    agentIds,
    nowMs: (deps.nowMs ?? (() => Date.now()))(),
    lookbackMonths: e.lookbackMonths ?? deps.lookbackMonths ?? 2,
    graceHours: e.graceHours ?? deps.graceHours ?? 6,
    replanAfterHours: e.replanAfterHours ?? deps.replanAfterHours ?? 24,
    log,
    filter: {
      ...(e.dataset !== undefined && { dataset: parseDatasetName(e.dataset) }),
      ...(e.symbol !== undefined && { symbol: validateSymbol(e.symbol) }),
    },
  };
  const plan = await planUnits(options);
  deps.metrics?.addMetric(deps.lagMetricName ?? COMPACTION_LAG_METRIC, MetricUnit.NoUnit, plan.compactionLagDays);
  deps.metrics?.publishStoredMetrics();
  const { planned, warmKeys: _warmKeys, oldestDueMonth, ...counts } = plan;
  const result: PlannerResult = { ...counts, ...(oldestDueMonth !== undefined && { oldestDueMonth }) };
  log.info('planned', { ...result, units: planned.length, planned });
  return result;
}

export const PlannerEnvSchema = z.object({
  AGENT_IDS: envAgentIds,
  /** @default 2 */
  LOOKBACK_MONTHS: envPositiveInt(2),
  /** @default 6 */
  GRACE_HOURS: envNonNegativeNumber(6),
  /** @default 24 */
  REPLAN_AFTER_HOURS: envNonNegativeNumber(24),
  /** @default 'tickvault' */
  METRIC_NAMESPACE: z.string().min(1).default(METRIC_NAMESPACE),
  /** @default 'CompactionLagDays' */
  COMPACTION_LAG_METRIC: z.string().min(1).default(COMPACTION_LAG_METRIC),
  /** @default 'info' */
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
});

/** Built on the first invocation, kept for the warm container's later ones. */
let lambda: { deps: PlannerDeps; logger: PowertoolsLogger } | undefined;

export async function handler(event: unknown, context?: LambdaContext): Promise<PlannerResult> {
  lambda ??= (() => {
    const env = readEnv(PlannerEnvSchema, process.env);
    const logger = powertoolsLogger(PLANNER_SERVICE, env.LOG_LEVEL);
    return { logger, deps: {
      store: storeFromEnv(process.env),
      ...(env.AGENT_IDS !== undefined && { agentIds: env.AGENT_IDS }),
      lookbackMonths: env.LOOKBACK_MONTHS,
      graceHours: env.GRACE_HOURS,
      replanAfterHours: env.REPLAN_AFTER_HOURS,
      log: logger,
      metrics: powertoolsMetrics({ namespace: env.METRIC_NAMESPACE, service: PLANNER_SERVICE }),
      lagMetricName: env.COMPACTION_LAG_METRIC,
    } };
  })();
  if (context !== undefined) lambda.logger.addContext(context);
  return plannerHandler(event, lambda.deps);
}

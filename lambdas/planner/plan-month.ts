/**
 * The units of one month for `tickvault compact`: the planner's own code (planUnits), forced to that month
 * (sealed or not, due or not, no plan markers), over the agents named in AGENT_IDS or, when that is unset, the
 * agents whose manifests are found by listing the month's warm prefix (the command runs on a local store, where a
 * listing is cheap; the Lambda never lists). Warm objects that no manifest names are reported, not compacted.
 */
import { z } from 'zod';
import { DATASET_NAMES, type DatasetName } from '../../core/datasets.ts';
import { WARM_PREFIX, parseWarmManifestKey, warmMonthObjectPrefix } from '../../core/layout.ts';
import type { ObjectStore } from '../../core/object-store/object-store.ts';
import { type IsoMonth, parseIsoMonth } from '../../core/time.ts';
import { type CompactionUnit, nextMonth } from '../shared/compaction-units.ts';
import { envAgentIds, readEnv } from '../shared/env.ts';
import { type Logger, powertoolsLogger } from '../shared/log.ts';
import { planUnits } from './plan-units.ts';

export interface MonthUnit extends CompactionUnit {
  /** The agents whose manifests name the unit's sources (the compactor reads the same ones). */
  readonly agentIds: readonly string[];
}

/** Logs at 'warn' and above, which Powertools writes to stderr: the command's stdout stays one JSON result per line. */
const stderrLog = (): Logger => powertoolsLogger('tickvault-compact', 'warn');

export async function planMonth(
  store: ObjectStore,
  month: IsoMonth,
  filter: { dataset?: DatasetName; symbol?: string } = {},
  log: Logger = stderrLog(),
): Promise<MonthUnit[]> {
  parseIsoMonth(month);
  const configured = readEnv(z.object({ AGENT_IDS: envAgentIds }), process.env).AGENT_IDS;
  const listed = configured === undefined ? await listMonth(store, month) : undefined;
  const agentIds = configured ?? [...(listed?.agentIds ?? [])].sort();
  if (agentIds.length === 0) {
    if ((listed?.dataKeys.length ?? 0) > 0) {
      log.warn('warm objects without any manifest are not compacted (written before manifests existed?)', { month, objects: listed?.dataKeys.length, first: listed?.dataKeys[0] });
    }
    return [];
  }
  const plan = await planUnits({
    store, agentIds, nowMs: Date.now(), force: { months: [month] }, log,
    filter: { ...(filter.dataset !== undefined && { dataset: filter.dataset }), ...(filter.symbol !== undefined && { symbol: filter.symbol }) },
  });
  if (listed !== undefined) {
    const unnamed = listed.dataKeys.filter((k) => !plan.warmKeys.has(k));
    if (unnamed.length > 0) log.warn('warm objects no manifest names are not compacted', { month, objects: unnamed.length, first: unnamed[0] });
  }
  return plan.units.map((u) => ({ ...u, agentIds }));
}

/** Agent ids of the month's manifests, and the month's data object keys (every dataset, plus next month's first days' trade events). */
async function listMonth(store: ObjectStore, month: IsoMonth): Promise<{ agentIds: Set<string>; dataKeys: string[] }> {
  const agentIds = new Set<string>();
  const dataKeys: string[] = [];
  const prefixes = [
    ...DATASET_NAMES.map((d) => warmMonthObjectPrefix(d, month)),
    warmMonthObjectPrefix('trade_events', nextMonth(month)),
  ];
  for (const [i, prefix] of prefixes.entries()) {
    for await (const info of store.list(prefix)) {
      const manifest = parseWarmManifestKey(info.key);
      if (manifest !== undefined) agentIds.add(manifest.agentId);
      else if (i < DATASET_NAMES.length && info.key.startsWith(WARM_PREFIX)) dataKeys.push(info.key);
    }
  }
  return { agentIds, dataKeys };
}

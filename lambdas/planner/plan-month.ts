/**
 * Finds the compaction units of a month: every (dataset, symbol) with warm objects in it.
 * (Lists the month's warm prefix per dataset; the manifest-driven planner replaces the listing.)
 */
import { DATASET_NAMES, type DatasetName } from '../../core/datasets.ts';
import { WARM_PREFIX, parseWarmManifestKey, parseWarmObjectKey, warmMonthPrefix } from '../../core/layout.ts';
import type { ObjectStore } from '../../core/object-store/object-store.ts';
import type { IsoMonth } from '../../core/time.ts';
import type { CompactionUnit } from '../compactor/compact-unit.ts';

export async function planMonth(
  store: ObjectStore,
  month: IsoMonth,
  filter: { dataset?: DatasetName; symbol?: string } = {},
): Promise<CompactionUnit[]> {
  const units: CompactionUnit[] = [];
  const datasets = filter.dataset === undefined ? DATASET_NAMES.filter((d) => d !== 'bars_1d') : [filter.dataset];
  for (const dataset of datasets) {
    const symbols = new Set<string>();
    for await (const info of store.list(`${WARM_PREFIX}${warmMonthPrefix(dataset, month)}`)) {
      if (parseWarmManifestKey(info.key) !== undefined) continue;
      const { symbol } = parseWarmObjectKey(info.key).ref;
      if (filter.symbol === undefined || filter.symbol === symbol) symbols.add(symbol);
    }
    for (const symbol of [...symbols].sort()) units.push({ dataset, symbol, month });
  }
  return units;
}

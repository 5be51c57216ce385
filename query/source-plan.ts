/**
 * Which stored objects answer a (dataset, symbol, range) question: for each month the range touches, the cold
 * file when the month is compacted, otherwise the warm files of exactly the days the range touches.
 */
import type { DatasetName } from '../core/datasets.ts';
import { COLD_PREFIX, WARM_PREFIX, coldFilePath, coldPeriodOf, parseWarmManifestKey, parseWarmObjectKey, warmMonthPrefix } from '../core/layout.ts';
import type { ObjectStore } from '../core/object-store/object-store.ts';
import { type EpochNs, dateOfNs, monthOfDate } from '../core/time.ts';

export interface SourcePlan {
  readonly coldKeys: string[];
  readonly warmKeys: string[];
}

export class QueryError extends Error {
  override readonly name = 'QueryError';
}

/** Months (YYYY-MM) that [fromNs, toNs) touches. */
export function monthsTouched(fromNs: EpochNs, toNs: EpochNs): string[] {
  const months: string[] = [];
  const last = monthOfDate(dateOfNs(toNs - 1n));
  let [y, m] = monthOfDate(dateOfNs(fromNs)).split('-').map(Number) as [number, number];
  for (;;) {
    const month = `${y}-${String(m).padStart(2, '0')}`;
    months.push(month);
    if (month >= last) return months;
    m++;
    if (m === 13) { m = 1; y++; }
  }
}

export async function planSources(store: ObjectStore, dataset: DatasetName, symbol: string, fromNs: EpochNs, toNs: EpochNs): Promise<SourcePlan> {
  if (toNs <= fromNs) throw new QueryError(`empty time range: --to must be after --from`);
  const firstDate = dateOfNs(fromNs);
  const lastDate = dateOfNs(toNs - 1n);
  const plan: SourcePlan = { coldKeys: [], warmKeys: [] };
  for (const month of monthsTouched(fromNs, toNs)) {
    const coldKey = `${COLD_PREFIX}${coldFilePath({ dataset, period: coldPeriodOf(dataset, month), symbol })}`;
    if ((await store.head(coldKey)) !== undefined) {
      plan.coldKeys.push(coldKey);
      continue;
    }
    for await (const info of store.list(`${WARM_PREFIX}${warmMonthPrefix(dataset, month)}`)) {
      if (parseWarmManifestKey(info.key) !== undefined) continue;
      const { ref } = parseWarmObjectKey(info.key);
      if (ref.symbol === symbol && ref.date >= firstDate && ref.date <= lastDate) plan.warmKeys.push(info.key);
    }
  }
  return plan;
}

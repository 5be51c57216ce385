/**
 * Which stored objects answer a (dataset, symbol, time segment) question, by partition and nothing else: for each
 * cold period the segment touches, the cold file when that period is compacted; otherwise the warm objects (and the
 * agent's local warm files) of exactly the days the segment touches. No other partition is listed or opened.
 *
 * Only data files are ever picked: cold data keys are built, never listed (so `_manifest-*` and `_plan-*` files
 * beside them are never seen), and a warm listing keeps only keys that parse as warm part objects.
 *
 * Within the first and last day of a range, the agents' day manifests (core/warm-manifest.ts) also prune by time:
 * an object a manifest lists with [minTsNs, maxTsNs] outside the range is not opened (a 10-minute slice of a day of
 * 288 five-minute files opens about three). An object no manifest lists yet (manifests may lag the data, never lead
 * it) is always opened, and an unreadable manifest prunes nothing.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DatasetName } from '../core/datasets.ts';
import {
  COLD_PREFIX, LayoutError, WARM_PREFIX, coldFilePath, coldPeriodOf, datasetRoot, parseWarmFilePath, parseWarmManifestKey, parseWarmObjectKey,
  warmPartitionPath,
} from '../core/layout.ts';
import { WarmManifestError, decodeWarmManifest } from '../core/warm-manifest.ts';
import type { ObjectStore } from '../core/object-store/object-store.ts';
import { symbolToPath } from '../core/symbols.ts';
import { type EpochNs, type IsoDate, NS_PER_DAY, dateOfNs, monthOfDate, monthRangeNs, startOfDateNs } from '../core/time.ts';
import { QueryInputError } from './errors.ts';
import type { HotDataset, HotRow } from './hot-client.ts';
import type { TimeRange } from './model.ts';

export { QueryError } from './errors.ts';

/** Which stored tiers may answer: both with cold precedence, or one forced. */
export type StoredTierChoice = 'all' | 'warm' | 'cold';

/** The stored files that answer one symbol over one segment of the range. */
export interface StoredPlan {
  readonly dataset: DatasetName;
  readonly symbol: string;
  readonly range: TimeRange;
  /** Cold periods (YYYY-MM; YYYY for daily bars) answered by their cold file, in order. */
  readonly coldPeriods: readonly string[];
  /** Store keys of those cold files. */
  readonly coldKeys: readonly string[];
  /** Days answered by warm objects, in order. */
  readonly warmDays: readonly IsoDate[];
  /** Store keys of the warm objects of those days (empty when the plan was made without listing). */
  readonly warmKeys: readonly string[];
  /** Absolute paths of the agent's local warm files of those days. */
  readonly warmDirFiles: readonly string[];
  /** Warm objects of those days that their manifests place wholly outside the range, so not opened. */
  readonly warmKeysPruned: number;
}

export interface PlanOptions {
  /** @default 'all' */
  readonly tier?: StoredTierChoice;
  /** The agent's warm directory (DATA_DIR/warm), read in place when it exists. */
  readonly warmDir?: string;
  /** List the warm partitions (DuckDB opens the files); Athena only needs the days. @default true */
  readonly listWarm?: boolean;
  /** Cold periods already known to be compacted (from findCompactedPeriods), to save the HEAD requests. */
  readonly compacted?: ReadonlySet<string>;
  /** Day manifests already read for this query (shared by the plans of its symbols), by dataset and date. */
  readonly manifests?: ManifestCache;
}

export type ManifestCache = Map<string, Promise<Map<string, { min: EpochNs; max: EpochNs }>>>;

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

/** Days (YYYY-MM-DD, UTC) that [fromNs, toNs) touches. */
export function daysTouched(fromNs: EpochNs, toNs: EpochNs): IsoDate[] {
  const days: IsoDate[] = [];
  for (let t = startOfDateNs(dateOfNs(fromNs)); t < toNs; t += NS_PER_DAY) days.push(dateOfNs(t));
  return days;
}

/** The cold period a day belongs to. */
export function coldPeriodOfDay(dataset: DatasetName, date: IsoDate): string {
  return coldPeriodOf(dataset, monthOfDate(date));
}

/** [start, end) of a cold period. */
export function coldPeriodRangeNs(period: string): TimeRange {
  if (/^\d{4}$/.test(period)) {
    return { fromNs: monthRangeNs(`${period}-01`).fromNs, toNs: monthRangeNs(`${period}-12`).toNs };
  }
  const { fromNs, toNs } = monthRangeNs(period);
  return { fromNs, toNs };
}

/** The store key of a cold data file. */
export function coldKeyOf(dataset: DatasetName, period: string, symbol: string): string {
  return `${COLD_PREFIX}${coldFilePath({ dataset, period, symbol })}`;
}

/** Cold periods the range touches, in order. */
export function coldPeriodsTouched(dataset: DatasetName, range: TimeRange): string[] {
  return [...new Set(monthsTouched(range.fromNs, range.toNs).map((m) => coldPeriodOf(dataset, m)))];
}

/** The cold periods of the range whose cold file exists for the symbol (one HEAD per period). */
export async function findCompactedPeriods(store: ObjectStore, dataset: DatasetName, symbol: string, range: TimeRange): Promise<Set<string>> {
  const periods = coldPeriodsTouched(dataset, range);
  const present = await mapLimit(periods, 8, async (p) => ((await store.head(coldKeyOf(dataset, p, symbol))) === undefined ? undefined : p));
  return new Set(present.filter((p): p is string => p !== undefined));
}

/**
 * Daily bars keep one cold file per year, rebuilt as months are compacted, so a year file does not say which of
 * its days are final. For them the year file and the warm days are both read, and the merge keeps the cold bar
 * of a day that both hold (bars deduplicate by (symbol, ts), cold first).
 */
function warmAlsoUnderCold(dataset: DatasetName): boolean {
  return dataset === 'bars_1d';
}

/** Plans the stored files of one symbol over one segment. */
export async function planStored(store: ObjectStore, dataset: DatasetName, symbol: string, range: TimeRange, options: PlanOptions = {}): Promise<StoredPlan> {
  if (range.toNs <= range.fromNs) throw new QueryInputError('to', 'to: empty time range: to must be after from');
  const tier = options.tier ?? 'all';
  const compacted = tier === 'warm' ? new Set<string>()
    : options.compacted ?? await findCompactedPeriods(store, dataset, symbol, range);
  const coldPeriods = coldPeriodsTouched(dataset, range).filter((p) => compacted.has(p));
  const warmDays = tier === 'cold' ? []
    : daysTouched(range.fromNs, range.toNs).filter((d) => warmAlsoUnderCold(dataset) || !compacted.has(coldPeriodOfDay(dataset, d)));
  const listWarm = options.listWarm ?? true;
  const [listed, warmDirFiles] = await Promise.all([
    listWarm ? mapLimit(warmDays, 8, (d) => listWarmObjects(store, dataset, d, symbol, range, options.manifests ?? new Map())) : [],
    listWarm && options.warmDir !== undefined ? mapLimit(warmDays, 8, (d) => listWarmDir(options.warmDir as string, dataset, d, symbol)) : [],
  ]);
  return {
    dataset, symbol, range, coldPeriods, coldKeys: coldPeriods.map((p) => coldKeyOf(dataset, p, symbol)),
    warmDays, warmKeys: listed.flatMap((l) => l.keys), warmDirFiles: warmDirFiles.flat(), warmKeysPruned: listed.reduce((n, l) => n + l.pruned, 0),
  };
}

/** Time bounds of the objects the day's manifests list, by key; manifests that do not parse are passed over. */
async function manifestBounds(store: ObjectStore, dataset: DatasetName, date: IsoDate): Promise<Map<string, { min: EpochNs; max: EpochNs }>> {
  const bounds = new Map<string, { min: EpochNs; max: EpochNs }>();
  for await (const info of store.list(`${WARM_PREFIX}${datasetRoot(dataset)}/date=${date}/_manifest-`)) {
    if (parseWarmManifestKey(info.key) === undefined) continue;
    try {
      for (const o of decodeWarmManifest(info.key, await store.get(info.key)).objects) bounds.set(o.key, { min: BigInt(o.minTsNs), max: BigInt(o.maxTsNs) });
    } catch (err) {
      if (!(err instanceof WarmManifestError)) throw err;
    }
  }
  return bounds;
}

/** Warm part objects of one partition (dataset, day, symbol) in the store that may hold rows of the range, in key order. */
async function listWarmObjects(store: ObjectStore, dataset: DatasetName, date: IsoDate, symbol: string, range: TimeRange, manifests: ManifestCache): Promise<{ keys: string[]; pruned: number }> {
  const dayStart = startOfDateNs(date);
  const partial = range.fromNs > dayStart || range.toNs < dayStart + NS_PER_DAY;
  let bounds = new Map<string, { min: EpochNs; max: EpochNs }>();
  if (partial) {
    const cacheKey = `${dataset}/${date}`;
    const cached = manifests.get(cacheKey) ?? manifestBounds(store, dataset, date);
    manifests.set(cacheKey, cached);
    bounds = await cached;
  }
  let pruned = 0;
  const keys: string[] = [];
  for await (const info of store.list(`${WARM_PREFIX}${warmPartitionPath(dataset, date, symbol)}/`)) {
    if (parseWarmManifestKey(info.key) !== undefined) continue;
    try {
      const { ref } = parseWarmObjectKey(info.key);
      if (ref.dataset !== dataset || ref.symbol !== symbol || ref.date !== date) continue;
    } catch (err) {
      if (!(err instanceof LayoutError)) throw err; // anything else in the partition is not ours to read
      continue;
    }
    const b = bounds.get(info.key);
    if (b !== undefined && (b.max < range.fromNs || b.min >= range.toNs)) pruned++;
    else keys.push(info.key);
  }
  return { keys, pruned };
}

/** The agent's sealed warm files of one partition (temp files and anything else are skipped), by name. */
async function listWarmDir(warmDir: string, dataset: DatasetName, date: IsoDate, symbol: string): Promise<string[]> {
  const partition = warmPartitionPath(dataset, date, symbol);
  let names: string[];
  try {
    names = await readdir(join(warmDir, ...partition.split('/')));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw err;
  }
  return names
    .filter((name) => /^part-\d+\.parquet$/.test(name))
    .filter((name) => {
      try {
        parseWarmFilePath(`${partition}/${name}`);
        return true;
      } catch {
        return false;
      }
    })
    .sort()
    .map((name) => join(warmDir, ...partition.split('/'), name));
}

/** The symbol's Hive path form, as the warm `symbol=` partition holds it. */
export function warmSymbolPartition(symbol: string): string {
  return symbolToPath(symbol);
}

/** Runs fn over items with at most `limit` in flight; results in item order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** The hot tier's rows of one symbol that answer [range.fromNs, range.toNs). */
export interface HotSegment<D extends HotDataset = HotDataset> {
  readonly dataset: D;
  readonly symbol: string;
  readonly range: TimeRange;
  readonly rows: readonly HotRow<D>[];
}

/** Everything that answers a query: stored files per (dataset, symbol, segment) and hot rows per (dataset, symbol). */
export interface QuerySources {
  readonly stored: readonly StoredPlan[];
  readonly hot: readonly HotSegment[];
}

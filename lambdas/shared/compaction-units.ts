/**
 * What a compaction unit is, when it is due, and which objects are its sources. The planner and the compactor both
 * use these rules, so the set of sources the planner compares with a cold manifest is the set the compactor reads.
 *
 *   unit (dataset, symbol, month)  one cold file: `cold/<root>/year=YYYY/month=MM/SYM.parquet`
 *   unit (bars_1d, symbol, YYYY)   the year's daily bars, rolled up from the 1m monthly cold files
 *
 * Sources, found through the agents' per-day warm manifests (one GET per dataset, day and agent, never a LIST):
 *   - a monthly unit: its dataset's warm objects of the symbol on every day of the month;
 *   - trades also: the symbol's trade_events of the month and of the first TRADE_EVENT_SPILLOVER_DAYS days of the
 *     next month (a cancel or correction can come after the month ends); later ones are not applied to the month;
 *   - daily bars: the cold 1m monthly files of the year (through their cold manifests), plus the feed's own daily
 *     bars (warm bars_1d) of the year's sealed months, which fill days that have no 1m bars.
 */
import { type DatasetName, parseDatasetName } from '../../core/datasets.ts';
import { coldObjectKey, readColdManifest } from '../../core/cold-manifest.ts';
import { parseWarmObjectKey } from '../../core/layout.ts';
import type { ObjectStore } from '../../core/object-store/object-store.ts';
import { validateSymbol } from '../../core/symbols.ts';
import { type IsoDate, type IsoMonth, datesOfMonth, parseIsoMonth } from '../../core/time.ts';
import { WarmManifestError, type WarmManifestObject, readWarmManifest } from '../../core/warm-manifest.ts';
import { mapLimit } from './pool.ts';

/** Datasets compacted one file per symbol and month. bars_1d is rolled up per year instead. */
export const MONTHLY_DATASETS = ['trades', 'trade_events', 'quotes', 'bars_1m', 'bars_5m'] as const satisfies readonly DatasetName[];
export type MonthlyDataset = (typeof MONTHLY_DATASETS)[number];

/** Days of the next month whose trade events (cancels, corrections) still apply to a month's trades. */
export const TRADE_EVENT_SPILLOVER_DAYS = 3;
/** Manifest GETs in flight at once. */
export const MANIFEST_READ_CONCURRENCY = 16;

const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 86_400_000;

export interface CompactionUnit {
  readonly dataset: DatasetName;
  readonly symbol: string;
  /** 'YYYY-MM'; for bars_1d, the year 'YYYY' (a 'YYYY-MM' names its year). */
  readonly month: string;
}

/** One object a cold file is built from, as its manifest names it. */
export interface SourceObject {
  readonly key: string;
  /** SHA-256 of the bytes, base64. */
  readonly sha256: string;
  readonly rows: number;
}

export class UnitError extends Error {
  override readonly name = 'UnitError';
}

export function isMonthlyDataset(dataset: DatasetName): dataset is MonthlyDataset {
  return (MONTHLY_DATASETS as readonly string[]).includes(dataset);
}

/** Validates a unit from outside (an event, the command line); bars_1d units are normalised to their year. */
export function validateUnit(unit: { dataset: string; symbol: string; month: string }): CompactionUnit {
  const dataset = parseDatasetName(unit.dataset);
  const symbol = validateSymbol(unit.symbol);
  if (dataset === 'bars_1d') {
    const year = /^\d{4}$/.test(unit.month) ? unit.month : parseIsoMonth(unit.month).slice(0, 4);
    if (Number(year) < 1970) throw new UnitError(`invalid year ${JSON.stringify(unit.month)}: expected 1970 or later`);
    return { dataset, symbol, month: year };
  }
  return { dataset, symbol, month: parseIsoMonth(unit.month) };
}

/** The cold period of a unit: its month, or its year for daily bars. */
export function unitPeriod(unit: CompactionUnit): string {
  return unit.dataset === 'bars_1d' ? unit.month.slice(0, 4) : unit.month;
}

/** `trades AAPL 2024-07`, for logs and errors. */
export function describeUnit(unit: CompactionUnit): string {
  return `${unit.dataset} ${unit.symbol} ${unitPeriod(unit)}`;
}

export function unitColdKey(unit: CompactionUnit): string {
  return coldObjectKey(unit.dataset, unitPeriod(unit), unit.symbol);
}

// ---- Calendar ----------------------------------------------------------------------------------------------------

export function monthStartMs(month: IsoMonth): number {
  const [y, m] = parseIsoMonth(month).split('-').map(Number) as [number, number];
  return Date.UTC(y, m - 1, 1);
}

/** The first instant after the month. */
export function monthEndMs(month: IsoMonth): number {
  return monthStartMs(nextMonth(month));
}

export function nextMonth(month: IsoMonth): IsoMonth {
  const [y, m] = parseIsoMonth(month).split('-').map(Number) as [number, number];
  return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
}

export function previousMonth(month: IsoMonth): IsoMonth {
  const [y, m] = parseIsoMonth(month).split('-').map(Number) as [number, number];
  return m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, '0')}`;
}

export function monthOfMs(ms: number): IsoMonth {
  return new Date(ms).toISOString().slice(0, 7);
}

export function dateOfMs(ms: number): IsoDate {
  return new Date(ms).toISOString().slice(0, 10);
}

/** A month is sealed once `graceHours` have passed since it ended: no more data is expected for it. */
export function isMonthSealed(month: IsoMonth, nowMs: number, graceHours: number): boolean {
  return nowMs > monthEndMs(month) + graceHours * MS_PER_HOUR;
}

/** Days from the end of a month to now (0 before it ends). */
export function daysSinceMonthEnd(month: IsoMonth, nowMs: number): number {
  return Math.max(0, (nowMs - monthEndMs(month)) / MS_PER_DAY);
}

/** The months of a year, up to and including `lastMonth` when it falls in that year. */
export function monthsOfYear(year: string, lastMonth: IsoMonth): IsoMonth[] {
  const months: IsoMonth[] = [];
  for (let m = 1; m <= 12; m++) {
    const month = `${year}-${String(m).padStart(2, '0')}`;
    if (month > lastMonth) break;
    months.push(month);
  }
  return months;
}

// ---- Which warm days hold a unit's sources -----------------------------------------------------------------------

export interface DatasetDay {
  readonly dataset: DatasetName;
  readonly date: IsoDate;
}

export interface Clock {
  readonly nowMs: number;
  readonly graceHours: number;
}

/** The (dataset, day) pairs whose warm manifests name the unit's warm sources; days after today are left out. */
export function warmDaysOfUnit(unit: CompactionUnit, clock: Clock): DatasetDay[] {
  const today = dateOfMs(clock.nowMs);
  const days: DatasetDay[] = [];
  const add = (dataset: DatasetName, dates: readonly IsoDate[]): void => {
    for (const date of dates) if (date <= today) days.push({ dataset, date });
  };
  if (unit.dataset === 'bars_1d') {
    for (const month of monthsOfYear(unitPeriod(unit), monthOfMs(clock.nowMs))) {
      if (isMonthSealed(month, clock.nowMs, clock.graceHours)) add('bars_1d', datesOfMonth(month));
    }
    return days;
  }
  add(unit.dataset, datesOfMonth(unit.month));
  if (unit.dataset === 'trades') {
    add('trade_events', datesOfMonth(unit.month));
    add('trade_events', datesOfMonth(nextMonth(unit.month)).slice(0, TRADE_EVENT_SPILLOVER_DAYS));
  }
  return days;
}

/**
 * The units a warm object is a source of: its home unit (same dataset, symbol and month, or year for daily bars)
 * first, then, for trade events of the first days of a month, the previous month's trades.
 */
export function unitsOfWarmObject(dataset: DatasetName, date: IsoDate, symbol: string): CompactionUnit[] {
  const month = date.slice(0, 7);
  if (dataset === 'bars_1d') return [{ dataset, symbol, month: month.slice(0, 4) }];
  const units: CompactionUnit[] = [{ dataset, symbol, month }];
  if (dataset === 'trade_events' && Number(date.slice(8, 10)) <= TRADE_EVENT_SPILLOVER_DAYS) {
    units.push({ dataset: 'trades', symbol, month: previousMonth(month) });
  }
  return units;
}

/**
 * Whether `key` is a warm object whose home unit is `unit`. Only there does compaction make the object redundant:
 * a trade event that also fed the previous month's trades still waits for its own month's trade_events file.
 */
export function isHomeSource(unit: CompactionUnit, key: string): boolean {
  let parsed;
  try {
    parsed = parseWarmObjectKey(key).ref;
  } catch {
    return false;
  }
  const home = unitsOfWarmObject(parsed.dataset, parsed.date, parsed.symbol)[0];
  return home !== undefined && home.dataset === unit.dataset && home.symbol === unit.symbol && unitPeriod(home) === unitPeriod(unit);
}

// ---- Reading the manifests ---------------------------------------------------------------------------------------

export interface WarmSource extends WarmManifestObject {
  readonly dataset: DatasetName;
  readonly date: IsoDate;
  readonly agentId: string;
}

export interface ManifestFailure {
  readonly dataset: DatasetName;
  readonly date: IsoDate;
  readonly agentId: string;
  readonly error: WarmManifestError;
}

/**
 * Every object named by the warm manifests of `days` × `agentIds`: one GET per manifest, MANIFEST_READ_CONCURRENCY
 * at a time. A malformed manifest is returned in `failures` (the units it feeds cannot be planned); any other error
 * (the store unreachable, access denied) is thrown.
 */
export async function readWarmSources(
  store: ObjectStore,
  days: readonly DatasetDay[],
  agentIds: readonly string[],
): Promise<{ sources: WarmSource[]; failures: ManifestFailure[]; manifestsRead: number }> {
  const requests = days.flatMap((d) => agentIds.map((agentId) => ({ ...d, agentId })));
  const sources: WarmSource[] = [];
  const failures: ManifestFailure[] = [];
  let manifestsRead = 0;
  await mapLimit(requests, MANIFEST_READ_CONCURRENCY, async (r) => {
    try {
      const manifest = await readWarmManifest(store, r.dataset, r.date, r.agentId);
      if (manifest === undefined) return;
      manifestsRead++;
      for (const o of manifest.objects) sources.push({ ...o, dataset: r.dataset, date: r.date, agentId: r.agentId });
    } catch (err) {
      if (err instanceof WarmManifestError) failures.push({ ...r, error: err });
      else throw err;
    }
  });
  sources.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { sources, failures, manifestsRead };
}

/** The year's 1m monthly cold files of a symbol, as their cold manifests describe them: the roll-up's inputs. */
export async function coldBarSources(store: ObjectStore, symbol: string, year: string, nowMs: number): Promise<SourceObject[]> {
  const months = monthsOfYear(year, monthOfMs(nowMs));
  const manifests = await mapLimit(months, MANIFEST_READ_CONCURRENCY, (month) => readColdManifest(store, 'bars_1m', month, symbol));
  return manifests.flatMap((m, i) =>
    m === undefined ? [] : [{ key: coldObjectKey('bars_1m', months[i] ?? '', symbol), sha256: m.sha256, rows: m.rows }]);
}

export class SourceError extends Error {
  override readonly name = 'SourceError';
}

/** The sources of one unit, from the manifests, sorted by key. Throws SourceError when a manifest is malformed. */
export async function sourcesOfUnit(
  store: ObjectStore,
  unit: CompactionUnit,
  options: { agentIds: readonly string[] } & Clock,
): Promise<SourceObject[]> {
  const { sources, failures } = await readWarmSources(store, warmDaysOfUnit(unit, options), options.agentIds);
  if (failures.length > 0) {
    throw new SourceError(`${describeUnit(unit)}: ${failures.length} warm manifest(s) unreadable, first: ${failures[0]?.error.message}`, { cause: failures[0]?.error });
  }
  const own = sources.filter((s) => s.symbol === unit.symbol).map(({ key, sha256, rows }) => ({ key, sha256, rows }));
  const cold = unit.dataset === 'bars_1d' ? await coldBarSources(store, unit.symbol, unitPeriod(unit), options.nowMs) : [];
  return [...cold, ...own].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

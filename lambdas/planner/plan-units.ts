/**
 * The planner: which compaction units are due, found from the agents' warm manifests and the cold manifests,
 * without listing a single data object.
 *
 * For each month of the look-back window (the `lookbackMonths` months before the current one) it GETs
 * `warm/<root>/date=D/_manifest-<agent>.json` for every dataset, day and agent (and the trade events of the next
 * month's first days, which feed a month's trades), groups the objects they name into units, and compares each
 * unit's sources (key + SHA-256) with its cold manifest. A unit is due when
 *   - its month is sealed (`graceHours` after the month's end), and
 *   - it has no cold manifest, or the warm manifests name sources the cold manifest does not (late data: each such
 *     object is logged, and the unit is compacted again with it).
 * A source named by the cold manifest but no longer in the store has been compacted and then expired by retention:
 * it is not missing, and the planner never looks for it.
 *
 * Running twice plans nothing twice: a due unit gets a plan marker (`_plan-SYM.json` beside its cold file) holding
 * the digest of its source set, and is not planned again while a marker with the same digest is younger than
 * `replanAfterHours` (after that, a compaction that failed is retried).
 *
 * Daily bars are rolled up per (symbol, year) once the year's 1m monthly files (or the feed's daily bars) differ
 * from what the daily file was built from. A roll-up waits for the next run when a 1m unit of the same symbol and
 * year is due in this one: the workflow compacts units in parallel, and the roll-up must read the new 1m file.
 */
import {
  type ColdManifest,
  encodePlanMarker,
  MANIFEST_CONTENT_TYPE,
  planMarkerKey,
  readColdManifest,
  readPlanMarker,
  sourceId,
  sourceSetSha256,
} from '../../core/cold-manifest.ts';
import { DATASET_NAMES, type DatasetName } from '../../core/datasets.ts';
import { WARM_PREFIX, datasetRoot } from '../../core/layout.ts';
import type { ObjectStore } from '../../core/object-store/object-store.ts';
import { type IsoMonth, datesOfMonth, parseIsoMonth } from '../../core/time.ts';
import {
  type CompactionUnit,
  type DatasetDay,
  type SourceObject,
  TRADE_EVENT_SPILLOVER_DAYS,
  coldBarSources,
  dateOfMs,
  daysSinceMonthEnd,
  describeUnit,
  isMonthSealed,
  isMonthlyDataset,
  monthOfMs,
  nextMonth,
  previousMonth,
  readWarmSources,
  unitPeriod,
  unitsOfWarmObject,
} from '../shared/compaction-units.ts';
import { type Logger, messageOf, silentLogger } from '../shared/log.ts';
import { mapLimit } from '../shared/pool.ts';

const MS_PER_HOUR = 3_600_000;
const COLD_READ_CONCURRENCY = 8;

export interface PlanOptions {
  readonly store: ObjectStore;
  /** Agents whose manifests are read. */
  readonly agentIds: readonly string[];
  readonly nowMs: number;
  /** Months before the current one that are looked at. @default 2 */
  readonly lookbackMonths?: number;
  /** Hours after a month's end before it is sealed. @default 6 */
  readonly graceHours?: number;
  /** How long a plan marker with the same sources keeps a unit from being planned again. @default 24 */
  readonly replanAfterHours?: number;
  readonly filter?: { readonly dataset?: DatasetName; readonly symbol?: string };
  /**
   * Plan exactly these months, sealed or not, every unit that has sources whether due or not, ignoring and
   * writing no plan markers, roll-ups last and never deferred: what `tickvault compact` runs, one unit after another.
   */
  readonly force?: { readonly months: readonly IsoMonth[] };
  /** @default silentLogger */
  readonly log?: Logger;
}

export type PlanReason = 'no-cold-file' | 'late-data' | 'forced';

export interface PlannedUnit extends CompactionUnit {
  readonly reason: PlanReason;
  readonly sources: number;
  /** Sources the cold manifest does not name yet. */
  readonly newSources: number;
}

export interface PlanResult {
  /** What the workflow compacts: `{ dataset, symbol, month }` (month is the year 'YYYY' for bars_1d). */
  readonly units: readonly CompactionUnit[];
  readonly planned: readonly PlannedUnit[];
  readonly months: readonly IsoMonth[];
  readonly manifestsRead: number;
  /** Keys of every warm object the manifests read name. */
  readonly warmKeys: ReadonlySet<string>;
  readonly upToDate: number;
  /** Due, but planned less than replanAfterHours ago with the same sources. */
  readonly recentlyPlanned: number;
  readonly notSealed: number;
  readonly deferredRollups: number;
  /** Warm objects a cold manifest does not name yet although the cold file exists. */
  readonly lateObjects: number;
  /** Units not planned because a manifest they depend on is malformed. */
  readonly blocked: readonly { readonly unit: string; readonly reason: string }[];
  /** Days between the end of the oldest sealed month with a due unit and now; 0 when nothing is due. */
  readonly compactionLagDays: number;
  readonly oldestDueMonth: IsoMonth | undefined;
}

interface Candidate {
  readonly unit: CompactionUnit;
  readonly sources: Map<string, SourceObject>;
}

const unitKey = (u: CompactionUnit): string => `${u.dataset} ${u.symbol} ${unitPeriod(u)}`;

export async function planUnits(options: PlanOptions): Promise<PlanResult> {
  const { store, nowMs } = options;
  const log = options.log ?? silentLogger;
  const graceHours = options.graceHours ?? 6;
  const replanAfterMs = (options.replanAfterHours ?? 24) * MS_PER_HOUR;
  const force = options.force !== undefined;
  const current = monthOfMs(nowMs);
  const months = options.force?.months.map(parseIsoMonth) ?? lookbackWindow(current, options.lookbackMonths ?? 2);
  const datasets = options.filter?.dataset === undefined ? DATASET_NAMES : [options.filter.dataset];
  const wanted = new Set<DatasetName>(datasets);
  const symbol = options.filter?.symbol;

  // 1. The warm manifests of the window: one GET per dataset, day and agent.
  const { sources, failures, manifestsRead } = await readWarmSources(store, warmDaysToRead(months, wanted, nowMs), options.agentIds);
  const blockedKeys = new Map<string, string>();
  for (const f of failures) {
    log.error('warm manifest unreadable: the units it feeds are not planned', { dataset: f.dataset, date: f.date, agentId: f.agentId, error: f.error.message });
    for (const unit of unitsOfDay(f.dataset, f.date)) blockedKeys.set(`${unit.dataset} ${unitPeriod(unit)}`, f.error.message);
  }

  // 2. Group the objects into units.
  const monthSet = new Set(months);
  const candidates = new Map<string, Candidate>();
  for (const s of sources) {
    if (symbol !== undefined && s.symbol !== symbol) continue;
    for (const unit of unitsOfWarmObject(s.dataset, s.date, s.symbol)) {
      // 1m bars are grouped for the roll-up's sake too.
      if (!wanted.has(unit.dataset) && !(unit.dataset === 'bars_1m' && wanted.has('bars_1d'))) continue;
      if (unit.dataset === 'bars_1d') {
        if (!monthSet.has(s.date.slice(0, 7))) continue;
        if (!force && !isMonthSealed(s.date.slice(0, 7), nowMs, graceHours)) continue;
      } else if (!monthSet.has(unit.month)) {
        continue;
      }
      const key = unitKey(unit);
      let c = candidates.get(key);
      if (c === undefined) candidates.set(key, (c = { unit, sources: new Map() }));
      c.sources.set(s.key, { key: s.key, sha256: s.sha256, rows: s.rows });
    }
  }
  // A unit exists only with objects of its own dataset: trade events alone make no trades file.
  const hasOwnObjects = (c: Candidate): boolean => [...c.sources.keys()].some((k) => k.startsWith(`${WARM_PREFIX}${datasetRoot(c.unit.dataset)}/`));
  const monthly = [...candidates.values()]
    .filter((c) => isMonthlyDataset(c.unit.dataset) && wanted.has(c.unit.dataset) && hasOwnObjects(c))
    .sort((a, b) => compareUnits(a.unit, b.unit));

  const planned: PlannedUnit[] = [];
  const blocked: { unit: string; reason: string }[] = [];
  const dueMonths = new Set<IsoMonth>();
  const dueMinuteBars = new Set<string>();
  let upToDate = 0;
  let recentlyPlanned = 0;
  let notSealed = 0;
  let deferredRollups = 0;
  let lateObjects = 0;

  // 3. Monthly units.
  const decisions = await mapLimit(monthly, COLD_READ_CONCURRENCY, async (c) => {
    if (!force && !isMonthSealed(c.unit.month, nowMs, graceHours)) return { c, kind: 'not-sealed' as const };
    const blockedBy = blockedKeys.get(`${c.unit.dataset} ${c.unit.month}`);
    if (blockedBy !== undefined) return { c, kind: 'blocked' as const, reason: blockedBy };
    try {
      const cold = await readColdManifest(store, c.unit.dataset, c.unit.month, c.unit.symbol);
      return { c, kind: 'compared' as const, cold };
    } catch (err) {
      return { c, kind: 'blocked' as const, reason: messageOf(err) };
    }
  });
  const toMark: { c: Candidate; reason: PlanReason; newSources: SourceObject[] }[] = [];
  for (const d of decisions) {
    if (d.kind === 'not-sealed') {
      notSealed++;
      continue;
    }
    if (d.kind === 'blocked') {
      blocked.push({ unit: describeUnit(d.c.unit), reason: d.reason });
      log.error('unit not planned: a manifest it depends on is unreadable', { unit: describeUnit(d.c.unit), reason: d.reason });
      continue;
    }
    const verdict = compare(d.c, d.cold);
    if (verdict === undefined && !force) {
      upToDate++;
      continue;
    }
    if (d.cold !== undefined && verdict !== undefined) {
      lateObjects += verdict.newSources.length;
      for (const s of verdict.newSources) {
        log.warn('late warm object: not in the cold file yet, recompaction planned', {
          unit: describeUnit(d.c.unit), key: s.key, sha256: s.sha256, rows: s.rows, coldCompactedAt: d.cold.compactedAt,
        });
      }
    }
    if (!force) dueMonths.add(d.c.unit.month);
    if (d.c.unit.dataset === 'bars_1m') dueMinuteBars.add(`${d.c.unit.symbol} ${d.c.unit.month.slice(0, 4)}`);
    toMark.push({ c: d.c, reason: force ? 'forced' : verdict?.reason ?? 'forced', newSources: verdict?.newSources ?? [] });
  }

  // 4. Daily-bar roll-ups, per (symbol, year) touched by the window's 1m bars or feed daily bars.
  if (wanted.has('bars_1d')) {
    const years = new Map<string, Candidate>();
    for (const c of candidates.values()) {
      if (c.unit.dataset !== 'bars_1d' && !(c.unit.dataset === 'bars_1m' && hasOwnObjects(c))) continue;
      const unit: CompactionUnit = { dataset: 'bars_1d', symbol: c.unit.symbol, month: c.unit.month.slice(0, 4) };
      const key = unitKey(unit);
      const y = years.get(key) ?? { unit, sources: new Map<string, SourceObject>() };
      if (c.unit.dataset === 'bars_1d') for (const [k, s] of c.sources) y.sources.set(k, s);
      years.set(key, y);
    }
    const rollups = await mapLimit([...years.values()].sort((a, b) => compareUnits(a.unit, b.unit)), COLD_READ_CONCURRENCY, async (y) => {
      const year = unitPeriod(y.unit);
      if (!force && dueMinuteBars.has(`${y.unit.symbol} ${year}`)) return { y, kind: 'deferred' as const };
      const blockedBy = blockedKeys.get(`bars_1d ${year}`);
      if (blockedBy !== undefined) return { y, kind: 'blocked' as const, reason: blockedBy };
      try {
        for (const s of await coldBarSources(store, y.unit.symbol, year, nowMs)) y.sources.set(s.key, s);
        const cold = await readColdManifest(store, 'bars_1d', year, y.unit.symbol);
        return { y, kind: 'compared' as const, cold };
      } catch (err) {
        return { y, kind: 'blocked' as const, reason: messageOf(err) };
      }
    });
    for (const r of rollups) {
      if (r.kind === 'deferred') {
        deferredRollups++;
        log.info('roll-up waits for the next run: a 1m unit of the same symbol and year is due in this one', { unit: describeUnit(r.y.unit) });
        continue;
      }
      if (r.kind === 'blocked') {
        blocked.push({ unit: describeUnit(r.y.unit), reason: r.reason });
        log.error('unit not planned: a manifest it depends on is unreadable', { unit: describeUnit(r.y.unit), reason: r.reason });
        continue;
      }
      // Forced (the command compacts the 1m units first, in order), a roll-up is planned even before its inputs exist.
      if (r.y.sources.size === 0 && !force) continue;
      const verdict = compare(r.y, r.cold);
      if (verdict === undefined && !force) {
        upToDate++;
        continue;
      }
      toMark.push({ c: r.y, reason: force ? 'forced' : verdict?.reason ?? 'forced', newSources: verdict?.newSources ?? [] });
    }
  }

  // 5. Plan markers: a unit planned with the same sources less than replanAfterHours ago is left to that plan.
  const plannedAt = new Date(nowMs).toISOString();
  const marked = await mapLimit(toMark, COLD_READ_CONCURRENCY, async (t) => {
    if (force) return true;
    const { unit } = t.c;
    const period = unitPeriod(unit);
    const digest = sourceSetSha256(t.c.sources.values());
    const marker = await readPlanMarker(store, unit.dataset, period, unit.symbol);
    if (marker !== undefined && marker.sourceSetSha256 === digest && nowMs - Date.parse(marker.plannedAt) < replanAfterMs) return false;
    await store.put(planMarkerKey(unit.dataset, period, unit.symbol), encodePlanMarker({
      dataset: unit.dataset, symbol: unit.symbol, period, sourceSetSha256: digest, sources: t.c.sources.size, plannedAt,
    }), { contentType: MANIFEST_CONTENT_TYPE });
    return true;
  });
  for (const [i, t] of toMark.entries()) {
    if (marked[i] !== true) {
      recentlyPlanned++;
      continue;
    }
    planned.push({ ...t.c.unit, reason: t.reason, sources: t.c.sources.size, newSources: t.newSources.length });
  }

  const oldestDueMonth = [...dueMonths].sort()[0];
  const compactionLagDays = oldestDueMonth === undefined ? 0 : Math.round(daysSinceMonthEnd(oldestDueMonth, nowMs) * 100) / 100;
  const warmKeys = new Set(sources.map((s) => s.key));
  return {
    units: planned.map(({ dataset, symbol: sym, month }) => ({ dataset, symbol: sym, month })),
    planned, months, manifestsRead, warmKeys, upToDate, recentlyPlanned, notSealed, deferredRollups, lateObjects, blocked,
    compactionLagDays, oldestDueMonth,
  };
}

/** The months before `current`, oldest first. */
export function lookbackWindow(current: IsoMonth, count: number): IsoMonth[] {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`look-back of ${count} months: expected a positive integer`);
  const months: IsoMonth[] = [];
  for (let m = previousMonth(current), i = 0; i < count; i++, m = previousMonth(m)) months.unshift(m);
  return months;
}

/** Why a unit is due, and the sources its cold manifest lacks; undefined when the cold manifest names them all. */
function compare(c: Candidate, cold: ColdManifest | undefined): { reason: PlanReason; newSources: SourceObject[] } | undefined {
  if (cold === undefined) return { reason: 'no-cold-file', newSources: [...c.sources.values()] };
  const known = new Set(cold.sources.map(sourceId));
  const newSources = [...c.sources.values()].filter((s) => !known.has(sourceId(s)));
  return newSources.length === 0 ? undefined : { reason: 'late-data', newSources };
}

/** Every (dataset, day) whose manifests the window needs, up to today. */
function warmDaysToRead(months: readonly IsoMonth[], wanted: ReadonlySet<DatasetName>, nowMs: number): DatasetDay[] {
  const today = dateOfMs(nowMs);
  const days = new Map<string, DatasetDay>();
  const add = (dataset: DatasetName, dates: readonly string[]): void => {
    for (const date of dates) if (date <= today) days.set(`${dataset} ${date}`, { dataset, date });
  };
  for (const month of months) {
    for (const dataset of wanted) add(dataset, datesOfMonth(month));
    if (wanted.has('trades')) {
      add('trade_events', datesOfMonth(month));
      add('trade_events', datesOfMonth(nextMonth(month)).slice(0, TRADE_EVENT_SPILLOVER_DAYS));
    }
    // The roll-up of a year is triggered by its 1m bars, whose manifests name the symbols.
    if (wanted.has('bars_1d')) add('bars_1m', datesOfMonth(month));
  }
  return [...days.values()];
}

/** The units (any symbol) a day's manifest of a dataset feeds, as `dataset period` keys. */
function unitsOfDay(dataset: DatasetName, date: string): CompactionUnit[] {
  return unitsOfWarmObject(dataset, date, 'ANY');
}

function compareUnits(a: CompactionUnit, b: CompactionUnit): number {
  const ka = `${a.month} ${a.dataset} ${a.symbol}`;
  const kb = `${b.month} ${b.dataset} ${b.symbol}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

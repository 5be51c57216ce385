/**
 * Cold manifests and plan markers, one of each per cold file, beside it:
 *
 *   cold/<root>/year=YYYY/month=MM/SYM.parquet          the cold file (daily bars: cold/bars/timeframe=1d/year=YYYY/)
 *   cold/<root>/year=YYYY/month=MM/_manifest-SYM.json   what the cold file holds and what it was built from
 *   cold/<root>/year=YYYY/month=MM/_plan-SYM.json       the planner's note that it asked for this file to be built
 *
 * The manifest names the cold object (key, rows, bytes, SHA-256, schema version), when it was built, and EVERY source
 * object it holds the rows of (key, SHA-256, rows, and when that source was first compacted). It is written after
 * the cold object (data first, manifest second), so a manifest never names a cold file that is not there; a crash
 * between the two leaves a cold file without (or with an older) manifest, which the planner sees as "not yet
 * compacted" and plans again.
 *
 * The leading '_' keeps Athena and Hive from reading either JSON file as data.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DATASET_NAMES, type DatasetName } from './datasets.ts';
import { COLD_PREFIX, coldFilePath, coldPeriodPrefix } from './layout.ts';
import { ObjectNotFoundError, type ObjectStore } from './object-store/object-store.ts';
import { symbolToPath } from './symbols.ts';

export const COLD_MANIFEST_FORMAT = 'tickvault-cold-manifest';
export const COLD_MANIFEST_VERSION = 1;
export const PLAN_MARKER_FORMAT = 'tickvault-plan-marker';
export const PLAN_MARKER_VERSION = 1;
export const MANIFEST_CONTENT_TYPE = 'application/json';

/** Tags put on a warm object once the cold file holding its rows and that file's manifest are published. */
export const COMPACTED_TAG = 'tickvault:compacted';
export const COMPACTED_TAG_VALUE = 'true';
/** ISO 8601 time of the object's first compaction. */
export const COMPACTED_AT_TAG = 'tickvault:compacted-at';

const isoInstant = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/, 'expected an ISO 8601 UTC instant');
const datasetName = z.enum(DATASET_NAMES as [DatasetName, ...DatasetName[]]);

/** One source object: a warm object, or (for daily bars rolled up from 1m bars) a cold monthly file. */
export const ColdSourceSchema = z.strictObject({
  key: z.string().min(1),
  /** SHA-256 of the object's bytes, base64, as the warm manifest (or the source's cold manifest) names it. */
  sha256: z.string().min(1),
  rows: z.number().int().nonnegative(),
  /** When a cold file first held this source's rows; retention counts from here. Kept across recompactions. */
  compactedAt: isoInstant,
});

export const ColdManifestSchema = z.strictObject({
  format: z.literal(COLD_MANIFEST_FORMAT),
  version: z.literal(COLD_MANIFEST_VERSION),
  dataset: datasetName,
  symbol: z.string().min(1),
  /** 'YYYY-MM', or 'YYYY' for daily bars. */
  period: z.string().regex(/^\d{4}(-\d{2})?$/),
  coldKey: z.string().min(1),
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  /** SHA-256 of the cold object, base64 (also its `sha256` metadata). */
  sha256: z.string().min(1),
  schemaVersion: z.number().int().positive(),
  /** When this cold file was built. */
  compactedAt: isoInstant,
  /**
   * 'full': built from every source; 'merge': some earlier sources had expired from the warm tier, so the previous
   * cold file stood in for them; 'rollup': daily bars rolled up from the year's 1m monthly files.
   */
  mode: z.enum(['full', 'merge', 'rollup']),
  /** sourceSetSha256 of `sources`: what the planner compares. */
  sourceSetSha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Sorted by key; each key once. */
  sources: z.array(ColdSourceSchema),
  stats: z.strictObject({
    rowsIn: z.number().int().nonnegative(),
    duplicatesRemoved: z.number().int().nonnegative(),
    cancelsApplied: z.number().int().nonnegative(),
    correctionsApplied: z.number().int().nonnegative(),
  }),
});

export const PlanMarkerSchema = z.strictObject({
  format: z.literal(PLAN_MARKER_FORMAT),
  version: z.literal(PLAN_MARKER_VERSION),
  dataset: datasetName,
  symbol: z.string().min(1),
  period: z.string().regex(/^\d{4}(-\d{2})?$/),
  /** sourceSetSha256 of the sources the unit had when it was planned. */
  sourceSetSha256: z.string().regex(/^[0-9a-f]{64}$/),
  sources: z.number().int().nonnegative(),
  plannedAt: isoInstant,
});

export type ColdSource = z.output<typeof ColdSourceSchema>;
export type ColdManifest = z.output<typeof ColdManifestSchema>;
export type PlanMarker = z.output<typeof PlanMarkerSchema>;

/** What identifies a source's content: its key and the SHA-256 of its bytes. */
export interface SourceRef {
  readonly key: string;
  readonly sha256: string;
}

export class ColdManifestError extends Error {
  override readonly name = 'ColdManifestError';
}

/** `cold/trades/year=2024/month=07/AAPL.parquet`, or `cold/bars/timeframe=1d/year=2024/AAPL.parquet`. */
export function coldObjectKey(dataset: DatasetName, period: string, symbol: string): string {
  return `${COLD_PREFIX}${coldFilePath({ dataset, period, symbol })}`;
}

/** `cold/trades/year=2024/month=07/_manifest-AAPL.json` (daily bars: `…/timeframe=1d/year=2024/_manifest-AAPL.json`). */
export function coldManifestKey(dataset: DatasetName, period: string, symbol: string): string {
  return `${COLD_PREFIX}${coldPeriodPrefix(dataset, period)}_manifest-${symbolToPath(symbol)}.json`;
}

/** `cold/trades/year=2024/month=07/_plan-AAPL.json` */
export function planMarkerKey(dataset: DatasetName, period: string, symbol: string): string {
  return `${COLD_PREFIX}${coldPeriodPrefix(dataset, period)}_plan-${symbolToPath(symbol)}.json`;
}

/** A stable digest of a set of sources: SHA-256 (hex) of `key sha256` lines sorted by key. Order and duplicates do not matter. */
export function sourceSetSha256(sources: Iterable<SourceRef>): string {
  const lines = new Set<string>();
  for (const s of sources) lines.add(`${s.key} ${s.sha256}\n`);
  const hash = createHash('sha256');
  for (const line of [...lines].sort(compareStrings)) hash.update(line);
  return hash.digest('hex');
}

/** `key sha256` of a source, for set lookups. */
export function sourceId(source: SourceRef): string {
  return `${source.key} ${source.sha256}`;
}

export function encodeColdManifest(manifest: Omit<ColdManifest, 'format' | 'version' | 'sourceSetSha256'>): Uint8Array {
  const sources = [...manifest.sources].sort((a, b) => compareStrings(a.key, b.key));
  for (let i = 1; i < sources.length; i++) {
    if (sources[i]?.key === sources[i - 1]?.key) throw new ColdManifestError(`cold manifest of ${manifest.coldKey}: source ${sources[i]?.key} twice`);
  }
  const full: ColdManifest = {
    format: COLD_MANIFEST_FORMAT,
    version: COLD_MANIFEST_VERSION,
    ...manifest,
    sourceSetSha256: sourceSetSha256(sources),
    sources,
  };
  return new TextEncoder().encode(`${JSON.stringify(ColdManifestSchema.parse(full), null, 1)}\n`);
}

export function encodePlanMarker(marker: Omit<PlanMarker, 'format' | 'version'>): Uint8Array {
  const full: PlanMarker = { format: PLAN_MARKER_FORMAT, version: PLAN_MARKER_VERSION, ...marker };
  return new TextEncoder().encode(`${JSON.stringify(PlanMarkerSchema.parse(full), null, 1)}\n`);
}

function decodeJson<S extends z.ZodType>(what: string, key: string, bytes: Uint8Array, schema: S): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new ColdManifestError(`${what} ${key}: not valid UTF-8 JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`);
    throw new ColdManifestError(`${what} ${key}: ${issues.slice(0, 5).join('; ')}`);
  }
  return parsed.data;
}

/** Parses and validates a cold manifest; it must describe the unit its key names. */
export function decodeColdManifest(key: string, bytes: Uint8Array, expected?: { dataset: DatasetName; period: string; symbol: string }): ColdManifest {
  const m = decodeJson('cold manifest', key, bytes, ColdManifestSchema);
  if (expected !== undefined && (m.dataset !== expected.dataset || m.period !== expected.period || m.symbol !== expected.symbol)) {
    throw new ColdManifestError(`cold manifest ${key}: names ${m.dataset} ${m.symbol} ${m.period}, which does not match its key`);
  }
  if (m.sourceSetSha256 !== sourceSetSha256(m.sources)) {
    throw new ColdManifestError(`cold manifest ${key}: sourceSetSha256 does not match its sources (edited by hand?)`);
  }
  return m;
}

export function decodePlanMarker(key: string, bytes: Uint8Array): PlanMarker {
  return decodeJson('plan marker', key, bytes, PlanMarkerSchema);
}

async function getIfPresent(store: ObjectStore, key: string): Promise<Uint8Array | undefined> {
  try {
    return await store.get(key);
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return undefined;
    throw err;
  }
}

/** The cold manifest of a unit, or undefined when none was written yet. Throws ColdManifestError when malformed. */
export async function readColdManifest(store: ObjectStore, dataset: DatasetName, period: string, symbol: string): Promise<ColdManifest | undefined> {
  const key = coldManifestKey(dataset, period, symbol);
  const bytes = await getIfPresent(store, key);
  return bytes === undefined ? undefined : decodeColdManifest(key, bytes, { dataset, period, symbol });
}

/** The plan marker of a unit, or undefined. A malformed marker reads as absent: it only ever delays work. */
export async function readPlanMarker(store: ObjectStore, dataset: DatasetName, period: string, symbol: string): Promise<PlanMarker | undefined> {
  const key = planMarkerKey(dataset, period, symbol);
  const bytes = await getIfPresent(store, key);
  if (bytes === undefined) return undefined;
  try {
    return decodePlanMarker(key, bytes);
  } catch (err) {
    if (err instanceof ColdManifestError) return undefined;
    throw err;
  }
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

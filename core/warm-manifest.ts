/**
 * Per dataset-day manifests: `warm/<dataset-root>/date=YYYY-MM-DD/_manifest-<agentId>.json` lists every data object
 * of that dataset-day that one agent has uploaded and verified so far. The uploader rewrites it as more files of the
 * day arrive; the compactor and the query planner read it to know which objects exist without a HEAD per object.
 *
 * Invariant (data first, manifest second): a manifest names only objects already verified in the store. It may lag
 * behind the data (a crash between the two, or the batching interval), never run ahead of it.
 *
 * Written by the edge agent's uploader; read by the planner and the compactor (lambdas/), which find a month's
 * objects through these manifests instead of listing the data objects.
 */
import { z } from 'zod';
import { DATASET_NAMES, type DatasetName } from './datasets.ts';
import { parseWarmManifestKey, warmManifestKey, warmMonthObjectPrefix } from './layout.ts';
import { ObjectNotFoundError, type ObjectStore } from './object-store/object-store.ts';
import type { IsoDate, IsoMonth } from './time.ts';

export const WARM_MANIFEST_FORMAT = 'tickvault-warm-manifest';
export const WARM_MANIFEST_VERSION = 1;
export const WARM_MANIFEST_CONTENT_TYPE = 'application/json';

const decimal = z.string().regex(/^-?\d+$/, 'expected a decimal integer string');

export const WarmManifestObjectSchema = z.strictObject({
  /** Store key of the data object (`warm/…/part-NNNNN-<agentId>.parquet`). */
  key: z.string().min(1),
  symbol: z.string().min(1),
  part: z.number().int().nonnegative(),
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  /** Nanoseconds since the epoch, as decimal strings (JSON numbers cannot hold them). */
  minTsNs: decimal,
  maxTsNs: decimal,
  /** SHA-256 of the object's bytes, base64 (the same value as its `sha256` metadata). */
  sha256: z.string().min(1),
  schemaVersion: z.number().int().positive(),
});

export const WarmManifestSchema = z.strictObject({
  format: z.literal(WARM_MANIFEST_FORMAT),
  version: z.literal(WARM_MANIFEST_VERSION),
  dataset: z.enum(DATASET_NAMES as [DatasetName, ...DatasetName[]]),
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  agentId: z.string().min(1),
  /** When this version of the manifest was written, epoch milliseconds. */
  updatedAtMs: z.number().int().nonnegative(),
  /** Sorted by key; each key at most once. */
  objects: z.array(WarmManifestObjectSchema),
});

export type WarmManifestObject = z.output<typeof WarmManifestObjectSchema>;
export type WarmManifest = z.output<typeof WarmManifestSchema>;

export interface WarmManifestRef {
  readonly key: string;
  readonly dataset: DatasetName;
  readonly date: IsoDate;
  readonly agentId: string;
  readonly sizeBytes: number;
}

export class WarmManifestError extends Error {
  override readonly name = 'WarmManifestError';
}

/** The manifest bytes for a dataset-day: objects sorted by key, one per key (the last one given wins). */
export function encodeWarmManifest(
  header: { dataset: DatasetName; date: IsoDate; agentId: string; updatedAtMs: number },
  objects: Iterable<WarmManifestObject>,
): Uint8Array {
  const byKey = new Map<string, WarmManifestObject>();
  for (const o of objects) byKey.set(o.key, o);
  const manifest: WarmManifest = {
    format: WARM_MANIFEST_FORMAT,
    version: WARM_MANIFEST_VERSION,
    dataset: header.dataset,
    date: header.date,
    agentId: header.agentId,
    updatedAtMs: header.updatedAtMs,
    objects: [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
  };
  return new TextEncoder().encode(`${JSON.stringify(manifest, null, 1)}\n`);
}

/** Parses and validates manifest bytes; `key` names the object in errors. */
export function decodeWarmManifest(key: string, bytes: Uint8Array): WarmManifest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new WarmManifestError(`manifest ${key}: not valid UTF-8 JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  const parsed = WarmManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`);
    throw new WarmManifestError(`manifest ${key}: ${issues.slice(0, 5).join('; ')}`);
  }
  const expected = parseWarmManifestKey(key);
  const m = parsed.data;
  if (expected !== undefined && (expected.dataset !== m.dataset || expected.date !== m.date || expected.agentId !== m.agentId)) {
    throw new WarmManifestError(
      `manifest ${key}: names ${m.dataset} ${m.date} agent ${m.agentId}, which does not match its key`,
    );
  }
  return m;
}

/** One agent's manifest of a dataset-day, or undefined when that agent wrote none. Throws WarmManifestError when malformed. */
export async function readWarmManifest(
  store: ObjectStore,
  dataset: DatasetName,
  date: IsoDate,
  agentId: string,
): Promise<WarmManifest | undefined> {
  const key = warmManifestKey(dataset, date, agentId);
  let bytes: Uint8Array;
  try {
    bytes = await store.get(key);
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return undefined;
    throw err;
  }
  return decodeWarmManifest(key, bytes);
}

/**
 * Every agent's manifests of a dataset in one month, in key order (by date, then agent). This LISTs the month's
 * whole warm prefix (`warm/<root>/date=YYYY-MM-`), data objects included, and keeps the `_manifest-` keys: one
 * list request per 1000 objects of that month.
 */
export async function listWarmManifests(
  store: ObjectStore,
  dataset: DatasetName,
  month: IsoMonth,
): Promise<WarmManifestRef[]> {
  const refs: WarmManifestRef[] = [];
  for await (const info of store.list(warmMonthObjectPrefix(dataset, month))) {
    if (!info.key.includes('/_manifest-')) continue;
    const parsed = parseWarmManifestKey(info.key);
    if (parsed === undefined || parsed.dataset !== dataset) continue;
    refs.push({ key: info.key, ...parsed, sizeBytes: info.sizeBytes });
  }
  return refs;
}

/**
 * Warm retention, judged by the cold manifests: a warm object is deleted once a cold file has held its rows for
 * `retentionDays` (counted from the source's `compactedAt` in the cold manifest of its own unit), never before,
 * and never an object no cold manifest names. Before deleting, a HEAD checks that the object still has the bytes
 * the manifest names (its `sha256` metadata, set by the uploader); anything else is left and reported.
 *
 * Only the manifest of the object's home unit counts (the trades file also reads the next month's first trade
 * events, but those wait for their own month's trade_events file). Cold files are never touched here: moving them
 * to a cheaper storage class is the bucket's lifecycle rule (CDK).
 *
 * The warm manifests keep naming deleted objects (they belong to the agents); the planner and the compactor read
 * "named by a cold manifest, absent from the store" as compacted and expired, not as missing.
 */
import { ColdManifestError, decodeColdManifest } from '../../core/cold-manifest.ts';
import { type DatasetName } from '../../core/datasets.ts';
import { COLD_PREFIX, coldPeriodPrefix } from '../../core/layout.ts';
import type { ObjectStore } from '../../core/object-store/object-store.ts';
import { symbolFromPath } from '../../core/symbols.ts';
import type { IsoMonth } from '../../core/time.ts';
import { MONTHLY_DATASETS, isHomeSource } from '../shared/compaction-units.ts';
import { type Logger, messageOf, silentLogger } from '../shared/log.ts';
import { mapLimit } from '../shared/pool.ts';

const MS_PER_DAY = 86_400_000;
const CONCURRENCY = 8;

export interface RetentionOptions {
  readonly store: ObjectStore;
  readonly nowMs: number;
  /** Days a compacted warm object is kept after its compaction. */
  readonly retentionDays: number;
  /** The months whose cold manifests are read (daily bars: their years). */
  readonly months: readonly IsoMonth[];
  /** Report what would be deleted, delete nothing. @default false */
  readonly dryRun?: boolean;
  /** @default silentLogger */
  readonly log?: Logger;
}

export interface RetentionResult {
  readonly manifestsRead: number;
  /** Warm sources named by the manifests (home unit only). */
  readonly examined: number;
  readonly deleted: number;
  /** Old enough, but already gone (deleted by an earlier run or the lifecycle rule). */
  readonly alreadyGone: number;
  /** Compacted less than retentionDays ago. */
  readonly notYetDue: number;
  /** Old enough, but the object's bytes are not the ones the manifest names (or it has no sha256 metadata). */
  readonly mismatched: number;
  readonly unreadableManifests: number;
  /** Keys deleted (or, with dryRun, that would be). */
  readonly deletedKeys: readonly string[];
}

export async function expireCompactedWarmObjects(options: RetentionOptions): Promise<RetentionResult> {
  const { store, nowMs } = options;
  const log = options.log ?? silentLogger;
  if (!Number.isFinite(options.retentionDays) || options.retentionDays < 0) {
    throw new RangeError(`retention of ${options.retentionDays} days: expected a non-negative number`);
  }
  const cutoffMs = nowMs - options.retentionDays * MS_PER_DAY;

  // The cold manifests of the window, found by listing the cold periods (a handful of objects per symbol).
  const periods = new Map<string, { dataset: DatasetName; period: string }>();
  for (const month of options.months) {
    for (const dataset of MONTHLY_DATASETS) periods.set(`${dataset} ${month}`, { dataset, period: month });
    periods.set(`bars_1d ${month.slice(0, 4)}`, { dataset: 'bars_1d', period: month.slice(0, 4) });
  }
  const manifestKeys: { key: string; dataset: DatasetName; period: string; symbol: string }[] = [];
  for (const { dataset, period } of periods.values()) {
    const prefix = `${COLD_PREFIX}${coldPeriodPrefix(dataset, period)}`;
    for await (const info of store.list(`${prefix}_manifest-`)) {
      const m = /^_manifest-([^/]+)\.json$/.exec(info.key.slice(prefix.length));
      if (m === null) continue;
      manifestKeys.push({ key: info.key, dataset, period, symbol: symbolFromPath(m[1] ?? '') });
    }
  }

  let unreadableManifests = 0;
  const due: { key: string; sha256: string; unit: string }[] = [];
  let examined = 0;
  let notYetDue = 0;
  await mapLimit(manifestKeys, CONCURRENCY, async (ref) => {
    let manifest;
    try {
      manifest = decodeColdManifest(ref.key, await store.get(ref.key), ref);
    } catch (err) {
      if (!(err instanceof ColdManifestError)) throw err;
      unreadableManifests++;
      log.error('cold manifest unreadable: its sources are kept', { key: ref.key, error: err.message });
      return;
    }
    const unit = { dataset: manifest.dataset, symbol: manifest.symbol, month: manifest.period };
    for (const source of manifest.sources) {
      if (!isHomeSource(unit, source.key)) continue;
      examined++;
      if (Date.parse(source.compactedAt) > cutoffMs) notYetDue++;
      else due.push({ key: source.key, sha256: source.sha256, unit: ref.key });
    }
  });

  let alreadyGone = 0;
  let mismatched = 0;
  const deletedKeys: string[] = [];
  // One partition (directory) at a time per worker: the local store prunes a directory its last delete empties,
  // which a concurrent delete in the same directory must not race.
  const byPartition = new Map<string, typeof due>();
  for (const d of due) {
    const partition = d.key.slice(0, d.key.lastIndexOf('/'));
    const list = byPartition.get(partition);
    if (list === undefined) byPartition.set(partition, [d]);
    else list.push(d);
  }
  await mapLimit([...byPartition.values()], CONCURRENCY, async (partition) => {
    for (const d of partition) {
      const head = await store.head(d.key);
      if (head === undefined) {
        alreadyGone++;
        continue;
      }
      const stored = head.metadata?.['sha256'];
      if (stored !== d.sha256) {
        mismatched++;
        log.warn('warm object kept: its bytes are not the ones the cold manifest names', {
          key: d.key, manifest: d.unit, manifestSha256: d.sha256, storedSha256: stored ?? '(no sha256 metadata)',
        });
        continue;
      }
      if (options.dryRun !== true) {
        try {
          await store.delete(d.key);
        } catch (err) {
          log.error('warm object could not be deleted; the next run tries again', { key: d.key, error: messageOf(err) });
          throw err;
        }
      }
      deletedKeys.push(d.key);
    }
  });
  deletedKeys.sort();
  const result: RetentionResult = {
    manifestsRead: manifestKeys.length - unreadableManifests, examined, deleted: deletedKeys.length, alreadyGone, notYetDue, mismatched,
    unreadableManifests, deletedKeys,
  };
  log.info(options.dryRun === true ? 'retention dry run' : 'retention done', { ...result, deletedKeys: undefined });
  return result;
}

/**
 * `tickvault verify`: manifests ⇄ local files ⇄ store objects ⇄ row counts, checked end to end.
 *
 * - Every file the ledger holds on this host exists, with the recorded size and SHA-256.
 * - Every file the ledger records uploaded has its object in the store, with the same size and sha256 metadata
 *   (and, unless quick, the same bytes and footer rows) — or its rows are in a cold file (a cold manifest names it
 *   as a source), after which the cold tier's retention may delete it.
 * - Every warm manifest in the store names only objects that exist (or were absorbed by the cold tier), with their
 *   size, checksum and row counts matching the objects' footers; the same for every cold manifest and its cold file.
 *
 * Read-only, and safe beside a running agent: it reads the ledger without opening it for writing, and a file that
 * retention deletes while the check runs is not reported (the ledger is read again before reporting).
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseWarmManifestKey, parseWarmObjectKey } from '../../core/layout.ts';
import type { ObjectInfo, ObjectStore } from '../../core/object-store/object-store.ts';
import { decodeWarmManifest } from '../../core/warm-manifest.ts';
import type { SealedEntry, WarmFileState } from '../warm/warm-ledger.ts';
import type { DataDirPaths } from './data-dir.ts';
import { readLedger } from './ledger-reader.ts';
import { progress } from './progress.ts';
import { sha256OfFile } from '../sync/warm-object.ts';
import { ObjectFactsCache, forEachLimit, readCompactedSources, storedCopyProblem } from './store-checks.ts';

export const FINDING_KINDS = [
  'local-missing', 'local-size', 'local-checksum',
  'store-missing', 'store-size', 'store-metadata', 'store-checksum', 'store-rows', 'store-unreadable',
  'manifest-unreadable', 'manifest-object-missing', 'manifest-size', 'manifest-checksum', 'manifest-rows', 'manifest-ledger',
  'manifest-lags', 'cold-manifest-unreadable', 'cold-object-missing', 'cold-size', 'cold-checksum', 'cold-rows',
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

/** Warnings do not fail verify: they are states a running agent passes through (a manifest written in batches). */
const WARNINGS: ReadonlySet<FindingKind> = new Set(['manifest-lags']);

export interface Finding {
  readonly kind: FindingKind;
  readonly severity: 'mismatch' | 'warning';
  /** The local file (absolute path) or store key the finding is about. */
  readonly subject: string;
  readonly problem: string;
  /** The ledger path of the warm file concerned, when there is one (repair uses it). */
  readonly ledgerPath?: string;
}

export interface VerifyOptions {
  readonly paths: DataDirPaths;
  readonly store: ObjectStore;
  /** Sizes and metadata only: do not read objects to compare their bytes and footers. @default false */
  readonly quick?: boolean;
  /** Store requests at once. @default 8 */
  readonly concurrency?: number;
}

export interface VerifyResult {
  readonly findings: readonly Finding[];
  readonly checked: {
    readonly localFiles: number;
    readonly uploadedFiles: number;
    /** Uploaded files whose objects are gone after the cold tier absorbed their rows (expected). */
    readonly absorbedByColdTier: number;
    readonly warmManifests: number;
    readonly warmManifestObjects: number;
    readonly coldManifests: number;
  };
}

export async function verifyTiers(options: VerifyOptions): Promise<VerifyResult> {
  const { paths, store } = options;
  const deep = options.quick !== true;
  const concurrency = options.concurrency ?? 8;
  const findings: Finding[] = [];
  const found = (kind: FindingKind, subject: string, problem: string, ledgerPath?: string): void => {
    findings.push({ kind, severity: WARNINGS.has(kind) ? 'warning' : 'mismatch', subject, problem, ...(ledgerPath === undefined ? {} : { ledgerPath }) });
  };
  const facts = new ObjectFactsCache(store);
  const ledger = await readLedger(paths.ledger);
  const states = [...ledger.files.values()];

  // The store's listing, once.
  const listed = new Map<string, ObjectInfo>();
  const listing = progress('listing the store', undefined);
  for (const prefix of ['warm/', 'cold/']) {
    for await (const info of store.list(prefix)) {
      listed.set(info.key, info);
      listing.tick();
    }
  }
  listing.done();

  // Cold manifests first: the sources they name may be gone from the warm tier, as intended.
  const coldKeys = [...listed.keys()].filter((k) => k.startsWith('cold/'));
  const cold = await readCompactedSources(store, coldKeys);
  for (const { key, problem } of cold.unreadable) found('cold-manifest-unreadable', key, problem);
  const coldBar = progress('cold manifests', cold.manifests.size);
  await forEachLimit([...cold.manifests], concurrency, async ([key, m]) => {
    const info = listed.get(m.coldKey);
    if (info === undefined) found('cold-object-missing', key, `names cold file ${m.coldKey}, which is not in the store`);
    else if (info.sizeBytes !== m.bytes) found('cold-size', m.coldKey, `${info.sizeBytes} bytes in the store, its manifest ${key} says ${m.bytes}`);
    else if (deep) {
      const f = await facts.get(m.coldKey).catch((e: unknown) => ({ error: (e as Error).message }));
      if ('error' in f) found('cold-object-missing', m.coldKey, `cannot read it: ${f.error}`);
      else if (f.sha256 !== m.sha256) found('cold-checksum', m.coldKey, `sha256 ${f.sha256}, its manifest ${key} says ${m.sha256}`);
      else if (typeof f.rows !== 'number') found('cold-rows', m.coldKey, `footer unreadable: ${f.rows.error}`);
      else if (f.rows !== m.rows) found('cold-rows', m.coldKey, `its footer says ${f.rows} rows, its manifest ${key} says ${m.rows}`);
    }
    coldBar.tick();
  });
  coldBar.done();

  // Ledger ⇄ local files.
  const local = states.filter((s) => s.removed === undefined);
  const localBar = progress('local warm files', local.length);
  await forEachLimit(local, 4, async (state) => {
    await checkLocal(paths, state.sealed, found);
    localBar.tick();
  });
  localBar.done();

  // Ledger ⇄ store objects.
  const uploaded = states.filter((s): s is WarmFileState & { uploaded: NonNullable<WarmFileState['uploaded']> } => s.uploaded !== undefined);
  let absorbed = 0;
  const uploadBar = progress('uploaded objects', uploaded.length);
  await forEachLimit(uploaded, concurrency, async (state) => {
    const { key } = state.uploaded;
    const path = state.sealed.path;
    try {
      const info = await store.head(key);
      if (info === undefined) {
        if (cold.keys.has(key)) absorbed++;
        else found('store-missing', key, `missing from the store; the ledger recorded ${path} uploaded at ${new Date(state.uploaded.uploadedAtMs).toISOString()}`, path);
        return;
      }
      const problem = storedCopyProblem(info, state.sealed);
      if (problem !== undefined) {
        found(info.sizeBytes !== state.sealed.bytes ? 'store-size' : 'store-metadata', key, problem, path);
        return;
      }
      if (!deep) return;
      const f = await facts.get(key);
      if (f.sha256 !== state.sealed.sha256) found('store-checksum', key, `its bytes hash to ${f.sha256}, the ledger says ${state.sealed.sha256}`, path);
      else if (typeof f.rows !== 'number') found('store-rows', key, `footer unreadable: ${f.rows.error}`, path);
      else if (f.rows !== state.sealed.rows) found('store-rows', key, `its footer says ${f.rows} rows, the ledger says ${state.sealed.rows}`, path);
    } catch (error) {
      found('store-unreadable', key, `cannot read it: ${(error as Error).message}`, path);
    } finally {
      uploadBar.tick();
    }
  });
  uploadBar.done();

  // Store manifests ⇄ objects ⇄ rows.
  const byKey = new Map<string, SealedEntry>(uploaded.map((s) => [s.uploaded.key, s.sealed]));
  const named = new Set<string>();
  const manifestKeys = [...listed.keys()].filter((k) => parseWarmManifestKey(k) !== undefined);
  let manifestObjects = 0;
  const manifestBar = progress('warm manifests', manifestKeys.length);
  await forEachLimit(manifestKeys, Math.max(1, Math.floor(concurrency / 2)), async (mkey) => {
    try {
      const manifest = decodeWarmManifest(mkey, await store.get(mkey));
      await forEachLimit(manifest.objects, concurrency, async (o) => {
        manifestObjects++;
        named.add(o.key);
        const ledgerEntry = byKey.get(o.key);
        if (ledgerEntry !== undefined && (ledgerEntry.rows !== o.rows || ledgerEntry.bytes !== o.bytes || ledgerEntry.sha256 !== o.sha256)) {
          found('manifest-ledger', mkey, `names ${o.key} with ${o.rows} rows, ${o.bytes} bytes, sha256 ${o.sha256}; the ledger says ${ledgerEntry.rows} rows, ${ledgerEntry.bytes} bytes, sha256 ${ledgerEntry.sha256}`, ledgerEntry.path);
        }
        const info = listed.get(o.key);
        if (info === undefined) {
          if (!cold.keys.has(o.key)) found('manifest-object-missing', mkey, `names ${o.key}, which is not in the store`, ledgerEntry?.path);
          return;
        }
        if (info.sizeBytes !== o.bytes) {
          found('manifest-size', mkey, `names ${o.key} with ${o.bytes} bytes; the object has ${info.sizeBytes}`, ledgerEntry?.path);
          return;
        }
        if (!deep) return;
        const f = await facts.get(o.key).catch((e: unknown) => ({ error: (e as Error).message }));
        if ('error' in f) found('manifest-object-missing', mkey, `names ${o.key}, which cannot be read: ${f.error}`, ledgerEntry?.path);
        else if (f.sha256 !== o.sha256) found('manifest-checksum', mkey, `names ${o.key} with sha256 ${o.sha256}; its bytes hash to ${f.sha256}`, ledgerEntry?.path);
        else if (typeof f.rows !== 'number') found('manifest-rows', mkey, `names ${o.key}, whose footer is unreadable: ${f.rows.error}`, ledgerEntry?.path);
        else if (f.rows !== o.rows) found('manifest-rows', mkey, `names ${o.key} with ${o.rows} rows; its footer says ${f.rows}`, ledgerEntry?.path);
      });
    } catch (error) {
      found('manifest-unreadable', mkey, (error as Error).message);
    } finally {
      manifestBar.tick();
    }
  });
  manifestBar.done();
  for (const state of uploaded) {
    const key = state.uploaded.key;
    if (named.has(key) || cold.keys.has(key) || !isWarmObjectKey(key)) continue;
    found('manifest-lags', key, `uploaded, but its day's manifest does not name it yet (the agent adds it within its manifest interval, or at its next start)`, state.sealed.path);
  }

  // A file retention deleted (or the uploader quarantined) while we looked is not missing.
  const missing = findings.filter((f) => f.kind === 'local-missing');
  if (missing.length > 0) {
    const again = await readLedger(paths.ledger);
    for (const f of missing) {
      if (f.ledgerPath !== undefined && again.files.get(f.ledgerPath)?.removed !== undefined) findings.splice(findings.indexOf(f), 1);
    }
  }

  findings.sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0));
  return {
    findings,
    checked: {
      localFiles: local.length,
      uploadedFiles: uploaded.length,
      absorbedByColdTier: absorbed,
      warmManifests: manifestKeys.length,
      warmManifestObjects: manifestObjects,
      coldManifests: cold.manifests.size + cold.unreadable.length,
    },
  };
}

async function checkLocal(paths: DataDirPaths, entry: SealedEntry, found: (kind: FindingKind, subject: string, problem: string, ledgerPath?: string) => void): Promise<void> {
  const file = join(paths.warmDir, entry.path);
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    found('local-missing', file, code === 'ENOENT' ? 'missing; the ledger holds it as on this host' : `cannot stat it (${code ?? (error as Error).message})`, entry.path);
    return;
  }
  if (size !== entry.bytes) {
    found('local-size', file, `${size} bytes on disk, the ledger says ${entry.bytes}${size < entry.bytes ? ' (truncated)' : ''}`, entry.path);
    return;
  }
  const sha256 = await sha256OfFile(file);
  if (sha256 !== entry.sha256) found('local-checksum', file, `its bytes hash to ${sha256}, the ledger says ${entry.sha256}`, entry.path);
}

function isWarmObjectKey(key: string): boolean {
  try {
    parseWarmObjectKey(key);
    return true;
  } catch {
    return false;
  }
}

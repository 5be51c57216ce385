/**
 * `tickvault repair`: puts right what verify finds, where the data to do it still exists.
 *
 * 1. Warm files on the host that fail validation (footer, schema, pages, size, checksum against the ledger) are
 *    quarantined, as `tickvault validate` does (moved aside, recorded in the ledger, never uploaded).
 * 2. A file the ledger records uploaded whose store copy is missing or differs is uploaded again from the host,
 *    under the same key with the uploader's metadata, and checked after (size, metadata, bytes and footer). The
 *    ledger needs no new entry: it already says uploaded, which is true again once the copy is back.
 * 3. A day's manifest that lacks an uploaded file, or describes one differently from the ledger, is rewritten with
 *    the ledger's entries (data first, manifest second: only objects present in the store are added).
 * 4. A file that is missing from the host and was never uploaded (or was quarantined in step 1 before it was) is
 *    rebuilt from the write-ahead log when the log still holds its events and the rebuild is byte-identical; it is
 *    then pending upload again (the agent uploads it at its next start). When the log no longer holds them, the
 *    report says so: those rows are lost on this host.
 *
 * Whatever cannot be repaired is reported with the reason. The agent must be stopped: repair writes the ledger and
 * the write-ahead log's directory, which the agent holds open.
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseWarmObjectKey, warmManifestKey } from '../../core/layout.ts';
import type { ObjectStore } from '../../core/object-store/object-store.ts';
import { WARM_MANIFEST_CONTENT_TYPE, WarmManifestError, type WarmManifestObject, encodeWarmManifest, readWarmManifest } from '../../core/warm-manifest.ts';
import { PARQUET_CONTENT_TYPE } from '../sync/uploader.ts';
import { writeFileAtomic } from '../warm/atomic-file.ts';
import { validateWarmFiles } from '../warm/validate.ts';
import { type SealedEntry, type UploadedEntry, WarmLedger, type WarmFileState } from '../warm/warm-ledger.ts';
import { processesHolding } from './agent-presence.ts';
import type { DataDirPaths } from './data-dir.ts';
import { readLedger } from './ledger-reader.ts';
import { progress } from './progress.ts';
import { rebuildFromLog } from './rebuild-from-log.ts';
import { manifestObjectOf, sha256OfFile, uploadMetadata } from '../sync/warm-object.ts';
import { ObjectFactsCache, readCompactedSources, storedCopyProblem } from './store-checks.ts';

export class RepairRefusedError extends Error {
  override readonly name = 'RepairRefusedError';
}

export interface RepairAction {
  readonly action: 'quarantined' | 're-uploaded' | 'manifest-rewritten' | 'rebuilt-from-log';
  /** The local file or store key acted on. */
  readonly subject: string;
  readonly detail: string;
  /** True when --dry-run only says what it would do. */
  readonly dryRun: boolean;
}

export interface Unrepaired {
  readonly subject: string;
  readonly problem: string;
}

export interface RepairResult {
  readonly actions: readonly RepairAction[];
  readonly unrepaired: readonly Unrepaired[];
}

export interface RepairOptions {
  readonly paths: DataDirPaths;
  readonly store: ObjectStore;
  /** Say what would be done, change nothing. @default false */
  readonly dryRun?: boolean;
  /** Judge store copies by size and metadata only, without reading them. @default false */
  readonly quick?: boolean;
  /** Warm files validated per ledger open (validation reopens the ledger per batch). @default 500 */
  readonly validateBatch?: number;
  /** @default Date.now */
  readonly nowMs?: () => number;
}

type Uploaded = WarmFileState & { uploaded: UploadedEntry };

export async function repairTiers(options: RepairOptions): Promise<RepairResult> {
  const { paths, store } = options;
  const dryRun = options.dryRun ?? false;
  const nowMs = options.nowMs ?? Date.now;
  const actions: RepairAction[] = [];
  const unrepaired: Unrepaired[] = [];
  const act = (action: RepairAction['action'], subject: string, detail: string): void => { actions.push({ action, subject, detail, dryRun }); };

  const holders = await processesHolding(paths.ledger);
  if (holders !== undefined && holders.length > 0) {
    throw new RepairRefusedError(`an agent is running on ${paths.dataDir} (process ${holders.join(', ')} has ${paths.ledger} open); stop it first — repair rewrites the ledger, the warm files and the log it holds`);
  }
  if (!existsSync(paths.ledger)) return { actions, unrepaired };

  // 1. Validate what is on the host; quarantine what fails.
  const before = await readLedger(paths.ledger);
  const quarantinedNow = new Set<string>();
  const onHost = [...before.files.values()].filter((s) => s.removed === undefined && existsSync(join(paths.warmDir, s.sealed.path)));
  const batch = options.validateBatch ?? 500;
  const validation = progress('validating warm files', onHost.length);
  for (let i = 0; i < onHost.length; i += batch) {
    const chunk = onHost.slice(i, i + batch).map((s) => join(paths.warmDir, s.sealed.path));
    for (const finding of await validateWarmFiles({ dataDir: paths.dataDir, paths: chunk, quarantine: !dryRun })) {
      if (finding.ok) continue;
      const rel = finding.file.slice(paths.warmDir.length + 1);
      quarantinedNow.add(rel);
      act('quarantined', finding.file, `${finding.problems.join('; ')}${finding.quarantinedTo === undefined ? '' : ` (moved to ${finding.quarantinedTo})`}`);
    }
    validation.tick(chunk.length);
  }
  validation.done();

  const ledger = dryRun ? undefined : WarmLedger.open(paths.ledger);
  try {
    const current = await readLedger(paths.ledger);
    const states = [...current.files.values()];
    const coldKeys: string[] = [];
    for await (const info of store.list('cold/')) coldKeys.push(info.key);
    const absorbed = (await readCompactedSources(store, coldKeys)).keys;
    const facts = new ObjectFactsCache(store);

    // 2. Store copies that are missing or differ: upload again from the host.
    const uploaded = states.filter((s): s is Uploaded => s.uploaded !== undefined);
    const present = new Set<string>();
    const copies = progress('checking store copies', uploaded.length);
    for (const state of uploaded) {
      const problem = await storeCopyProblem(store, facts, state, options.quick ?? false);
      copies.tick();
      if (problem === undefined) {
        present.add(state.uploaded.key);
        continue;
      }
      if (problem === 'missing' && absorbed.has(state.uploaded.key)) continue; // the cold tier holds its rows
      const fixed = await uploadAgain(store, facts, paths, state, dryRun, options.quick ?? false);
      if (fixed.ok) {
        present.add(state.uploaded.key);
        act('re-uploaded', state.uploaded.key, `${problem === 'missing' ? 'missing from the store' : problem}; uploaded again from ${join(paths.warmDir, state.sealed.path)}`);
      } else {
        unrepaired.push({ subject: state.uploaded.key, problem: `${problem === 'missing' ? 'missing from the store' : problem}; ${fixed.reason}` });
      }
    }
    copies.done();

    // 3. Manifests that lack or misdescribe an uploaded file.
    const days = new Map<string, Uploaded[]>();
    for (const state of uploaded) {
      if (!present.has(state.uploaded.key)) continue;
      let agentId: string;
      try {
        agentId = parseWarmObjectKey(state.uploaded.key).agentId;
      } catch {
        continue;
      }
      const id = `${state.sealed.dataset}\u0000${state.sealed.date}\u0000${agentId}`;
      days.set(id, [...(days.get(id) ?? []), state]);
    }
    for (const [id, files] of days) {
      const [dataset, date, agentId] = id.split('\u0000') as [SealedEntry['dataset'], string, string];
      const key = warmManifestKey(dataset, date, agentId);
      let existing: WarmManifestObject[] = [];
      let unreadable: string | undefined;
      try {
        existing = (await readWarmManifest(store, dataset, date, agentId))?.objects ?? [];
      } catch (error) {
        if (!(error instanceof WarmManifestError)) throw error;
        unreadable = error.message;
      }
      const byKey = new Map(existing.map((o) => [o.key, o]));
      const fixes: string[] = [];
      for (const state of files) {
        const wanted = manifestObjectOf(state.sealed, state.uploaded.key);
        const have = byKey.get(wanted.key);
        if (have !== undefined && JSON.stringify(have) === JSON.stringify(wanted)) continue;
        fixes.push(have === undefined ? `added ${wanted.key}` : `corrected ${wanted.key} (${describeDifference(have, wanted)})`);
        byKey.set(wanted.key, wanted);
      }
      if (fixes.length === 0 && unreadable === undefined) continue;
      if (!dryRun) {
        const bytes = encodeWarmManifest({ dataset, date, agentId, updatedAtMs: nowMs() }, byKey.values());
        await store.put(key, bytes, { contentType: WARM_MANIFEST_CONTENT_TYPE });
        const info = await store.head(key);
        if (info?.sizeBytes !== bytes.byteLength) {
          unrepaired.push({ subject: key, problem: `rewritten, but the store then holds ${info === undefined ? 'nothing' : `${info.sizeBytes} bytes`} where ${bytes.byteLength} were written` });
          continue;
        }
      }
      act('manifest-rewritten', key, `${unreadable === undefined ? '' : `was unreadable (${unreadable}); rebuilt from the ledger; `}${fixes.join('; ')}`);
    }

    // 4. Files gone from the host before they reached the store: rebuild from the write-ahead log.
    const lost: SealedEntry[] = [];
    for (const state of states) {
      if (state.uploaded !== undefined) continue;
      const goneNow = state.removed === undefined && !existsSync(join(paths.warmDir, state.sealed.path));
      if (goneNow || quarantinedNow.has(state.sealed.path)) lost.push(state.sealed);
    }
    if (lost.length > 0) {
      const outcomes = await rebuildFromLog(paths.walDir, lost, states.map((s) => s.sealed));
      for (const entry of lost) {
        const file = join(paths.warmDir, entry.path);
        const outcome = outcomes.get(entry.path) ?? { ok: false as const, reason: 'not rebuilt' };
        if (!outcome.ok) {
          unrepaired.push({ subject: file, problem: `missing from this host and never uploaded; ${outcome.reason}` });
          continue;
        }
        if (ledger !== undefined) {
          await writeFileAtomic(file, outcome.bytes);
          // A file quarantined above comes back as it was sealed: the same entry, so it is pending upload again.
          if (ledger.get(entry.path)?.removed !== undefined) ledger.record(entry);
        }
        act('rebuilt-from-log', file, `${entry.rows} rows rebuilt from the write-ahead log, byte-identical to the sealed file; the agent uploads it at its next start`);
      }
    }
  } finally {
    ledger?.close();
  }
  return { actions, unrepaired };
}

/** 'missing', a description of the difference, or undefined when the store copy is the ledger's file. */
async function storeCopyProblem(store: ObjectStore, facts: ObjectFactsCache, state: Uploaded, quick: boolean): Promise<string | undefined> {
  const info = await store.head(state.uploaded.key);
  if (info === undefined) return 'missing';
  const problem = storedCopyProblem(info, state.sealed);
  if (problem !== undefined || quick) return problem;
  const f = await facts.get(state.uploaded.key);
  if (f.sha256 !== state.sealed.sha256) return `its bytes hash to ${f.sha256}, the ledger says ${state.sealed.sha256}`;
  if (f.rows !== state.sealed.rows) return typeof f.rows === 'number' ? `its footer says ${f.rows} rows, the ledger says ${state.sealed.rows}` : `footer unreadable: ${f.rows.error}`;
  return undefined;
}

async function uploadAgain(
  store: ObjectStore, facts: ObjectFactsCache, paths: DataDirPaths, state: Uploaded, dryRun: boolean, quick: boolean,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const file = join(paths.warmDir, state.sealed.path);
  if (state.removed !== undefined) {
    return { ok: false, reason: `no copy on this host to upload again (${state.removed.type}: ${state.removed.reason}); restore the object from a backup of the store` };
  }
  const size = await stat(file).then((s) => s.size, () => undefined);
  if (size === undefined) return { ok: false, reason: `no copy on this host to upload again (${file} is missing)` };
  if (size !== state.sealed.bytes || (await sha256OfFile(file)) !== state.sealed.sha256) {
    return { ok: false, reason: `the copy on this host (${file}) no longer matches the ledger either` };
  }
  if (dryRun) return { ok: true };
  const key = state.uploaded.key;
  await store.putFile(key, file, { metadata: uploadMetadata(state.sealed, parseWarmObjectKey(key).agentId), contentType: PARQUET_CONTENT_TYPE });
  facts.forget(key);
  const after = await storeCopyProblem(store, facts, state, quick);
  return after === undefined ? { ok: true } : { ok: false, reason: `uploaded again, but the store copy still differs: ${after === 'missing' ? 'absent' : after}` };
}

function describeDifference(have: WarmManifestObject, wanted: WarmManifestObject): string {
  const fields = (Object.keys(wanted) as (keyof WarmManifestObject)[]).filter((k) => have[k] !== wanted[k]);
  return fields.map((k) => `${k} ${JSON.stringify(have[k])} → ${JSON.stringify(wanted[k])}`).join(', ');
}

/**
 * `tickvault status`: a summary of every tier from outside the agent — hot (a running agent's read API, when given),
 * warm files by dataset and date (the ledger), the upload backlog, the store's warm/ and cold/ objects, the
 * write-ahead log, snapshots, quarantine and disk. Read-only: safe beside a running agent.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ObjectStore } from '../../core/object-store/object-store.ts';
import { type StoreUsage, scanStoreUsage } from '../metrics/store-usage.ts';
import { parseSnapshotFileName } from '../snapshot/snapshot-format.ts';
import { parseSegmentFileName } from '../wal/record-format.ts';
import { type DiskSpace, diskSpace } from '../warm/retention.ts';
import type { DataDirPaths } from './data-dir.ts';
import { readLedger } from './ledger-reader.ts';
import { progress } from './progress.ts';
import { formatAgeMs, formatBytes, renderTable } from './text-format.ts';

export interface Totals {
  files: number;
  bytes: number;
  rows: number;
}

export type HotStatus =
  | { readonly state: 'not running'; readonly detail: string }
  | { readonly state: 'unreachable'; readonly url: string; readonly error: string }
  | {
      readonly state: 'running';
      readonly url: string;
      readonly agentId: string;
      readonly feed: { readonly kind: string; readonly connected: boolean; readonly lagSeconds: number | null };
      readonly memoryBytes: number;
      readonly symbols: number;
      readonly received: number;
      readonly ready: string;
    };

export interface TierStatus {
  readonly dataDir: string;
  readonly agentId: string | null;
  readonly hot: HotStatus;
  readonly warm: {
    readonly ledgerFound: boolean;
    /** Files still on this host, per dataset, then per date. */
    readonly byDataset: Record<string, Totals & { readonly byDate: Record<string, Totals> }>;
    readonly total: Totals;
    readonly uploadedOnHost: number;
    readonly deletedByRetention: number;
    readonly quarantined: number;
    readonly unreadableLedgerLines: number;
  };
  readonly uploadBacklog: { readonly files: number; readonly bytes: number; readonly oldestAgeMs: number };
  readonly store: (StoreUsage & { readonly error?: undefined }) | { readonly store: string; readonly error: string };
  readonly wal: { readonly segments: number; readonly bytes: number; readonly firstSeq: number | null };
  readonly snapshots: { readonly count: number; readonly bytes: number; readonly newestSeq: string | null; readonly newestAgeMs: number | null };
  readonly quarantine: { readonly files: number; readonly bytes: number };
  readonly disk: DiskSpace | null;
}

export interface TierStatusOptions {
  readonly paths: DataDirPaths;
  readonly store: ObjectStore;
  /** A running agent's read API, e.g. http://127.0.0.1:8080. */
  readonly agentUrl?: string;
  readonly nowMs?: number;
}

export async function collectTierStatus(options: TierStatusOptions): Promise<TierStatus> {
  const { paths } = options;
  const nowMs = options.nowMs ?? Date.now();
  const ledger = await readLedger(paths.ledger);
  const byDataset: TierStatus['warm']['byDataset'] = {};
  const total: Totals = { files: 0, bytes: 0, rows: 0 };
  const backlog = { files: 0, bytes: 0, oldestAgeMs: 0 };
  let uploadedOnHost = 0;
  let deletedByRetention = 0;
  let quarantined = 0;
  for (const f of ledger.files.values()) {
    if (f.removed?.type === 'deleted') { deletedByRetention++; continue; }
    if (f.removed?.type === 'quarantined') { quarantined++; continue; }
    const { dataset, date, bytes, rows } = f.sealed;
    const d = (byDataset[dataset] ??= { files: 0, bytes: 0, rows: 0, byDate: {} });
    const day = (d.byDate[date] ??= { files: 0, bytes: 0, rows: 0 });
    for (const t of [total, d, day]) {
      t.files++;
      t.bytes += bytes;
      t.rows += rows;
    }
    if (f.uploaded !== undefined) uploadedOnHost++;
    else {
      backlog.files++;
      backlog.bytes += bytes;
      backlog.oldestAgeMs = Math.max(backlog.oldestAgeMs, nowMs - f.sealed.sealedAtMs);
    }
  }

  const bar = progress('listing the store', undefined);
  let store: TierStatus['store'];
  try {
    store = await scanStoreUsage(options.store, () => bar.tick());
  } catch (error) {
    store = { store: options.store.description, error: (error as Error).message };
  } finally {
    bar.done();
  }

  return {
    dataDir: paths.dataDir,
    agentId: await readText(paths.agentIdFile),
    hot: await hotStatus(options.agentUrl),
    warm: { ledgerFound: ledger.exists, byDataset, total, uploadedOnHost, deletedByRetention, quarantined, unreadableLedgerLines: ledger.unreadableLines },
    uploadBacklog: backlog,
    store,
    wal: await walStatus(paths.walDir),
    snapshots: await snapshotStatus(paths.snapshotsDir, nowMs),
    quarantine: await directorySize(paths.quarantineDir),
    disk: await diskSpace(paths.dataDir).catch(() => null),
  };
}

async function readText(path: string): Promise<string | null> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return null;
  }
}

async function hotStatus(url: string | undefined): Promise<HotStatus> {
  if (url === undefined) return { state: 'not running', detail: 'give --agent URL to read the hot tier of a running agent' };
  const base = url.replace(/\/+$/, '');
  try {
    const response = await fetch(`${base}/v1/status`, { signal: AbortSignal.timeout(5000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const s = (await response.json()) as {
      report: { agentId: string; received: number };
      feed: { kind: string; connected: boolean; lagSeconds?: number };
      hot?: { memory: { totalBytes: number; symbolCount: number } };
      hotMemory?: { totalBytes: number; symbolCount: number };
      readiness?: { status: string; checks: { ok: boolean; reason?: string }[] };
    };
    const memory = s.hot?.memory ?? s.hotMemory;
    const failed = s.readiness?.checks.filter((c) => !c.ok).map((c) => c.reason) ?? [];
    return {
      state: 'running',
      url: base,
      agentId: s.report.agentId,
      feed: { kind: s.feed.kind, connected: s.feed.connected, lagSeconds: s.feed.lagSeconds ?? null },
      memoryBytes: memory?.totalBytes ?? 0,
      symbols: memory?.symbolCount ?? 0,
      received: s.report.received,
      ready: s.readiness === undefined ? 'unknown' : s.readiness.status === 'ok' ? 'ready' : `not ready: ${failed.join('; ')}`,
    };
  } catch (error) {
    const e = error as Error;
    return { state: 'unreachable', url: base, error: e.cause instanceof Error ? `${e.message} (${e.cause.message})` : e.message };
  }
}

async function walStatus(dir: string): Promise<TierStatus['wal']> {
  const names = await readdir(dir).catch(() => [] as string[]);
  let bytes = 0;
  let firstSeq: number | null = null;
  let segments = 0;
  for (const name of names) {
    const seq = parseSegmentFileName(name);
    if (seq === undefined) continue;
    segments++;
    bytes += (await stat(join(dir, name)).catch(() => ({ size: 0 }))).size;
    if (firstSeq === null || seq < firstSeq) firstSeq = seq;
  }
  return { segments, bytes, firstSeq };
}

async function snapshotStatus(dir: string, nowMs: number): Promise<TierStatus['snapshots']> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => parseSnapshotFileName(n) !== undefined).sort();
  let bytes = 0;
  let newestMtimeMs: number | null = null;
  for (const name of names) {
    const st = await stat(join(dir, name)).catch(() => undefined);
    if (st === undefined) continue;
    bytes += st.size;
    newestMtimeMs = Math.max(newestMtimeMs ?? 0, st.mtimeMs);
  }
  const newest = names.at(-1);
  return {
    count: names.length,
    bytes,
    newestSeq: newest === undefined ? null : String(parseSnapshotFileName(newest)),
    newestAgeMs: newestMtimeMs === null ? null : Math.max(0, nowMs - newestMtimeMs),
  };
}

async function directorySize(dir: string): Promise<{ files: number; bytes: number }> {
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch {
    return { files: 0, bytes: 0 };
  }
  let files = 0;
  let bytes = 0;
  for (const e of entries) {
    if (!e.isFile()) continue;
    files++;
    bytes += (await stat(join(e.parentPath, e.name)).catch(() => ({ size: 0 }))).size;
  }
  return { files, bytes };
}

/** The human-readable report. */
export function renderTierStatus(s: TierStatus): string {
  const out: string[] = [];
  out.push(`tickvault status of ${s.dataDir}${s.agentId === null ? '' : ` (agent ${s.agentId})`}`, '');

  out.push('HOT (in memory, in the running agent)');
  if (s.hot.state === 'running') {
    out.push(`  running at ${s.hot.url}: ${formatBytes(s.hot.memoryBytes)} in ${s.hot.symbols} symbols, ${s.hot.received} messages received`);
    out.push(`  feed ${s.hot.feed.kind} ${s.hot.feed.connected ? 'connected' : 'NOT connected'}${s.hot.feed.lagSeconds === null ? '' : `, lag ${formatAgeMs(s.hot.feed.lagSeconds * 1000)}`}; ${s.hot.ready}`);
  } else if (s.hot.state === 'unreachable') {
    out.push(`  not answering at ${s.hot.url}: ${s.hot.error}`);
  } else {
    out.push(`  not running (${s.hot.detail})`);
  }
  out.push('');

  out.push('WARM (Parquet files on this host, from the ledger)');
  if (!s.warm.ledgerFound) out.push('  no ledger: no agent has written warm files in this data directory');
  const rows: (string | number)[][] = [];
  for (const dataset of Object.keys(s.warm.byDataset).sort()) {
    const d = s.warm.byDataset[dataset]!;
    for (const date of Object.keys(d.byDate).sort()) {
      const day = d.byDate[date]!;
      rows.push([dataset, date, day.files, formatBytes(day.bytes), day.rows]);
    }
  }
  if (rows.length > 0) {
    rows.push(['total', '', s.warm.total.files, formatBytes(s.warm.total.bytes), s.warm.total.rows]);
    out.push(renderTable(['dataset', 'date', '>files', '>bytes', '>rows'], rows));
  } else if (s.warm.ledgerFound) {
    out.push('  no warm files on this host');
  }
  out.push(`  ${s.warm.uploadedOnHost} uploaded and still here, ${s.warm.deletedByRetention} deleted by retention, ${s.warm.quarantined} quarantined`);
  if (s.warm.unreadableLedgerLines > 0) out.push(`  ${s.warm.unreadableLedgerLines} ledger line(s) unreadable (a torn last line while the agent writes is normal)`);
  out.push('');

  out.push('UPLOAD BACKLOG');
  out.push(s.uploadBacklog.files === 0
    ? '  empty: every sealed file is in the store'
    : `  ${s.uploadBacklog.files} files, ${formatBytes(s.uploadBacklog.bytes)}, oldest sealed ${formatAgeMs(s.uploadBacklog.oldestAgeMs)} ago`);
  out.push('');

  out.push(`STORE (${s.store.store})`);
  if (s.store.error !== undefined) {
    out.push(`  cannot list: ${s.store.error}`);
  } else {
    const u = s.store;
    out.push(renderTable(['prefix', '>objects', '>bytes', '>parquet', '>parquet bytes'], [
      ['warm/', u.warm.objects, formatBytes(u.warm.bytes), u.warm.dataObjects, formatBytes(u.warm.dataBytes)],
      ['cold/', u.cold.objects, formatBytes(u.cold.bytes), u.cold.dataObjects, formatBytes(u.cold.dataBytes)],
    ]));
  }
  out.push('');

  out.push('WRITE-AHEAD LOG');
  out.push(`  ${s.wal.segments} segment(s), ${formatBytes(s.wal.bytes)}${s.wal.firstSeq === null ? '' : `, from sequence ${s.wal.firstSeq}`}`);
  out.push('SNAPSHOTS');
  out.push(s.snapshots.count === 0
    ? '  none'
    : `  ${s.snapshots.count}, ${formatBytes(s.snapshots.bytes)}; newest at log sequence ${s.snapshots.newestSeq}, written ${formatAgeMs(s.snapshots.newestAgeMs ?? 0)} ago`);
  out.push('QUARANTINE');
  out.push(s.quarantine.files === 0 ? '  empty' : `  ${s.quarantine.files} file(s), ${formatBytes(s.quarantine.bytes)} (see tickvault verify)`);
  out.push('DISK');
  out.push(s.disk === null
    ? '  unknown'
    : `  ${formatBytes(s.disk.freeBytes)} free of ${formatBytes(s.disk.totalBytes)} (${(s.disk.freeRatio * 100).toFixed(1)}%)`);
  return `${out.join('\n')}\n`;
}

/**
 * What verify and repair both need to know about objects in the store: whether a stored copy is the ledger's file,
 * the facts of an object's bytes (size, SHA-256, rows in its footer), and which warm objects the cold tier has
 * absorbed (their later deletion is expected). What the uploader stores with each object is in sync/warm-object.ts.
 */
import { createHash } from 'node:crypto';
import { inspectParquet } from '../../core/codec/parquet-file.ts';
import { type ColdManifest, decodeColdManifest } from '../../core/cold-manifest.ts';
import type { ObjectInfo, ObjectStore } from '../../core/object-store/object-store.ts';
import type { SealedEntry } from '../warm/warm-ledger.ts';

/** Why a stored object's size or metadata is not the ledger's file, or undefined when they match. */
export function storedCopyProblem(info: ObjectInfo, entry: SealedEntry): string | undefined {
  if (info.sizeBytes !== entry.bytes) return `${info.sizeBytes} bytes in the store, the ledger says ${entry.bytes}`;
  const stored = info.metadata?.['sha256'];
  if (stored !== undefined && stored !== entry.sha256) return `sha256 metadata ${stored} in the store, the ledger says ${entry.sha256}`;
  const rows = info.metadata?.['rows'];
  if (rows !== undefined && rows !== String(entry.rows)) return `rows metadata ${rows} in the store, the ledger says ${entry.rows}`;
  return undefined;
}

export interface ObjectFacts {
  readonly sizeBytes: number;
  readonly sha256: string;
  /** Rows in the Parquet footer, or why the footer could not be read. */
  readonly rows: number | { readonly error: string };
}

/** Reads each object once (the whole object: the interface has no ranged read) and remembers its facts, not its bytes. */
export class ObjectFactsCache {
  private readonly facts = new Map<string, Promise<ObjectFacts>>();

  constructor(private readonly store: ObjectStore) {}

  get(key: string): Promise<ObjectFacts> {
    let facts = this.facts.get(key);
    if (facts === undefined) {
      facts = this.store.get(key).then((bytes) => factsOf(bytes, key));
      this.facts.set(key, facts);
    }
    return facts;
  }

  forget(key: string): void {
    this.facts.delete(key);
  }
}

function factsOf(bytes: Uint8Array, name: string): ObjectFacts {
  let rows: ObjectFacts['rows'];
  try {
    rows = inspectParquet(bytes, name).rows;
  } catch (error) {
    rows = { error: (error as Error).message };
  }
  return { sizeBytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('base64'), rows };
}

const COLD_MANIFEST = /\/_manifest-[^/]+\.json$/;

export function isColdManifestKey(key: string): boolean {
  return key.startsWith('cold/') && COLD_MANIFEST.test(key);
}

export interface CompactedSources {
  /** Keys of every source object some cold manifest says it holds the rows of. */
  readonly keys: ReadonlySet<string>;
  /** The cold manifests read, by key. */
  readonly manifests: ReadonlyMap<string, ColdManifest>;
  /** Cold manifests that could not be read, with why. */
  readonly unreadable: readonly { readonly key: string; readonly problem: string }[];
}

/** Every source key the cold manifests among `coldKeys` name: warm objects whose rows are safe in the cold tier. */
export async function readCompactedSources(store: ObjectStore, coldKeys: Iterable<string>, onManifest?: () => void): Promise<CompactedSources> {
  const keys = new Set<string>();
  const manifests = new Map<string, ColdManifest>();
  const unreadable: { key: string; problem: string }[] = [];
  for (const key of coldKeys) {
    if (!isColdManifestKey(key)) continue;
    try {
      const manifest = decodeColdManifest(key, await store.get(key));
      manifests.set(key, manifest);
      for (const source of manifest.sources) keys.add(source.key);
    } catch (error) {
      unreadable.push({ key, problem: (error as Error).message });
    }
    onManifest?.();
  }
  return { keys, manifests, unreadable };
}

/** Runs fn over items with at most `limit` at once. */
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

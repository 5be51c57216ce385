/**
 * What the uploader stores with each warm object, in one place: the object's metadata and its entry in the day's
 * manifest. `tickvault verify` and `repair` check stored objects against exactly these, and repair re-uploads with
 * them, so the three can never drift apart.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { WarmManifestObject } from '../../core/warm-manifest.ts';
import type { SealedEntry } from '../warm/warm-ledger.ts';

/** The metadata every warm object carries in the store. */
export function uploadMetadata(entry: SealedEntry, agentId: string): Record<string, string> {
  return {
    sha256: entry.sha256,
    rows: String(entry.rows),
    'min-ts-ns': entry.minTsNs,
    'max-ts-ns': entry.maxTsNs,
    'schema-version': String(entry.schemaVersion),
    'agent-id': agentId,
  };
}

/** The entry a day's warm manifest holds for a file uploaded under `key`. */
export function manifestObjectOf(entry: SealedEntry, key: string): WarmManifestObject {
  return {
    key, symbol: entry.symbol, part: entry.part, rows: entry.rows, bytes: entry.bytes,
    minTsNs: entry.minTsNs, maxTsNs: entry.maxTsNs, sha256: entry.sha256, schemaVersion: entry.schemaVersion,
  };
}

/** SHA-256 (base64, as the ledger and the metadata hold it) of a local file, streamed. */
export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('base64');
}

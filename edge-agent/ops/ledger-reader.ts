/**
 * The warm ledger read without opening it: WarmLedger.open may rewrite the journal (compaction, a torn tail), which
 * must never happen under a running agent that holds it open for appending. This reads the lines and applies them
 * as WarmLedger does, keeping every file's state — deleted and quarantined ones too, which the ledger's own API
 * does not list.
 */
import { readFile } from 'node:fs/promises';
import type { LedgerEntry, WarmFileState } from '../warm/warm-ledger.ts';

export interface LedgerContents {
  /** Every file the ledger knows, by path relative to the warm directory, in first-sealed order. */
  readonly files: ReadonlyMap<string, WarmFileState>;
  /** Lines that were not JSON (a torn last line while the agent appends counts here). */
  readonly unreadableLines: number;
  /** False when there is no ledger file (no agent ever ran on the data directory). */
  readonly exists: boolean;
}

export async function readLedger(path: string): Promise<LedgerContents> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { files: new Map(), unreadableLines: 0, exists: false };
    throw error;
  }
  const files = new Map<string, WarmFileState>();
  let unreadableLines = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let entry: LedgerEntry;
    try {
      entry = JSON.parse(line) as LedgerEntry;
    } catch {
      unreadableLines++;
      continue;
    }
    if (entry.type === 'parts') continue;
    if (entry.type === 'sealed') {
      files.set(entry.path, { sealed: entry, uploaded: undefined, removed: undefined });
      continue;
    }
    const state = files.get(entry.path);
    if (state === undefined) continue;
    if (entry.type === 'uploaded') state.uploaded = entry;
    else state.removed = entry;
  }
  return { files, unreadableLines, exists: true };
}

/**
 * The warm files on this host, read from the warm ledger without disturbing the agent that writes it: the journal is
 * only appended to while the agent runs, so each read takes just the lines added since the last one. A rewrite (the
 * ledger is compacted when the agent opens it) shows as a new inode or a shorter file, and is read from the start.
 *
 * Read-only: it never opens the ledger for writing, never cuts a torn line (it waits for the rest of it).
 */
import { open } from 'node:fs/promises';
import type { LedgerEntry } from '../warm/warm-ledger.ts';

export interface WarmDiskUsage {
  /** Warm files sealed and still on the host (not deleted by retention, not quarantined). */
  readonly files: number;
  readonly bytes: number;
  readonly rows: number;
  /** The same per dataset. */
  readonly byDataset: Readonly<Record<string, { readonly files: number; readonly bytes: number; readonly rows: number }>>;
  /** Lines of the ledger that were not valid JSON (a torn line is only counted once it is followed by another). */
  readonly unreadableLines: number;
}

interface FileState {
  readonly dataset: string;
  readonly bytes: number;
  readonly rows: number;
  removed: boolean;
}

/** Largest read per call; a longer backlog is read over several calls (the figures catch up). */
const MAX_READ_BYTES = 64 * 1024 * 1024;

export class LedgerTail {
  private files = new Map<string, FileState>();
  private totals = { files: 0, bytes: 0, rows: 0 };
  private byDataset = new Map<string, { files: number; bytes: number; rows: number }>();
  private offset = 0;
  private inode: number | bigint | undefined;
  private partial = '';
  private unreadableLines = 0;
  private reading: Promise<WarmDiskUsage> | undefined;

  constructor(readonly path: string) {}

  /** Reads what was appended since the last call and returns the current usage. Concurrent calls share one read. */
  read(): Promise<WarmDiskUsage> {
    this.reading ??= this.readNow().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async readNow(): Promise<WarmDiskUsage> {
    let handle;
    try {
      handle = await open(this.path, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        this.reset(undefined);
        return this.usage();
      }
      throw error;
    }
    try {
      const st = await handle.stat();
      if (st.ino !== this.inode || st.size < this.offset) this.reset(st.ino);
      const length = Math.min(st.size - this.offset, MAX_READ_BYTES);
      if (length > 0) {
        const buffer = Buffer.allocUnsafe(length);
        const { bytesRead } = await handle.read(buffer, 0, length, this.offset);
        this.offset += bytesRead;
        this.consume(buffer.subarray(0, bytesRead).toString('utf8'));
      }
    } finally {
      await handle.close();
    }
    return this.usage();
  }

  private reset(inode: number | bigint | undefined): void {
    this.files = new Map();
    this.totals = { files: 0, bytes: 0, rows: 0 };
    this.byDataset = new Map();
    this.offset = 0;
    this.partial = '';
    this.unreadableLines = 0;
    this.inode = inode;
  }

  private consume(text: string): void {
    const lines = (this.partial + text).split('\n');
    // The last piece has no newline yet: an entry being written. Keep it for the next read.
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '') continue;
      let entry: LedgerEntry;
      try {
        entry = JSON.parse(line) as LedgerEntry;
      } catch {
        this.unreadableLines++;
        continue;
      }
      this.apply(entry);
    }
  }

  private apply(entry: LedgerEntry): void {
    switch (entry.type) {
      case 'sealed': {
        const old = this.files.get(entry.path);
        if (old !== undefined && !old.removed) this.add(old, -1);
        const state: FileState = { dataset: entry.dataset, bytes: entry.bytes, rows: entry.rows, removed: false };
        this.files.set(entry.path, state);
        this.add(state, 1);
        return;
      }
      case 'deleted':
      case 'quarantined': {
        const state = this.files.get(entry.path);
        if (state === undefined || state.removed) return;
        state.removed = true;
        this.add(state, -1);
        return;
      }
      case 'uploaded':
      case 'parts':
        return;
    }
  }

  private add(state: FileState, sign: 1 | -1): void {
    this.totals.files += sign;
    this.totals.bytes += sign * state.bytes;
    this.totals.rows += sign * state.rows;
    let d = this.byDataset.get(state.dataset);
    if (d === undefined) {
      d = { files: 0, bytes: 0, rows: 0 };
      this.byDataset.set(state.dataset, d);
    }
    d.files += sign;
    d.bytes += sign * state.bytes;
    d.rows += sign * state.rows;
  }

  private usage(): WarmDiskUsage {
    const byDataset: Record<string, { files: number; bytes: number; rows: number }> = {};
    for (const [dataset, d] of this.byDataset) byDataset[dataset] = { ...d };
    return { ...this.totals, byDataset, unreadableLines: this.unreadableLines };
  }
}

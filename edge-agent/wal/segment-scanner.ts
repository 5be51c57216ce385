/**
 * Reads the records of one segment file through a bounded window (1 MiB by default; a record larger than the
 * window gets a buffer of its own size), validating each: length, CRC32C and sequence. Used by recovery and replay.
 */
import type { DamageReason } from './wal-errors.ts';
import type { WalFile } from './wal-file-system.ts';
import { MAX_PAYLOAD_BYTES, RECORD_HEADER_BYTES, readSeq, recordChecksumMatches } from './record-format.ts';

export const DEFAULT_WINDOW_BYTES = 1024 * 1024;
/** Resync accepts a record up to this many sequence numbers past the last good one. */
const MAX_RESYNC_GAP = 2 ** 32;

export interface RecordDamage {
  /** Byte offset of the damaged record. */
  readonly offset: number;
  /** Sequence number the damaged record should have carried. */
  readonly expectedSeq: number;
  readonly reason: DamageReason;
}

/** Damage the scan resynced past: valid records resume at resumeOffset with resumeSeq. */
export interface SkippedDamage extends RecordDamage {
  readonly resumeOffset: number;
  readonly resumeSeq: number;
}

export interface ScanOptions {
  readonly file: WalFile;
  /** Bytes of the file to consider (its size, or the durable end of a segment being written). */
  readonly endOffset: number;
  readonly startOffset?: number;
  /** Sequence number expected at startOffset. */
  readonly firstSeq: number;
  readonly windowBytes?: number;
  /** Sees every valid record in order; the payload is a view into the window, valid only during the call. */
  readonly onRecord?: (seq: number, payload: Uint8Array, offset: number) => void | Promise<void>;
  /** At a damaged record: 'stop' ends the scan there, 'resync' searches for the next valid record and goes on. */
  readonly onDamage: (damage: RecordDamage) => 'stop' | 'resync';
}

export interface ScanResult {
  /** Offset just past the last valid record (startOffset when none). */
  readonly goodEnd: number;
  /** Sequence of the last valid record, firstSeq - 1 when none. */
  readonly lastSeq: number;
  readonly records: number;
  /** Where the scan ended early: 'stop' was chosen there, or a resync found no valid record after it. */
  readonly tailDamage: RecordDamage | undefined;
  readonly skipped: readonly SkippedDamage[];
}

/** A bounded view of a file: [start, end) of the file sits in buf[0, end - start). */
class FileWindow {
  buf: Buffer;
  start = 0;
  end = 0;

  constructor(private readonly file: WalFile, private readonly limit: number, private readonly windowBytes: number) {
    this.buf = Buffer.allocUnsafe(Math.min(windowBytes, Math.max(limit, RECORD_HEADER_BYTES)));
  }

  has(offset: number, length: number): boolean {
    return offset >= this.start && offset + length <= this.end;
  }

  /** Loads at least `length` bytes at offset (the caller checked they lie before the limit); false if the file is shorter. */
  async load(offset: number, length: number): Promise<boolean> {
    const want = Math.min(Math.max(length, this.windowBytes), this.limit - offset);
    if (want > this.buf.length) this.buf = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const n = await this.file.read(this.buf.subarray(got, want), offset + got);
      if (n === 0) break;
      got += n;
    }
    this.start = offset;
    this.end = offset + got;
    return got >= length;
  }
}

export async function scanSegment(options: ScanOptions): Promise<ScanResult> {
  const end = options.endOffset;
  const window = new FileWindow(options.file, end, options.windowBytes ?? DEFAULT_WINDOW_BYTES);
  const skipped: SkippedDamage[] = [];
  let offset = options.startOffset ?? 0;
  let expected = options.firstSeq;
  let goodEnd = offset;
  let records = 0;
  let tailDamage: RecordDamage | undefined;

  while (offset < end) {
    const reason = await checkRecord(window, offset, end, expected);
    if (reason === undefined) {
      const length = window.buf.readUInt32LE(offset - window.start);
      if (options.onRecord !== undefined) {
        const at = offset - window.start + RECORD_HEADER_BYTES;
        const done = options.onRecord(expected, window.buf.subarray(at, at + length), offset);
        if (done !== undefined) await done;
      }
      offset += RECORD_HEADER_BYTES + length;
      goodEnd = offset;
      expected++;
      records++;
      continue;
    }
    const damage: RecordDamage = { offset, expectedSeq: expected, reason };
    if (options.onDamage(damage) === 'stop') {
      tailDamage = damage;
      break;
    }
    const next = await findNextRecord(window, offset + 1, end, expected - 1);
    if (next === undefined) {
      tailDamage = damage;
      break;
    }
    skipped.push({ ...damage, resumeOffset: next.offset, resumeSeq: next.seq });
    offset = next.offset;
    expected = next.seq;
  }
  return { goodEnd, lastSeq: expected - 1, records, tailDamage, skipped };
}

/** Undefined when a valid record with sequence `expected` starts at offset (and is then in the window). */
async function checkRecord(window: FileWindow, offset: number, end: number, expected: number): Promise<DamageReason | undefined> {
  if (end - offset < RECORD_HEADER_BYTES) return 'short-header';
  if (!window.has(offset, RECORD_HEADER_BYTES) && !(await window.load(offset, RECORD_HEADER_BYTES))) return 'short-header';
  const length = window.buf.readUInt32LE(offset - window.start);
  if (length > MAX_PAYLOAD_BYTES) return 'length-too-large';
  const recordBytes = RECORD_HEADER_BYTES + length;
  if (offset + recordBytes > end) return 'length-beyond-end';
  if (!window.has(offset, recordBytes) && !(await window.load(offset, recordBytes))) return 'length-beyond-end';
  const at = offset - window.start;
  if (!recordChecksumMatches(window.buf, at, length)) return 'crc-mismatch';
  if (readSeq(window.buf, at) !== expected) return 'sequence-mismatch';
  return undefined;
}

/**
 * The first offset at or after `from` holding a valid record numbered above afterSeq: the scan slides one byte at
 * a time, cheap checks (sequence range, length) first and the CRC only for candidates that pass them.
 */
async function findNextRecord(window: FileWindow, from: number, end: number, afterSeq: number): Promise<{ offset: number; seq: number } | undefined> {
  for (let p = from; p + RECORD_HEADER_BYTES <= end; p++) {
    if (!window.has(p, RECORD_HEADER_BYTES) && !(await window.load(p, RECORD_HEADER_BYTES))) return undefined;
    let at = p - window.start;
    const seq = readSeq(window.buf, at);
    if (seq <= afterSeq || seq > afterSeq + MAX_RESYNC_GAP) continue;
    const length = window.buf.readUInt32LE(at);
    if (length > MAX_PAYLOAD_BYTES || p + RECORD_HEADER_BYTES + length > end) continue;
    if (!window.has(p, RECORD_HEADER_BYTES + length)) {
      if (!(await window.load(p, RECORD_HEADER_BYTES + length))) continue;
      at = p - window.start;
    }
    if (recordChecksumMatches(window.buf, at, length)) return { offset: p, seq };
  }
  return undefined;
}

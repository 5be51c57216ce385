/**
 * Recorded market data files as a stream of lines with exact byte offsets, for replay and for resuming a replay.
 *
 * Two formats:
 *   - CSV as in ../shared/data (core/codec/market-csv.ts): a header line naming the kind, then one trade or quote per line;
 *   - JSONL: one WebSocket frame per line, exactly as Alpaca sent it (a JSON array of messages with `T`, `S`, `t`, ...).
 *
 * Files are read in chunks, never whole, so a recorded day of any size replays in bounded memory. A line is the bytes
 * up to a '\n' (a '\r' before it is dropped); its `byteOffset` is where it starts and `nextOffset` where the next one
 * starts, so opening a reader at a `nextOffset` continues with exactly the following line. '\n' never occurs inside a
 * multi-byte UTF-8 sequence, so splitting bytes on it never splits a character.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { extname } from 'node:path';
import { type CsvKind, MarketCsvError, csvKindOf } from '../../core/codec/market-csv.ts';

export class ReplayFileError extends Error {
  override readonly name = 'ReplayFileError';
}

export interface FileLine {
  /** Offset of the line's first byte in the file. */
  readonly byteOffset: number;
  /** Offset just past the line's '\n' (the file size for a last line without one): where the next line starts. */
  readonly nextOffset: number;
  /** 1-based line number. */
  readonly line: number;
  /** The line without its terminator; empty when `overlong`. */
  readonly text: string;
  /** The line was longer than maxLineBytes; its bytes were skipped unread, so it can only be counted as bad. */
  readonly overlong: boolean;
}

/** Where a reader starts: the byte offset of a line start and that line's number. */
export interface LineStart {
  readonly byteOffset: number;
  readonly line: number;
}

export interface LineReaderOptions {
  /** Bytes read per call. @default 65_536 */
  readonly chunkBytes?: number;
  /** Longest line kept; a longer one is reported as `overlong` instead of being buffered. @default 4 MiB */
  readonly maxLineBytes?: number;
}

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const UTF8_BOM = '\ufeff';

/** Reads a file line by line from any line start, in chunks, with byte offsets. */
export class LineReader {
  private readonly chunk: Buffer;
  /** Bytes of a line begun in an earlier chunk; it starts at `carryOffset`. */
  private carry: Buffer = Buffer.alloc(0);
  private carryOffset: number;
  /** Inside a line already known to be overlong: its bytes are dropped until its '\n'. */
  private skipping = false;
  private readPosition: number;
  private nextLine: number;
  private eof = false;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    from: LineStart,
    private readonly maxLineBytes: number,
    chunkBytes: number,
  ) {
    this.chunk = Buffer.allocUnsafe(chunkBytes);
    this.readPosition = from.byteOffset;
    this.carryOffset = from.byteOffset;
    this.nextLine = from.line;
  }

  /**
   * Opens `path` at `from` (default: the start). Throws a ReplayFileError when the file cannot be opened, or when
   * `from` is not the start of a line (past the end, or not just after a '\n'), so a bad resume position fails loudly.
   */
  static async open(path: string, from: LineStart = { byteOffset: 0, line: 1 }, options: LineReaderOptions = {}): Promise<LineReader> {
    if (!Number.isSafeInteger(from.byteOffset) || from.byteOffset < 0 || !Number.isSafeInteger(from.line) || from.line < 1) {
      throw new ReplayFileError(`${path}: invalid start position byteOffset=${from.byteOffset} line=${from.line}`);
    }
    if (from.byteOffset === 0 && from.line !== 1) {
      throw new ReplayFileError(`${path}: start position byteOffset=0 must be line 1, got line ${from.line}`);
    }
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      throw new ReplayFileError(`${path}: cannot open for replay (${(error as Error).message})`, { cause: error });
    }
    try {
      const { size } = await handle.stat();
      if (from.byteOffset > size) {
        throw new ReplayFileError(`${path}: start position byteOffset=${from.byteOffset} is past the end of the file (${size} bytes)`);
      }
      if (from.byteOffset > 0) {
        const previous = Buffer.alloc(1);
        await handle.read(previous, 0, 1, from.byteOffset - 1);
        if (previous[0] !== NEWLINE) {
          throw new ReplayFileError(`${path}: start position byteOffset=${from.byteOffset} is not the start of a line`);
        }
      }
    } catch (error) {
      await handle.close();
      throw error;
    }
    return new LineReader(path, handle, from, options.maxLineBytes ?? 4 * 1024 * 1024, options.chunkBytes ?? 65_536);
  }

  /** The next lines (at least one), or undefined once the file is exhausted. */
  async nextBatch(): Promise<FileLine[] | undefined> {
    const lines: FileLine[] = [];
    while (lines.length === 0) {
      if (this.eof) return undefined;
      const { bytesRead } = await this.handle.read(this.chunk, 0, this.chunk.length, this.readPosition);
      if (bytesRead === 0) {
        this.eof = true;
        this.finishLastLine(lines);
        return lines.length > 0 ? lines : undefined;
      }
      const chunkOffset = this.readPosition;
      this.readPosition += bytesRead;
      this.split(this.chunk.subarray(0, bytesRead), chunkOffset, lines);
    }
    return lines;
  }

  /** Every remaining line, one at a time. */
  async *lines(): AsyncGenerator<FileLine> {
    for (let batch = await this.nextBatch(); batch !== undefined; batch = await this.nextBatch()) yield* batch;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  private split(bytes: Buffer, bytesOffset: number, out: FileLine[]): void {
    let start = 0;
    while (start < bytes.length) {
      const newline = bytes.indexOf(NEWLINE, start);
      if (newline === -1) {
        this.keep(bytes.subarray(start), bytesOffset + start);
        return;
      }
      const nextOffset = bytesOffset + newline + 1;
      if (this.skipping) {
        this.skipping = false;
        out.push(this.overlongLine(this.carryOffset, nextOffset));
      } else if (this.carry.length > 0) {
        const whole = Buffer.concat([this.carry, bytes.subarray(start, newline)]);
        this.carry = Buffer.alloc(0);
        out.push(this.line(whole, 0, whole.length, this.carryOffset, nextOffset));
      } else {
        out.push(this.line(bytes, start, newline, bytesOffset + start, nextOffset));
      }
      start = newline + 1;
    }
  }

  /** Holds the start of a line that continues in the next chunk, or drops it once it is overlong. */
  private keep(bytes: Buffer, offset: number): void {
    if (this.skipping) return;
    if (this.carry.length === 0) this.carryOffset = offset;
    if (this.carry.length + bytes.length > this.maxLineBytes) {
      this.carry = Buffer.alloc(0);
      this.skipping = true;
      return;
    }
    // Copied: `bytes` points into the chunk buffer, which the next read overwrites.
    this.carry = Buffer.concat([this.carry, bytes]);
  }

  private finishLastLine(out: FileLine[]): void {
    if (this.skipping) {
      this.skipping = false;
      out.push(this.overlongLine(this.carryOffset, this.readPosition));
    } else if (this.carry.length > 0) {
      out.push(this.line(this.carry, 0, this.carry.length, this.carryOffset, this.readPosition));
      this.carry = Buffer.alloc(0);
    }
  }

  private line(bytes: Buffer, start: number, end: number, byteOffset: number, nextOffset: number): FileLine {
    if (end - start > this.maxLineBytes) return this.overlongLine(byteOffset, nextOffset);
    const stop = end > start && bytes[end - 1] === CARRIAGE_RETURN ? end - 1 : end;
    let text = bytes.toString('utf8', start, stop);
    if (byteOffset === 0 && text.startsWith(UTF8_BOM)) text = text.slice(1);
    this.carryOffset = nextOffset;
    return { byteOffset, nextOffset, line: this.nextLine++, text, overlong: false };
  }

  private overlongLine(byteOffset: number, nextOffset: number): FileLine {
    const line: FileLine = { byteOffset, nextOffset, line: this.nextLine++, text: '', overlong: true };
    this.carryOffset = nextOffset;
    return line;
  }
}

/** Every line of `path` from `from` on, read in chunks. */
export async function* readLines(path: string, from?: LineStart, options?: LineReaderOptions): AsyncGenerator<FileLine> {
  const reader = await LineReader.open(path, from, options);
  try {
    yield* reader.lines();
  } finally {
    await reader.close();
  }
}

/** What a recorded file holds: CSV rows of one kind (after a header line), or one Alpaca frame per line. */
export type ReplayFormat = { readonly kind: 'csv'; readonly csv: CsvKind } | { readonly kind: 'jsonl' };

const JSONL_EXTENSIONS = new Set(['.jsonl', '.ndjson']);

/**
 * Tells a file's format: `.jsonl`/`.ndjson` are JSONL; otherwise the first line decides (a CSV header, or a line
 * starting with '[' for JSONL). Throws a ReplayFileError naming the file when it is neither.
 */
export async function replayFormatOf(path: string): Promise<ReplayFormat> {
  if (JSONL_EXTENSIONS.has(extname(path).toLowerCase())) {
    await (await LineReader.open(path)).close(); // fails here, naming the file, if it cannot be read
    return { kind: 'jsonl' };
  }
  const reader = await LineReader.open(path, undefined, { chunkBytes: 4096, maxLineBytes: 64 * 1024 });
  let first: FileLine | undefined;
  try {
    first = (await reader.nextBatch())?.[0];
  } finally {
    await reader.close();
  }
  if (first === undefined) throw new ReplayFileError(`${path}: empty file; expected a CSV header or JSONL frames`);
  if (first.text.trimStart().startsWith('[')) return { kind: 'jsonl' };
  try {
    return { kind: 'csv', csv: csvKindOf(first.text, path) };
  } catch (error) {
    if (error instanceof MarketCsvError) {
      throw new ReplayFileError(`${error.message}, or a JSONL file of Alpaca frames (one JSON array per line)`, { cause: error });
    }
    throw error;
  }
}

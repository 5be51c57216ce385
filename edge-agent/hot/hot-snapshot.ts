/**
 * The byte format of hot-tier snapshots (HotTier.toSnapshot / HotTier.fromSnapshot) and the bounds-checked writer
 * and reader every part of the tier encodes itself with. The snapshot store (edge-agent/snapshot) wraps these bytes
 * in its own header and CRC; this layer still trusts nothing it reads.
 *
 * Layout, version 1, little-endian throughout:
 *
 *   magic "TVHS" | version u8 | options | tier counters | exchange table | portfolio | symbol count u32 | symbols
 *
 * Symbols come least recently used first, each as its name, then trades ring, quotes ring, book, last bar, features.
 * A ring is its positions and counters followed by its held events as raw columns (oldest first, one column after the
 * other: the typed arrays' bytes, not objects). Scalars are f64 (counters, prices, 32-bit time limbs, which may be
 * +-Infinity sentinels), u32 (slots, counts) or u8 (flags, codes); bigints have a sign byte, a u16 length and that
 * many magnitude bytes, so money of any size survives. Strings are a u8 encoding tag, a u32 byte length and the
 * bytes: UTF-8, or UTF-16LE for the rare string holding a lone surrogate, which UTF-8 cannot carry.
 *
 * Every count is checked against what is left of the payload before anything is allocated for it, and every slot,
 * code and limb against the structure it indexes; a payload that breaks any rule is a HotSnapshotError, never a
 * RangeError from deep inside a ring.
 */
import { HotSnapshotError } from './errors.ts';

export { HOT_SNAPSHOT_DEFECTS, HotSnapshotError, type HotSnapshotDefect } from './errors.ts';

/** The format this build writes, and the only one it reads. */
export const HOT_SNAPSHOT_VERSION = 1;

const MAGIC = [0x54, 0x56, 0x48, 0x53] as const; // "TVHS"
/** Longest bigint magnitude accepted, in bytes (8 192 bits: far beyond any price x quantity in 1e-18 units). */
const MAX_BIGINT_BYTES = 1_024;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const STRING_UTF8 = 0;
const STRING_UTF16 = 1;
// Without the `u` flag the pattern sees UTF-16 code units, so it finds exactly the surrogates that are not paired.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UTF8 = new TextEncoder();
const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Typed arrays a ring column can be. */
export type SnapshotColumn = Float64Array | BigInt64Array | Uint8Array;

/** Appends a snapshot to a growing buffer. */
export class SnapshotWriter {
  private bytes: Uint8Array;
  private view: DataView;
  private pos = 0;

  /** `expectedBytes` sizes the first buffer; the writer grows past it when needed. */
  constructor(expectedBytes = 64 * 1024) {
    this.bytes = new Uint8Array(Math.max(1_024, Math.ceil(expectedBytes)));
    this.view = new DataView(this.bytes.buffer);
  }

  get length(): number {
    return this.pos;
  }

  header(): void {
    this.ensure(MAGIC.length + 1);
    this.bytes.set(MAGIC, this.pos);
    this.pos += MAGIC.length;
    this.u8(HOT_SNAPSHOT_VERSION);
  }

  u8(value: number): void {
    this.ensure(1);
    this.view.setUint8(this.pos, value);
    this.pos += 1;
  }

  bool(value: boolean): void {
    this.u8(value ? 1 : 0);
  }

  u32(value: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, value, true);
    this.pos += 4;
  }

  f64(value: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, value, true);
    this.pos += 8;
  }

  /** Any bigint: sign byte, u16 magnitude length, magnitude little-endian with no leading zero byte (0 has none). */
  bigint(value: bigint): void {
    const negative = value < 0n;
    let hex = (negative ? -value : value).toString(16);
    if (hex === '0') hex = '';
    if (hex.length % 2 === 1) hex = `0${hex}`;
    const n = hex.length / 2;
    if (n > MAX_BIGINT_BYTES) throw new RangeError(`hot snapshot: bigint of ${n} bytes exceeds the format's ${MAX_BIGINT_BYTES}`);
    this.ensure(3 + n);
    this.view.setUint8(this.pos, negative ? 1 : 0);
    this.view.setUint16(this.pos + 1, n, true);
    this.pos += 3;
    for (let i = 0; i < n; i++) this.bytes[this.pos + i] = Number.parseInt(hex.slice(hex.length - 2 * (i + 1), hex.length - 2 * i), 16);
    this.pos += n;
  }

  string(value: string): void {
    if (LONE_SURROGATE.test(value)) {
      const raw = Buffer.from(value, 'utf16le');
      this.u8(STRING_UTF16);
      this.u32(raw.length);
      this.ensure(raw.length);
      this.bytes.set(raw, this.pos);
      this.pos += raw.length;
      return;
    }
    this.u8(STRING_UTF8);
    this.ensure(4 + value.length * 3);
    const { written } = UTF8.encodeInto(value, this.bytes.subarray(this.pos + 4));
    this.view.setUint32(this.pos, written, true);
    this.pos += 4 + written;
  }

  /** The raw bytes of `count` elements of `column` from index `start` (no wrapping: a ring calls twice). */
  column(column: SnapshotColumn, start: number, count: number): void {
    if (count <= 0) return;
    const size = column.BYTES_PER_ELEMENT;
    this.ensure(count * size);
    this.bytes.set(new Uint8Array(column.buffer, column.byteOffset + start * size, count * size), this.pos);
    this.pos += count * size;
  }

  /** The payload: a view of exactly the bytes written. */
  finish(): Uint8Array {
    return this.bytes.subarray(0, this.pos);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.pos + n));
    grown.set(this.bytes.subarray(0, this.pos));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }
}

/** Reads a snapshot, checking every length, count and index against what it addresses; fails with HotSnapshotError. */
export class SnapshotReader {
  /** Which part is being read, for error messages (set by the decoders as they go). */
  where = 'header';
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private pos = 0;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  /** Throws a 'malformed' HotSnapshotError naming the byte offset and the part being read. */
  fail(message: string, cause?: unknown): never {
    throw new HotSnapshotError(
      'malformed',
      `hot snapshot of ${this.bytes.length} bytes is malformed at byte ${this.pos} (${this.where}): ${message}`,
      cause === undefined ? undefined : { cause },
    );
  }

  /** Checks the magic and the version. */
  header(): void {
    this.need(MAGIC.length + 1, 'the header');
    for (let i = 0; i < MAGIC.length; i++) {
      if (this.bytes[i] !== MAGIC[i]) this.fail('not a hot-tier snapshot (the payload does not start with "TVHS")');
    }
    this.pos = MAGIC.length;
    const version = this.u8('version');
    if (version !== HOT_SNAPSHOT_VERSION) {
      throw new HotSnapshotError(
        'unknownVersion',
        `hot snapshot format version ${version} is not readable by this build, which reads version ${HOT_SNAPSHOT_VERSION}; `
        + 'start from an older snapshot or an empty hot tier and replay the log',
      );
    }
  }

  /** Fails unless `n` more bytes are there. */
  need(n: number, what: string): void {
    if (n > this.remaining) this.fail(`${what} needs ${n} bytes, only ${this.remaining} remain`);
  }

  u8(field: string): number {
    this.need(1, field);
    return this.view.getUint8(this.pos++);
  }

  bool(field: string): boolean {
    const v = this.u8(field);
    if (v > 1) this.fail(`${field} ${v} is not a boolean (0 or 1)`);
    return v === 1;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  f64(field: string): number {
    this.need(8, field);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** A u32 below `limit`. */
  index(field: string, limit: number): number {
    const v = this.u32(field);
    if (v >= limit) this.fail(`${field} ${v} is outside 0..${limit - 1}`);
    return v;
  }

  /** A count of items taking at least `minBytesEach` each, at most `max`; checked before the caller allocates. */
  count(field: string, max: number, minBytesEach: number): number {
    const v = this.u32(field);
    if (v > max) this.fail(`${field} ${v} exceeds the limit of ${max}`);
    if (v * minBytesEach > this.remaining) {
      this.fail(`${field} claims ${v} items of at least ${minBytesEach} bytes, but only ${this.remaining} bytes remain`);
    }
    return v;
  }

  /** An event counter: a safe integer >= 0 stored as f64. */
  counter(field: string): number {
    const v = this.f64(field);
    if (!(Number.isSafeInteger(v) && v >= 0)) this.fail(`${field} ${v} is not a count`);
    return v;
  }

  /** A number that must be finite (prices, sums, option values). */
  finite(field: string): number {
    const v = this.f64(field);
    if (!Number.isFinite(v)) this.fail(`${field} ${v} is not finite`);
    return v;
  }

  /** The high limb of a time (time-limbs.ts): an int32, or one of the infinities `sentinels` allows. */
  timeHi(field: string, sentinels: { readonly negative?: boolean; readonly positive?: boolean }): number {
    const v = this.f64(field);
    if (v === -Infinity && sentinels.negative === true) return v;
    if (v === Infinity && sentinels.positive === true) return v;
    if (!(Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX)) this.fail(`${field} ${v} is not a time limb`);
    return v;
  }

  bigint(field: string): bigint {
    this.need(3, field);
    const sign = this.view.getUint8(this.pos);
    const n = this.view.getUint16(this.pos + 1, true);
    if (sign > 1) this.fail(`${field}: sign byte ${sign} is not 0 or 1`);
    if (n > MAX_BIGINT_BYTES) this.fail(`${field}: magnitude of ${n} bytes exceeds ${MAX_BIGINT_BYTES}`);
    this.pos += 3;
    this.need(n, field);
    if (n > 0 && this.bytes[this.pos + n - 1] === 0) this.fail(`${field}: magnitude has a leading zero byte`);
    if (n === 0 && sign === 1) this.fail(`${field}: negative zero`);
    let hex = '';
    for (let i = n - 1; i >= 0; i--) hex += (this.bytes[this.pos + i] as number).toString(16).padStart(2, '0');
    this.pos += n;
    const magnitude = n === 0 ? 0n : BigInt(`0x${hex}`);
    return sign === 1 ? -magnitude : magnitude;
  }

  /** A bigint within [min, max]. */
  bigintIn(field: string, min: bigint, max: bigint): bigint {
    const v = this.bigint(field);
    if (v < min || v > max) this.fail(`${field} ${v} is outside ${min}..${max}`);
    return v;
  }

  /** A string of at most `maxChars` UTF-16 code units (pass Infinity when only the payload bounds it). */
  string(field: string, maxChars: number): string {
    const tag = this.u8(`${field} encoding`);
    if (tag !== STRING_UTF8 && tag !== STRING_UTF16) this.fail(`${field}: string encoding ${tag} is neither UTF-8 (0) nor UTF-16 (1)`);
    const n = this.u32(`${field} length`);
    // A UTF-16 code unit takes at least one UTF-8 byte and exactly two UTF-16 bytes, at most three UTF-8 bytes.
    if (n > maxChars * 3) this.fail(`${field}: ${n} bytes cannot hold at most ${maxChars} characters`);
    this.need(n, field);
    const raw = this.bytes.subarray(this.pos, this.pos + n);
    let value: string;
    if (tag === STRING_UTF8) {
      try {
        value = UTF8_STRICT.decode(raw);
      } catch (e) {
        this.fail(`${field} is not valid UTF-8`, e);
      }
    } else {
      if (n % 2 !== 0) this.fail(`${field}: UTF-16 string of an odd ${n} bytes`);
      value = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf16le');
    }
    if (value.length > maxChars) this.fail(`${field} has ${value.length} characters, more than ${maxChars}`);
    this.pos += n;
    return value;
  }

  /**
   * Reads a column of `stored` elements and keeps the last `keep` of them, written into `into` from slot `start`
   * on, wrapping at its end. The bytes are copied as they are (both ends little-endian; time-limbs.ts checks the CPU).
   */
  columnInto(field: string, into: SnapshotColumn, stored: number, keep: number, start: number): void {
    const size = into.BYTES_PER_ELEMENT;
    this.need(stored * size, field);
    const target = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
    const from = this.pos + (stored - keep) * size;
    const first = Math.min(keep, into.length - start);
    target.set(this.bytes.subarray(from, from + first * size), start * size);
    if (first < keep) target.set(this.bytes.subarray(from + first * size, from + keep * size), 0);
    this.pos += stored * size;
  }

  /** Fails unless every byte was read. */
  end(): void {
    this.where = 'end';
    if (this.remaining !== 0) this.fail(`${this.remaining} bytes follow the end of the snapshot`);
  }
}

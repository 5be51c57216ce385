/**
 * Exchange codes as one byte. The rings store a code per event (a Uint8Array column) instead of a string per
 * event; this table, shared by every symbol of a tier, turns codes back into names on read.
 *
 * Bounded: at most MAX_EXCHANGES names of at most MAX_EXCHANGE_CHARS characters. A name beyond either bound maps to
 * OVERFLOW_EXCHANGE_CODE (read back as '?') and is counted, so a feed sending garbage exchange names cannot grow it.
 */
import { MAP_ENTRY_BYTES, flatCopy, objectBytes, stringBytes } from './memory-estimate.ts';

export const MAX_EXCHANGES = 255;
export const MAX_EXCHANGE_CHARS = 64;
/** The code of every name the table could not take. */
export const OVERFLOW_EXCHANGE_CODE = 255;
export const OVERFLOW_EXCHANGE_NAME = '?';

export class ExchangeTable {
  private readonly codes = new Map<string, number>();
  /** Replaced, never changed, when a name is added: readers may keep the array they were given. */
  private namesSnapshot: readonly string[] = Object.freeze([] as string[]);
  private lastName = '';
  private lastCode = -1;
  private overflowCount = 0;

  /** The code of `name`, adding it when new. */
  codeOf(name: string): number {
    if (name === this.lastName && this.lastCode >= 0) return this.lastCode;
    let code = this.codes.get(name);
    if (code === undefined) code = this.add(name);
    this.lastName = name;
    this.lastCode = code;
    return code;
  }

  nameOf(code: number): string {
    return this.namesSnapshot[code] ?? OVERFLOW_EXCHANGE_NAME;
  }

  /** Names by code, frozen; the array stays valid (and unchanged) after later additions. */
  get names(): readonly string[] {
    return this.namesSnapshot;
  }

  /** Names refused because the table was full or the name too long. */
  get overflows(): number {
    return this.overflowCount;
  }

  get byteSize(): number {
    let bytes = objectBytes(6) + this.namesSnapshot.length * 8 + objectBytes(1);
    for (const name of this.namesSnapshot) bytes += MAP_ENTRY_BYTES + stringBytes(name.length, true);
    return bytes;
  }

  /** The most the table can ever hold, for the memory ceiling. */
  static readonly maxByteSize =
    objectBytes(6) + MAX_EXCHANGES * 8 + objectBytes(1) + MAX_EXCHANGES * (MAP_ENTRY_BYTES + stringBytes(MAX_EXCHANGE_CHARS, true));

  private add(name: string): number {
    if (this.namesSnapshot.length >= MAX_EXCHANGES || name.length > MAX_EXCHANGE_CHARS) {
      this.overflowCount++;
      return OVERFLOW_EXCHANGE_CODE;
    }
    const copy = flatCopy(name);
    const code = this.namesSnapshot.length;
    this.codes.set(copy, code);
    this.namesSnapshot = Object.freeze([...this.namesSnapshot, copy]);
    return code;
  }
}

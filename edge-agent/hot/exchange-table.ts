/**
 * Exchange codes as one byte. The rings store a code per event (a Uint8Array column) instead of a string per
 * event; this table, shared by every symbol of a tier, turns codes back into names on read.
 *
 * Bounded: at most MAX_EXCHANGES names of at most MAX_EXCHANGE_CHARS characters. A name beyond either bound maps to
 * OVERFLOW_EXCHANGE_CODE (read back as '?') and is counted, so a feed sending garbage exchange names cannot grow it.
 */
import type { SnapshotReader, SnapshotWriter } from './hot-snapshot.ts';
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

  /**
   * Appends the table to a snapshot (hot-snapshot.ts): the names by code, the overflow count and the last lookup,
   * which is not only a cache: a repeated refused name hits it and is not counted again.
   */
  writeSnapshot(w: SnapshotWriter): void {
    w.u32(this.namesSnapshot.length);
    for (const name of this.namesSnapshot) w.string(name);
    w.f64(this.overflowCount);
    w.string(this.lastName);
    w.u32(this.lastCode + 1);
  }

  /** Restores a table written by writeSnapshot into this empty one. */
  readSnapshot(r: SnapshotReader): void {
    r.where = 'exchange table';
    const count = r.count('exchange names', MAX_EXCHANGES, 5);
    const names: string[] = [];
    for (let code = 0; code < count; code++) {
      const name = flatCopy(r.string(`exchange name ${code}`, MAX_EXCHANGE_CHARS));
      if (this.codes.has(name)) r.fail(`exchange name ${JSON.stringify(name)} appears twice`);
      this.codes.set(name, code);
      names.push(name);
    }
    this.namesSnapshot = Object.freeze(names);
    this.overflowCount = r.counter('exchange overflows');
    // Bounded only by the payload: a refused name may be of any length.
    const lastName = flatCopy(r.string('last exchange looked up', Infinity));
    const lastCode = r.u32('last exchange code') - 1;
    const valid = lastCode === -1 ? lastName === ''
      : lastCode === OVERFLOW_EXCHANGE_CODE ? !this.codes.has(lastName)
        : this.namesSnapshot[lastCode] === lastName;
    if (!valid) r.fail(`last lookup ${JSON.stringify(lastName.slice(0, 80))} -> ${lastCode} does not match the table`);
    this.lastName = lastName;
    this.lastCode = lastCode;
  }

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

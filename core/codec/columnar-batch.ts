/**
 * Rows of one dataset held column by column in growable typed arrays: no object per event once appended,
 * and exactly the shape the Parquet encoders take. Strings are dictionary-coded as they arrive (a code per row,
 * each distinct value once), which is what Parquet stores and what lets the encoder skip hashing every row.
 */
import type { ColumnDefinition } from '../column-types.ts';
import { type DatasetName, type RowOf, columnsOf } from '../datasets.ts';

interface StringStorage {
  kind: 'string';
  codes: Uint32Array;
  /** Distinct values in order of first appearance; a row's code indexes it. */
  readonly dictionary: string[];
  readonly index: Map<string, number>;
  /** The previous row's value and code: consecutive rows often repeat a value (one symbol per partition). */
  last: unknown;
  lastCode: number;
}

/** What `last` holds before the first row: equal to no value. */
const NO_VALUE = Symbol('no value');

type ColumnStorage =
  | { kind: 'bigint'; values: BigInt64Array; nulls: Uint8Array | undefined }
  | { kind: 'float'; values: Float64Array; nulls: Uint8Array | undefined }
  | StringStorage;

/** A column's values trimmed to the batch length: what the encoder writes. */
export type ColumnValues = BigInt64Array | Float64Array | string[] | (number | null)[] | (bigint | null)[];

/** A column as it is stored, trimmed to the batch length: views, nulls as a separate mask (1 = null). */
export type StoredColumn =
  | { readonly kind: 'bigint'; readonly values: BigInt64Array; readonly nulls: Uint8Array | undefined }
  | { readonly kind: 'float'; readonly values: Float64Array; readonly nulls: Uint8Array | undefined }
  | { readonly kind: 'string'; readonly codes: Uint32Array; readonly dictionary: readonly string[] };

/** Estimated heap bytes of a string value (V8 header plus two bytes a character), and of its dictionary entry. */
const stringBytes = (value: string): number => 16 + value.length * 2;
const DICTIONARY_ENTRY_BYTES = 48;

export class ColumnarBatch<D extends DatasetName> {
  readonly dataset: D;
  readonly definitions: readonly ColumnDefinition[];
  private readonly storage: ColumnStorage[];
  private capacity: number;
  private rowCount = 0;
  /** Running estimate of the dictionaries' strings, kept as values arrive. */
  private dictionaryBytes = 0;

  constructor(dataset: D, initialCapacity = 1024) {
    this.dataset = dataset;
    this.definitions = columnsOf(dataset);
    this.capacity = Math.max(16, initialCapacity);
    this.storage = this.definitions.map((c) => newStorage(c, this.capacity));
  }

  get length(): number {
    return this.rowCount;
  }

  /** Bytes held by the column arrays (capacity, not just length) and dictionaries, for memory accounting. O(columns). */
  get byteSize(): number {
    let bytes = this.dictionaryBytes;
    for (const s of this.storage) {
      if (s.kind === 'string') bytes += s.codes.byteLength;
      else bytes += s.values.byteLength + (s.nulls?.byteLength ?? 0);
    }
    return bytes;
  }

  append(row: RowOf<D>): void {
    if (this.rowCount === this.capacity) this.grow();
    const i = this.rowCount;
    const record = row as Record<string, unknown>;
    for (let c = 0; c < this.definitions.length; c++) {
      const def = this.definitions[c] as ColumnDefinition;
      const s = this.storage[c] as ColumnStorage;
      const value = record[def.name];
      if (s.kind === 'string') {
        s.codes[i] = value === s.last ? s.lastCode : this.code(s, def, value);
      } else if (value === null) {
        s.nulls ??= new Uint8Array(this.capacity);
        s.nulls[i] = 1;
        s.values[i] = s.kind === 'bigint' ? 0n : 0;
      } else if (s.kind === 'bigint') {
        s.values[i] = value as bigint;
      } else {
        s.values[i] = value as number;
      }
    }
    this.rowCount++;
  }

  /** Column values trimmed to the rows appended, in column definition order. Views, not copies, where possible. */
  columnValues(): ColumnValues[] {
    return this.storage.map((s) => {
      if (s.kind === 'string') return Array.from(s.codes.subarray(0, this.rowCount), (code) => s.dictionary[code] as string);
      if (s.nulls === undefined) return s.values.subarray(0, this.rowCount);
      const nulls = s.nulls;
      return Array.from(s.values.subarray(0, this.rowCount) as ArrayLike<number | bigint>, (v, i) => (nulls[i] === 1 ? null : v)) as ColumnValues;
    });
  }

  /** Columns as stored, in column definition order: views, no per-row conversion. */
  storedColumns(): StoredColumn[] {
    const n = this.rowCount;
    return this.storage.map((s): StoredColumn => {
      if (s.kind === 'string') return { kind: 'string', codes: s.codes.subarray(0, n), dictionary: s.dictionary };
      const nulls = s.nulls?.subarray(0, n);
      return s.kind === 'bigint' ? { kind: 'bigint', values: s.values.subarray(0, n), nulls } : { kind: 'float', values: s.values.subarray(0, n), nulls };
    });
  }

  /** The row at index i, as an object (for tests and small reads; not for hot loops). */
  row(i: number): RowOf<D> {
    if (i < 0 || i >= this.rowCount) throw new RangeError(`row ${i} outside 0..${this.rowCount - 1}`);
    const out: Record<string, unknown> = {};
    this.definitions.forEach((def, c) => {
      const s = this.storage[c] as ColumnStorage;
      if (s.kind === 'string') out[def.name] = s.dictionary[s.codes[i] as number];
      else out[def.name] = s.nulls?.[i] === 1 ? null : s.values[i];
    });
    return out as RowOf<D>;
  }

  /** The code of a value that differs from the previous row's, adding it to the dictionary if new. */
  private code(s: StringStorage, def: ColumnDefinition, value: unknown): number {
    if (typeof value !== 'string') throw new TypeError(`${this.dataset}.${def.name}: expected a string, got ${value === null ? 'null' : typeof value}`);
    let code = s.index.get(value);
    if (code === undefined) {
      code = s.dictionary.length;
      s.dictionary.push(value);
      s.index.set(value, code);
      this.dictionaryBytes += stringBytes(value) + DICTIONARY_ENTRY_BYTES;
    }
    s.last = value;
    s.lastCode = code;
    return code;
  }

  private grow(): void {
    const next = this.capacity * 2;
    for (let c = 0; c < this.storage.length; c++) {
      const s = this.storage[c] as ColumnStorage;
      if (s.kind === 'string') {
        const codes = new Uint32Array(next);
        codes.set(s.codes);
        s.codes = codes;
        continue;
      }
      const values = s.kind === 'bigint' ? new BigInt64Array(next) : new Float64Array(next);
      (values as BigInt64Array).set(s.values as BigInt64Array);
      s.values = values as never;
      if (s.nulls !== undefined) {
        const nulls = new Uint8Array(next);
        nulls.set(s.nulls);
        s.nulls = nulls;
      }
    }
    this.capacity = next;
  }
}

function newStorage(def: ColumnDefinition, capacity: number): ColumnStorage {
  switch (def.type) {
    case 'timestamp_ns':
    case 'int64':
      return { kind: 'bigint', values: new BigInt64Array(capacity), nulls: undefined };
    case 'float64':
      return { kind: 'float', values: new Float64Array(capacity), nulls: undefined };
    case 'string':
      return { kind: 'string', codes: new Uint32Array(capacity), dictionary: [], index: new Map(), last: NO_VALUE, lastCode: 0 };
  }
}

/**
 * Rows of one dataset held column by column in growable typed arrays: no object per event once appended,
 * and exactly the shape the Parquet encoder takes.
 */
import type { ColumnDefinition } from '../column-types.ts';
import { type DatasetName, type RowOf, columnsOf } from '../datasets.ts';

type ColumnStorage =
  | { kind: 'bigint'; values: BigInt64Array; nulls: Uint8Array | undefined }
  | { kind: 'float'; values: Float64Array; nulls: Uint8Array | undefined }
  | { kind: 'string'; values: string[] };

/** A column's values trimmed to the batch length: what the encoder writes. */
export type ColumnValues = BigInt64Array | Float64Array | string[] | (number | null)[] | (bigint | null)[];

export class ColumnarBatch<D extends DatasetName> {
  readonly dataset: D;
  readonly definitions: readonly ColumnDefinition[];
  private readonly storage: ColumnStorage[];
  private capacity: number;
  private rowCount = 0;

  constructor(dataset: D, initialCapacity = 1024) {
    this.dataset = dataset;
    this.definitions = columnsOf(dataset);
    this.capacity = Math.max(16, initialCapacity);
    this.storage = this.definitions.map((c) => newStorage(c, this.capacity));
  }

  get length(): number {
    return this.rowCount;
  }

  /** Bytes held by the column arrays (capacity, not just length), for memory accounting. O(columns). */
  get byteSize(): number {
    let bytes = this.stringBytes;
    for (const s of this.storage) {
      if (s.kind === 'string') bytes += s.values.length * 8;
      else bytes += s.values.byteLength + (s.nulls?.byteLength ?? 0);
    }
    return bytes;
  }

  /** Running estimate of string payloads (V8 header plus two bytes a character), kept as rows arrive. */
  private stringBytes = 0;

  append(row: RowOf<D>): void {
    if (this.rowCount === this.capacity) this.grow();
    const i = this.rowCount;
    const record = row as Record<string, unknown>;
    for (let c = 0; c < this.definitions.length; c++) {
      const def = this.definitions[c] as ColumnDefinition;
      const s = this.storage[c] as ColumnStorage;
      const value = record[def.name];
      if (s.kind === 'bigint' || s.kind === 'float') {
        if (value === null) {
          s.nulls ??= new Uint8Array(this.capacity);
          s.nulls[i] = 1;
          s.values[i] = s.kind === 'bigint' ? 0n : 0;
        } else if (s.kind === 'bigint') {
          s.values[i] = value as bigint;
        } else {
          s.values[i] = value as number;
        }
      } else {
        s.values[i] = value as string;
        this.stringBytes += 16 + (value as string).length * 2;
      }
    }
    this.rowCount++;
  }

  /** Column values trimmed to the rows appended, in column definition order. Views, not copies, where possible. */
  columnValues(): ColumnValues[] {
    return this.storage.map((s) => {
      if (s.kind === 'string') return s.values.length === this.rowCount ? s.values : s.values.slice(0, this.rowCount);
      if (s.nulls === undefined) return s.values.subarray(0, this.rowCount);
      const nulls = s.nulls;
      return Array.from(s.values.subarray(0, this.rowCount) as ArrayLike<number | bigint>, (v, i) => (nulls[i] === 1 ? null : v)) as ColumnValues;
    });
  }

  /** The row at index i, as an object (for tests and small reads; not for hot loops). */
  row(i: number): RowOf<D> {
    if (i < 0 || i >= this.rowCount) throw new RangeError(`row ${i} outside 0..${this.rowCount - 1}`);
    const out: Record<string, unknown> = {};
    this.definitions.forEach((def, c) => {
      const s = this.storage[c] as ColumnStorage;
      out[def.name] = s.kind !== 'string' && s.nulls?.[i] === 1 ? null : s.values[i];
    });
    return out as RowOf<D>;
  }

  private grow(): void {
    const next = this.capacity * 2;
    for (let c = 0; c < this.storage.length; c++) {
      const s = this.storage[c] as ColumnStorage;
      if (s.kind === 'bigint' || s.kind === 'float') {
        const values = s.kind === 'bigint' ? new BigInt64Array(next) : new Float64Array(next);
        (values as BigInt64Array).set(s.values as BigInt64Array);
        s.values = values as never;
        if (s.nulls !== undefined) {
          const nulls = new Uint8Array(next);
          nulls.set(s.nulls);
          s.nulls = nulls;
        }
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
      return { kind: 'string', values: [] };
  }
}

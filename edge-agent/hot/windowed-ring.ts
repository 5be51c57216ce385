/**
 * The slot bookkeeping shared by the trade and quote rings: a fixed-capacity circular buffer of columns (typed
 * arrays, one per field, allocated once at construction) holding the events of the last `windowNs` of event time.
 *
 * Two limits, both applied on write, never on read:
 *  - age: an event is kept while `newestTs - ts < windowNs`, where newestTs is the greatest event time the ring has
 *    seen (event time, not the wall clock: a replay behaves like live). An arriving event already that old is refused.
 *  - capacity: when every slot is taken, the oldest event is overwritten.
 *
 * Events sit in arrival order. A late event (older than one already held, but still inside the window) is kept
 * where it arrived; `inversions` counts adjacent pairs out of time order so reads by time can binary-search while
 * the ring is sorted (the normal case) and fall back to a scan when it is not. Window eviction pops from the oldest
 * arrival, so a late event leaves when it reaches that end.
 *
 * Reads copy; they never move `head` or `length`. Times are compared as 32-bit limbs (time-limbs.ts), not BigInts.
 */
import type { SnapshotReader, SnapshotWriter } from './hot-snapshot.ts';
import { BIGINT_BYTES, TYPED_ARRAY_OVERHEAD_BYTES, objectBytes } from './memory-estimate.ts';
import { TWO_32, greater, greaterOrEqual, join, limbsOf } from './time-limbs.ts';

export type Column = Float64Array | BigInt64Array | Uint8Array;

/** Where the selected events sit: the newest `take` (contiguous), or an explicit list of physical slots. */
export type Selection =
  | { readonly kind: 'tail'; readonly start: number; readonly take: number }
  | { readonly kind: 'slots'; readonly slots: Int32Array };

const MIN_INT64 = -(2n ** 63n);
const MAX_INT64 = 2n ** 63n - 1n;

/** The base class's own bytes: 17 fields (5 of them boxed doubles), the window BigInt, the two limb views of tsNs. */
export const RING_BASE_BYTES = objectBytes(17, 5) + BIGINT_BYTES + 2 * TYPED_ARRAY_OVERHEAD_BYTES;

export abstract class WindowedRing {
  readonly capacity: number;
  readonly windowNs: bigint;
  /** Event time of each slot, epoch nanoseconds; written through the two 32-bit views below. */
  protected readonly tsNs: BigInt64Array;
  private readonly tsLo: Uint32Array;
  private readonly tsHi: Int32Array;
  private readonly windowHi: number;
  private readonly windowLo: number;
  private headSlot = 0;
  private held = 0;
  /** Greatest event time seen, as limbs (see time-limbs.ts); -Infinity before the first event. */
  private newestHi = -Infinity;
  private newestLo = 0;
  /** Events at or before the cutoff (newest - window) are out of the window. */
  private cutoffHi = -Infinity;
  private cutoffLo = 0;
  private inversionCount = 0;
  private windowEvictions = 0;
  private capacityEvictions = 0;
  private refusedCount = 0;

  protected constructor(capacity: number, windowNs: bigint) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity ${capacity} must be a positive integer`);
    if (windowNs <= 0n || windowNs > MAX_INT64) throw new RangeError(`ring window ${windowNs} ns must be positive and fit in 64 bits`);
    this.capacity = capacity;
    this.windowNs = windowNs;
    this.tsNs = new BigInt64Array(capacity);
    this.tsLo = new Uint32Array(this.tsNs.buffer);
    this.tsHi = new Int32Array(this.tsNs.buffer);
    [this.windowHi, this.windowLo] = limbsOf(windowNs);
  }

  /** Events held. */
  get length(): number {
    return this.held;
  }

  /** Physical slot of the oldest event (exposed so tests can prove reads leave it alone). */
  get head(): number {
    return this.headSlot;
  }

  /** The greatest event time seen, or undefined before the first event. */
  get newestTs(): bigint | undefined {
    return this.newestHi === -Infinity ? undefined : join(this.newestHi, this.newestLo);
  }

  /** Adjacent pairs held out of time order (0 when the ring is sorted by time). */
  get inversions(): number {
    return this.inversionCount;
  }

  get evictedByWindow(): number {
    return this.windowEvictions;
  }

  get evictedByCapacity(): number {
    return this.capacityEvictions;
  }

  /** Events refused because they were already older than the window when they arrived. */
  get refusedOutsideWindow(): number {
    return this.refusedCount;
  }

  /** Forgets every event and counter (the ring is being reused for another symbol). Keeps the allocation. */
  clear(): void {
    this.headSlot = 0;
    this.held = 0;
    this.newestHi = -Infinity;
    this.newestLo = 0;
    this.cutoffHi = -Infinity;
    this.cutoffLo = 0;
    this.inversionCount = 0;
    this.windowEvictions = 0;
    this.capacityEvictions = 0;
    this.refusedCount = 0;
  }

  /**
   * Makes room for an event at time (hi, lo) (see time-limbs.ts), records its time, and returns the slot for the
   * other columns, or -1 when the event is older than the window. The caller fills that slot before the next call.
   */
  protected claim(hi: number, lo: number): number {
    let late = false;
    if (hi > this.newestHi || (hi === this.newestHi && lo > this.newestLo)) {
      this.newestHi = hi;
      this.newestLo = lo;
      let cutoffLo = lo - this.windowLo;
      let cutoffHi = hi - this.windowHi;
      if (cutoffLo < 0) {
        cutoffLo += TWO_32;
        cutoffHi -= 1;
      }
      this.cutoffHi = cutoffHi;
      this.cutoffLo = cutoffLo;
      const tsHi = this.tsHi;
      const tsLo = this.tsLo;
      while (this.held > 0) {
        const h = this.headSlot * 2;
        const headHi = tsHi[h + 1] as number;
        if (headHi > cutoffHi || (headHi === cutoffHi && (tsLo[h] as number) > cutoffLo)) break;
        this.dropOldest();
        this.windowEvictions++;
      }
    } else if (hi < this.cutoffHi || (hi === this.cutoffHi && lo <= this.cutoffLo)) {
      this.refusedCount++;
      return -1;
    } else {
      late = hi !== this.newestHi || lo !== this.newestLo;
    }
    if (this.held === this.capacity) {
      this.dropOldest();
      this.capacityEvictions++;
    }
    if (late && this.held > 0) {
      const p = this.slotOf(this.held - 1) * 2;
      if (greater(this.tsHi[p + 1] as number, this.tsLo[p] as number, hi, lo)) this.inversionCount++;
    }
    let slot = this.headSlot + this.held;
    if (slot >= this.capacity) slot -= this.capacity;
    this.tsLo[slot * 2] = lo;
    this.tsHi[slot * 2 + 1] = hi;
    this.held++;
    return slot;
  }

  /** The newest `n` events (fewer when the ring holds fewer), oldest of them first. */
  protected selectNewest(n: number): Selection {
    const take = Math.min(Math.max(0, Math.floor(n)), this.held);
    return { kind: 'tail', start: this.slotOf(this.held - take), take };
  }

  /** Every held event with ts >= sinceNs, in arrival order. */
  protected selectSince(sinceNs: bigint): Selection {
    const clamped = sinceNs < MIN_INT64 ? MIN_INT64 : sinceNs > MAX_INT64 ? MAX_INT64 : sinceNs;
    const [sinceHi, sinceLo] = limbsOf(clamped);
    const before = (slot: number): boolean => !greaterOrEqual(this.tsHi[slot * 2 + 1] as number, this.tsLo[slot * 2] as number, sinceHi, sinceLo);
    if (sinceNs > MAX_INT64) return { kind: 'tail', start: this.slotOf(this.held), take: 0 };
    if (this.inversionCount === 0) {
      // Sorted: binary search for the first logical position with ts >= sinceNs.
      let low = 0;
      let high = this.held;
      while (low < high) {
        const mid = (low + high) >>> 1;
        if (before(this.slotOf(mid))) low = mid + 1;
        else high = mid;
      }
      return { kind: 'tail', start: this.slotOf(low), take: this.held - low };
    }
    const picked: number[] = [];
    for (let k = 0; k < this.held; k++) {
      const slot = this.slotOf(k);
      if (!before(slot)) picked.push(slot);
    }
    return { kind: 'slots', slots: Int32Array.from(picked) };
  }

  /**
   * Writes positions, counters and the held events (oldest first), column by column: `tsNs` then `columns`. The
   * cutoff is not written: it follows from the newest time and the window.
   */
  protected writeRing(w: SnapshotWriter, columns: readonly Column[]): void {
    w.u32(this.headSlot);
    w.u32(this.held);
    w.f64(this.newestHi);
    w.u32(this.newestLo);
    w.f64(this.inversionCount);
    w.f64(this.windowEvictions);
    w.f64(this.capacityEvictions);
    w.f64(this.refusedCount);
    const first = Math.min(this.held, this.capacity - this.headSlot);
    for (const column of [this.tsNs, ...columns]) {
      w.column(column, this.headSlot, first);
      w.column(column, 0, this.held - first);
    }
  }

  /**
   * Reads what writeRing wrote into this (empty) ring; `columns` must match the writer's. A ring of the capacity and
   * window it was written with comes back exactly, down to its physical slots. Otherwise it is rebuilt: the newest
   * `capacity` events are kept (the rest count as capacity evictions) and, when the window changed, events now outside
   * it leave from the oldest end (window evictions). For events that arrived in time order that is exactly what a ring
   * of this size would hold; a late event may stay a little longer, as it can in any ring.
   */
  protected readRing(r: SnapshotReader, storedCapacity: number, storedWindowNs: bigint, columns: readonly Column[]): void {
    const head = r.index('head slot', storedCapacity);
    const held = r.u32('events held');
    if (held > storedCapacity) r.fail(`${held} events held exceed the ring capacity ${storedCapacity}`);
    const newestHi = r.timeHi('newest time', { negative: true });
    const newestLo = r.u32('newest time');
    if (newestHi === -Infinity && (newestLo !== 0 || held > 0)) r.fail('a ring with events but no newest time');
    const inversions = r.counter('inversions');
    const windowEvictions = r.counter('window evictions');
    const capacityEvictions = r.counter('capacity evictions');
    const refused = r.counter('refused events');
    let slotBytes = 8;
    for (const column of columns) slotBytes += column.BYTES_PER_ELEMENT;
    r.need(held * slotBytes, `${held} events`);

    const keep = Math.min(held, this.capacity);
    const start = this.capacity === storedCapacity ? head : 0;
    r.columnInto('event times', this.tsNs, held, keep, start);
    for (const column of columns) r.columnInto('event column', column, held, keep, start);

    this.headSlot = start;
    this.held = keep;
    this.newestHi = newestHi;
    this.newestLo = newestLo;
    if (newestHi !== -Infinity) {
      let cutoffLo = newestLo - this.windowLo;
      let cutoffHi = newestHi - this.windowHi;
      if (cutoffLo < 0) {
        cutoffLo += TWO_32;
        cutoffHi -= 1;
      }
      this.cutoffHi = cutoffHi;
      this.cutoffLo = cutoffLo;
    }
    this.windowEvictions = windowEvictions;
    this.capacityEvictions = capacityEvictions + (held - keep);
    this.refusedCount = refused;

    // Every held time is at most the newest; count the inversions the ring tracks, and check the stored count.
    // Over the two physical runs of slots, limbs compared inline: this loop sees every event of every symbol.
    const tsHi = this.tsHi;
    const tsLo = this.tsLo;
    let counted = 0;
    let prevHi = -Infinity;
    let prevLo = 0;
    const firstRun = Math.min(keep, this.capacity - start);
    for (const [from, to] of [[start, start + firstRun], [0, keep - firstRun]] as const) {
      for (let slot = from; slot < to; slot++) {
        const hi = tsHi[slot * 2 + 1] as number;
        const lo = tsLo[slot * 2] as number;
        if (hi > newestHi || (hi === newestHi && lo > newestLo)) r.fail(`an event is newer than the ring's newest time`);
        if (prevHi > hi || (prevHi === hi && prevLo > lo)) counted++;
        prevHi = hi;
        prevLo = lo;
      }
    }
    if (keep === held && counted !== inversions) r.fail(`${inversions} inversions recorded, ${counted} in the events held`);
    this.inversionCount = counted;

    if (storedWindowNs !== this.windowNs) {
      while (this.held > 0) {
        const h = this.headSlot * 2;
        if (greater(this.tsHi[h + 1] as number, this.tsLo[h] as number, this.cutoffHi, this.cutoffLo)) break;
        this.dropOldest();
        this.windowEvictions++;
      }
    }
  }

  /** Fails unless every held code of `codes` names an exchange of a table of `names` names, or is the overflow code. */
  protected checkCodes(r: SnapshotReader, codes: Uint8Array, names: number, overflowCode: number): void {
    const firstRun = Math.min(this.held, this.capacity - this.headSlot);
    for (const [from, to] of [[this.headSlot, this.headSlot + firstRun], [0, this.held - firstRun]] as const) {
      for (let slot = from; slot < to; slot++) {
        const code = codes[slot] as number;
        if (code >= names && code !== overflowCode) r.fail(`an event has exchange code ${code}, but the table holds ${names} names`);
      }
    }
  }

  /** Physical slot of the k-th held event, oldest = 0. */
  protected slotOf(k: number): number {
    const slot = this.headSlot + k;
    return slot >= this.capacity ? slot - this.capacity : slot;
  }

  private dropOldest(): void {
    if (this.inversionCount > 0 && this.held > 1) {
      const h = this.headSlot * 2;
      const n = this.slotOf(1) * 2;
      if (greater(this.tsHi[h + 1] as number, this.tsLo[h] as number, this.tsHi[n + 1] as number, this.tsLo[n] as number)) this.inversionCount--;
    }
    this.headSlot = this.headSlot + 1 === this.capacity ? 0 : this.headSlot + 1;
    this.held--;
  }
}

/**
 * Copies the selected events of several columns into ONE new ArrayBuffer, one view per column, in the order given
 * (each view aligned to its element size). One backing store instead of one per column: a read of 100 events
 * allocates once, which is most of its cost.
 */
export function copyColumns<const T extends readonly Column[]>(columns: T, selection: Selection): { -readonly [K in keyof T]: T[K] } {
  const count = selection.kind === 'tail' ? selection.take : selection.slots.length;
  let bytes = 0;
  for (const column of columns) bytes = align(bytes, column.BYTES_PER_ELEMENT) + column.BYTES_PER_ELEMENT * count;
  const buffer = new ArrayBuffer(bytes);
  let offset = 0;
  const out: Column[] = [];
  for (const column of columns) {
    offset = align(offset, column.BYTES_PER_ELEMENT);
    // The three column types share the typed-array API; the casts only spare a copy of this code per type.
    const make = column.constructor as new (buffer: ArrayBuffer, byteOffset: number, length: number) => Float64Array;
    const view = new make(buffer, offset, count);
    const src = column as Float64Array;
    if (selection.kind === 'tail') {
      const { start, take } = selection;
      const firstPart = Math.min(take, column.length - start);
      view.set(src.subarray(start, start + firstPart), 0);
      if (firstPart < take) view.set(src.subarray(0, take - firstPart), firstPart);
    } else {
      const slots = selection.slots;
      for (let i = 0; i < slots.length; i++) view[i] = src[slots[i] as number] as number;
    }
    out.push(view as Column);
    offset += column.BYTES_PER_ELEMENT * count;
  }
  return out as { -readonly [K in keyof T]: T[K] };
}

function align(offset: number, to: number): number {
  return Math.ceil(offset / to) * to;
}

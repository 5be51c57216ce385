/**
 * Event times on the hot path as two 32-bit limbs held in plain numbers. In V8 11 (Node 20) every BigInt compare
 * costs ~12 ns and every subtraction ~20-35 ns (it allocates); a write touches the event time four or five times,
 * which alone would exceed a 50 ns budget. Split once (a store into a BigInt64Array and two 32-bit loads of the same
 * bytes, ~6 ns), then compare and subtract as numbers, exactly.
 *
 * hi is the signed upper half, lo the unsigned lower half; (hi, lo) order lexicographically like the int64. Sums and
 * differences are kept with hi as an unbounded integer-valued double (it never wraps), so sentinels like -Infinity
 * work without special cases.
 */
import { endianness } from 'node:os';

if (endianness() !== 'LE') throw new Error('hot tier: time-limbs.ts assumes a little-endian CPU (x64, arm64)');

const SCRATCH = new BigInt64Array(1);
const SCRATCH_LO = new Uint32Array(SCRATCH.buffer);
const SCRATCH_HI = new Int32Array(SCRATCH.buffer);

export const TWO_32 = 4294967296;

/** Splits `ts`; read the halves with lastHi() / lastLo() before the next call. */
export function split(ts: bigint): void {
  SCRATCH[0] = ts;
}

export function lastHi(): number {
  return SCRATCH_HI[1] as number;
}

export function lastLo(): number {
  return SCRATCH_LO[0] as number;
}

/** The bigint of (hi, lo). hi must be within int32 (a real event time, not a sentinel). */
export function join(hi: number, lo: number): bigint {
  SCRATCH_HI[1] = hi;
  SCRATCH_LO[0] = lo;
  return SCRATCH[0] as bigint;
}

/** The (hi, lo) limbs of an int64 value, as a pair (allocates: for constants and rare paths, not per event). */
export function limbsOf(value: bigint): [hi: number, lo: number] {
  SCRATCH[0] = value;
  return [SCRATCH_HI[1] as number, SCRATCH_LO[0] as number];
}

/** a > b for (hi, lo) pairs. */
export function greater(aHi: number, aLo: number, bHi: number, bLo: number): boolean {
  return aHi > bHi || (aHi === bHi && aLo > bLo);
}

/** a >= b for (hi, lo) pairs. */
export function greaterOrEqual(aHi: number, aLo: number, bHi: number, bLo: number): boolean {
  return aHi > bHi || (aHi === bHi && aLo >= bLo);
}

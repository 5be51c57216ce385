/**
 * How the hot tier counts its bytes. Typed arrays count exactly (their byteLength); everything else is an estimate
 * of V8's layout on 64-bit Node without pointer compression (the Node 20 default: 8-byte tagged fields), calibrated
 * with `node --expose-gc` by allocating 100 000 of each thing and dividing the heapUsed + arrayBuffers delta:
 *
 *   typed array + its ArrayBuffer, excluding the data   ~184 B  -> TYPED_ARRAY_OVERHEAD_BYTES = 192
 *   class instance with 4 fields (one a double)          ~88 B  -> objectBytes(4, 1) = 32 + 4*8 + 16 = 80
 *   Map entry (hash bucket + key/value/chain slots)       ~40 B  -> MAP_ENTRY_BYTES = 48
 *   BigInt of one 64-bit digit                             24 B  -> BIGINT_BYTES = 24
 *   flat one-byte string of n chars                  16 + n, rounded up to 8
 *
 * Estimates round up, never down, so the memory ceiling holds even where V8 packs tighter than assumed. The bench
 * (bench/hot.bench.ts) prints memory() next to the measured process.memoryUsage() delta to keep them honest.
 */

/** A JSTypedArray plus its JSArrayBuffer, not counting the data bytes. */
export const TYPED_ARRAY_OVERHEAD_BYTES = 192;
/** One entry of a JS Map, not counting the key and value objects. */
export const MAP_ENTRY_BYTES = 48;
/** A heap BigInt holding one 64-bit digit (event times, trade ids held by reference). */
export const BIGINT_BYTES = 24;

const OBJECT_HEADER_BYTES = 32;
const FIELD_BYTES = 8;
const HEAP_NUMBER_BYTES = 16;

/** An object with `fields` slots, `doubleFields` of which hold non-small-integer numbers (boxed as HeapNumbers). */
export function objectBytes(fields: number, doubleFields = 0): number {
  return OBJECT_HEADER_BYTES + fields * FIELD_BYTES + doubleFields * HEAP_NUMBER_BYTES;
}

/** A flat string of `chars` characters; two bytes per character unless all are Latin-1. */
export function stringBytes(chars: number, twoByte = false): number {
  return 16 + roundUp8(twoByte ? chars * 2 : chars);
}

/** The bytes of a string actually held, by its content. */
export function bytesOfString(s: string): number {
  // eslint-disable-next-line no-control-regex
  return stringBytes(s.length, /[^\u0000-\u00ff]/.test(s));
}

/** A typed array's real bytes: its data plus the object overhead. */
export function typedArrayBytes(array: ArrayBufferView): number {
  return array.byteLength + TYPED_ARRAY_OVERHEAD_BYTES;
}

/** A typed array of `length` elements of `bytesPerElement`, before it exists (for footprints computed up front). */
export function plannedTypedArrayBytes(length: number, bytesPerElement: number): number {
  return length * bytesPerElement + TYPED_ARRAY_OVERHEAD_BYTES;
}

function roundUp8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/**
 * A fresh flat copy of a string. Strings cut out of a larger text (split, slice) can keep the whole text alive in
 * V8; a key the hot tier keeps for hours must hold only its own characters.
 */
export function flatCopy(s: string): string {
  // Through latin1 when every character fits, so V8 builds a one-byte string (what bytesOfString counts).
  // eslint-disable-next-line no-control-regex
  const encoding = /[^\u0000-\u00ff]/.test(s) ? 'utf16le' : 'latin1';
  return Buffer.from(s, encoding).toString(encoding);
}

/**
 * Event times of feed messages: RFC 3339 with up to nine fractional digits, to exact nanoseconds. The usual stream
 * shape `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` takes a fast path (fixed-position digits, the date's midnight from a cache,
 * one BigInt at the end); anything else (offsets, lower-case separators, bad input) goes through the careful parser,
 * so the result, or the rejection, is always parseRfc3339Nanos's (core/rfc3339.ts).
 */
import type { EpochNs } from '../../core/column-types.ts';
import { parseRfc3339Nanos } from '../../core/rfc3339.ts';

const POW10 = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000] as const;
const NS_PER_SECOND = 1e9;
const TWO_32 = 4294967296;
/** Midnight UTC in ns per 'YYYY-MM-DDT' prefix; a stream sees a handful of dates, so this stays tiny. */
const dayCache = new Map<string, bigint>();
let lastDayPrefix = '\u0000';
let lastDayNs = 0n;

// The last day's midnight as 32-bit halves (signed high, unsigned low), and a scratch int64 seen through the same
// halves: adding the time of day as plain numbers and reading the scratch back makes one BigInt per event time,
// where `dayNs + BigInt(ns)` makes two and adds BigInts. Only for days well inside int64 (years 1678 to 2261);
// RFC 3339 reaches years 0000 to 9999, and those instants keep the exact BigInt sum.
const INT64_SAFE_DAY = 2n ** 62n;
let lastDayInInt64 = false;
const SCRATCH = new BigInt64Array(1);
const SCRATCH_LO = new Uint32Array(SCRATCH.buffer);
const SCRATCH_HI = new Int32Array(SCRATCH.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
let lastDayHi = 0;
let lastDayLo = 0;

function digitAt(text: string, i: number): number {
  const d = text.charCodeAt(i) - 48;
  return d >= 0 && d <= 9 ? d : -1;
}

function dayNsOf(prefix: string): bigint | undefined {
  let dayNs = dayCache.get(prefix);
  if (dayNs === undefined) {
    if (!/^\d{4}-\d{2}-\d{2}T$/.test(prefix)) return undefined;
    // The careful parser validates the calendar date once per date; an impossible one (2024-02-30) is not cached,
    // and eventTimeNsIn's careful parse of the whole text reports it.
    try {
      dayNs = parseRfc3339Nanos(`${prefix}00:00:00Z`);
    } catch {
      return undefined;
    }
    if (dayCache.size >= 1024) dayCache.clear();
    dayCache.set(prefix, dayNs);
  }
  lastDayPrefix = prefix;
  lastDayNs = dayNs;
  lastDayInInt64 = dayNs > -INT64_SAFE_DAY && dayNs < INT64_SAFE_DAY;
  SCRATCH[0] = lastDayInInt64 ? dayNs : 0n;
  lastDayHi = SCRATCH_HI[LITTLE_ENDIAN ? 1 : 0] as number;
  lastDayLo = SCRATCH_LO[LITTLE_ENDIAN ? 0 : 1] as number;
  return dayNs;
}

/** lastDayNs + ns, for 0 <= ns < 2^53: exact; one BigInt made when the day is inside int64. */
function afterLastDay(ns: number): bigint {
  if (!lastDayInInt64) return lastDayNs + BigInt(ns);
  const nsHi = Math.floor(ns / TWO_32);
  let lo = lastDayLo + (ns - nsHi * TWO_32);
  let hi = lastDayHi + nsHi;
  if (lo >= TWO_32) {
    lo -= TWO_32;
    hi++;
  }
  SCRATCH_HI[LITTLE_ENDIAN ? 1 : 0] = hi;
  SCRATCH_LO[LITTLE_ENDIAN ? 0 : 1] = lo;
  return SCRATCH[0] as bigint;
}

/**
 * The event time written in text[start, end) when it has the usual shape `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` and is
 * valid, read in place; undefined for anything else (which may still be a valid RFC 3339 time: see eventTimeNsIn).
 */
export function usualEventTimeNs(text: string, start: number, end: number): EpochNs | undefined {
  const n = end - start;
  if (!(n >= 20 && n <= 30 && text.charCodeAt(end - 1) === 90 /* Z */ && text.charCodeAt(start + 13) === 58 && text.charCodeAt(start + 16) === 58)) return undefined;
  // The date first: the last one seen, or one from the cache (which makes it the last one seen).
  if (!text.startsWith(lastDayPrefix, start) && dayNsOf(text.slice(start, start + 11)) === undefined) return undefined;
  const h1 = digitAt(text, start + 11), h2 = digitAt(text, start + 12);
  const m1 = digitAt(text, start + 14), m2 = digitAt(text, start + 15);
  const s1 = digitAt(text, start + 17), s2 = digitAt(text, start + 18);
  const hh = h1 * 10 + h2, mm = m1 * 10 + m2, ss = s1 * 10 + s2;
  if (!((h1 | h2 | m1 | m2 | s1 | s2) >= 0 && hh <= 23 && mm <= 59 && ss <= 59)) return undefined;
  let fraction = 0;
  if (n > 20) {
    const digits = n - 21;
    if (text.charCodeAt(start + 19) !== 46 /* . */ || digits < 1 || digits > 9) return undefined;
    for (let i = start + 20; i < end - 1; i++) {
      const d = digitAt(text, i);
      if (d < 0) return undefined;
      fraction = fraction * 10 + d;
    }
    fraction *= POW10[9 - digits] ?? 0;
  }
  // Below 2^53 (86_400e9 + 1e9), so the sum is exact in a double.
  return afterLastDay((hh * 3600 + mm * 60 + ss) * NS_PER_SECOND + fraction);
}

/**
 * The event time written in text[start, end). Throws (Rfc3339Error) exactly when parseRfc3339Nanos would for that
 * substring.
 */
export function eventTimeNsIn(text: string, start: number, end: number): EpochNs {
  return usualEventTimeNs(text, start, end) ?? parseRfc3339Nanos(start === 0 && end === text.length ? text : text.slice(start, end));
}

/** Parses an event time into exact nanoseconds: parseRfc3339Nanos's result for every input, faster for the usual shape. */
export function parseEventTimeNs(text: string): EpochNs {
  return eventTimeNsIn(text, 0, text.length);
}

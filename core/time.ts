/** Calendar and timestamp helpers. All times are UTC; all instants are integer nanoseconds (EpochNs). */
import type { EpochNs } from './column-types.ts';
import { Rfc3339Error, parseRfc3339Nanos } from './rfc3339.ts';

export type { EpochNs };

export const NS_PER_MS = 1_000_000n;
export const NS_PER_SECOND = 1_000_000_000n;
export const NS_PER_DAY = 86_400n * NS_PER_SECOND;

export class TimeError extends Error {
  override readonly name = 'TimeError';
}

/** A calendar date 'YYYY-MM-DD' (UTC). */
export type IsoDate = string;
/** A calendar month 'YYYY-MM'. */
export type IsoMonth = string;

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const MONTH = /^(\d{4})-(\d{2})$/;

export function parseIsoDate(value: string): IsoDate {
  const m = DATE.exec(value);
  const ms = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN;
  if (!m || Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== value) {
    throw new TimeError(`invalid date ${JSON.stringify(value)}: expected a real calendar date YYYY-MM-DD`);
  }
  return value;
}

export function parseIsoMonth(value: string): IsoMonth {
  const m = MONTH.exec(value);
  const month = m ? Number(m[2]) : 0;
  if (!m || month < 1 || month > 12 || Number(m[1]) < 1970) {
    throw new TimeError(`invalid month ${JSON.stringify(value)}: expected YYYY-MM (1970 or later)`);
  }
  return value;
}

// The last day asked for, as [start, end) in ns and its date string: nearly every event falls in it.
let cachedStartNs = 1n;
let cachedEndNs = 0n;
let cachedDate = '';

/** The UTC calendar date of an instant. (Called per event: within the last day asked for, two compares and no division.) */
export function dateOfNs(tsNs: EpochNs): IsoDate {
  if (tsNs >= cachedStartNs && tsNs < cachedEndNs) return cachedDate;
  const day = tsNs >= 0n ? tsNs / NS_PER_DAY : (tsNs - NS_PER_DAY + 1n) / NS_PER_DAY;
  cachedDate = new Date(Number(day) * 86_400_000).toISOString().slice(0, 10);
  cachedStartNs = day * NS_PER_DAY;
  cachedEndNs = cachedStartNs + NS_PER_DAY;
  return cachedDate;
}

export function monthOfDate(date: IsoDate): IsoMonth {
  return date.slice(0, 7);
}

/** Midnight UTC at the start of a date, in nanoseconds. */
export function startOfDateNs(date: IsoDate): EpochNs {
  return BigInt(Date.parse(`${parseIsoDate(date)}T00:00:00Z`)) * NS_PER_MS;
}

/** [start, end) of a month in nanoseconds. */
export function monthRangeNs(month: IsoMonth): { fromNs: EpochNs; toNs: EpochNs } {
  const [y, m] = parseIsoMonth(month).split('-').map(Number) as [number, number];
  return { fromNs: BigInt(Date.UTC(y, m - 1, 1)) * NS_PER_MS, toNs: BigInt(Date.UTC(y, m, 1)) * NS_PER_MS };
}

/** Every date of a month, in order. */
export function datesOfMonth(month: IsoMonth): IsoDate[] {
  const { fromNs, toNs } = monthRangeNs(month);
  const dates: IsoDate[] = [];
  for (let t = fromNs; t < toNs; t += NS_PER_DAY) dates.push(dateOfNs(t));
  return dates;
}

/**
 * Parses an ISO 8601 instant as people type it (CLI arguments, query bounds) into exact nanoseconds: RFC 3339, and
 * also a space for the T, no seconds, no offset (taken as UTC), an offset without its colon, or a bare date (its
 * midnight UTC). The text is brought to RFC 3339 and parsed by the one strict parser (rfc3339.ts).
 */
export function parseIsoInstantNs(value: string): EpochNs {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.exec(value);
  if (!m) throw new TimeError(`invalid time ${JSON.stringify(value)}: expected ISO 8601, e.g. 2024-07-01T14:30:00.123456789Z`);
  const [, date, hh = '00', mm = '00', ss = '00', fraction, offset = 'Z'] = m;
  const zone = offset.toUpperCase() === 'Z' ? 'Z' : `${offset.slice(0, 3)}:${offset.slice(-2)}`;
  try {
    return parseRfc3339Nanos(`${date}T${hh}:${mm}:${ss}${fraction === undefined ? '' : `.${fraction}`}${zone}`);
  } catch (err) {
    if (!(err instanceof Rfc3339Error)) throw err;
    throw new TimeError(`invalid time ${JSON.stringify(value)}: ${err.reason}`, { cause: err });
  }
}

/** Formats exact nanoseconds as RFC 3339 with nine fractional digits, e.g. 2024-07-01T00:38:01.218218853Z. */
export function formatNs(tsNs: EpochNs): string {
  const ms = tsNs >= 0n ? tsNs / NS_PER_MS : (tsNs - NS_PER_MS + 1n) / NS_PER_MS;
  const secondsPart = new Date(Number(ms)).toISOString().slice(0, 19);
  const nsInSecond = ((tsNs % NS_PER_SECOND) + NS_PER_SECOND) % NS_PER_SECOND;
  return `${secondsPart}.${nsInSecond.toString().padStart(9, '0')}Z`;
}

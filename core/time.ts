/** Calendar and timestamp helpers. All times are UTC; all instants are integer nanoseconds (EpochNs). */
import type { EpochNs } from './column-types.ts';

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
 * Parses an RFC 3339 / ISO 8601 instant with up to nine fractional digits into exact nanoseconds.
 * A time without an offset is taken as UTC; a bare date means its midnight UTC.
 */
export function parseIsoInstantNs(value: string): EpochNs {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.exec(value);
  if (!m) throw new TimeError(`invalid time ${JSON.stringify(value)}: expected ISO 8601, e.g. 2024-07-01T14:30:00.123456789Z`);
  const [, date, hh = '00', mm = '00', ss = '00', frac = '', offset = 'Z'] = m;
  parseIsoDate(date ?? '');
  const h = Number(hh);
  const mi = Number(mm);
  const s = Number(ss);
  if (h > 23 || mi > 59 || s > 59) throw new TimeError(`invalid time ${JSON.stringify(value)}: clock out of range`);
  let offsetMinutes = 0;
  if (offset.toUpperCase() !== 'Z') {
    const sign = offset.startsWith('-') ? -1 : 1;
    const digits = offset.slice(1).replace(':', '');
    offsetMinutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4)));
  }
  const wholeMs = Date.parse(`${date}T${hh}:${mm}:${ss}Z`) - offsetMinutes * 60_000;
  return BigInt(wholeMs) * NS_PER_MS + BigInt(frac.padEnd(9, '0'));
}

/** Formats exact nanoseconds as RFC 3339 with nine fractional digits, e.g. 2024-07-01T00:38:01.218218853Z. */
export function formatNs(tsNs: EpochNs): string {
  const ms = tsNs >= 0n ? tsNs / NS_PER_MS : (tsNs - NS_PER_MS + 1n) / NS_PER_MS;
  const secondsPart = new Date(Number(ms)).toISOString().slice(0, 19);
  const nsInSecond = ((tsNs % NS_PER_SECOND) + NS_PER_SECOND) % NS_PER_SECOND;
  return `${secondsPart}.${nsInSecond.toString().padStart(9, '0')}Z`;
}

/**
 * Exact RFC 3339 timestamps for nanosecond instants, the form Alpaca's streams use ("2024-07-01T14:30:00.123456789Z").
 * Everything goes through bigint and integer calendar arithmetic, never a float or Date, so no nanosecond is lost and
 * every instant RFC 3339 can name (years 0000 to 9999) round-trips.
 */
import type { EpochNs } from './column-types.ts';

export class Rfc3339Error extends Error {
  override readonly name = 'Rfc3339Error';

  /** @param reason what is wrong, without the text (the message quotes the text too) */
  constructor(message: string, readonly reason: string = message) {
    super(message);
  }
}

const NS_PER_SECOND = 1_000_000_000n;
const SECONDS_PER_DAY = 86_400n;
/** 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z in seconds since the epoch: the range RFC 3339 can write. */
const MIN_SECONDS = -62_167_219_200n;
const END_SECONDS = 253_402_300_800n;

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's civil_from_days). */
function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const mp = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : `${n}`);

// The hot path formats thousands of stamps a second that mostly share their second; remember the last prefix.
let cachedSecond: bigint | undefined;
let cachedPrefix = '';

function secondPrefix(seconds: bigint): string {
  if (seconds === cachedSecond) return cachedPrefix;
  const days = floorDiv(seconds, SECONDS_PER_DAY);
  const secondOfDay = Number(seconds - days * SECONDS_PER_DAY);
  const { year, month, day } = civilFromDays(Number(days));
  const hh = Math.floor(secondOfDay / 3600);
  const mm = Math.floor((secondOfDay % 3600) / 60);
  const ss = secondOfDay % 60;
  cachedPrefix = `${String(year).padStart(4, '0')}-${pad2(month)}-${pad2(day)}T${pad2(hh)}:${pad2(mm)}:${pad2(ss)}`;
  cachedSecond = seconds;
  return cachedPrefix;
}

/**
 * Formats nanoseconds since the epoch as RFC 3339 in UTC with exactly nine fractional digits.
 * Throws an Rfc3339Error for instants outside years 0000-9999, which RFC 3339 cannot write.
 */
export function formatRfc3339Nanos(ns: EpochNs): string {
  const seconds = floorDiv(ns, NS_PER_SECOND);
  if (seconds < MIN_SECONDS || seconds >= END_SECONDS) {
    throw new Rfc3339Error(`instant ${ns} ns is outside years 0000-9999, which RFC 3339 cannot write`);
  }
  const fraction = ns - seconds * NS_PER_SECOND;
  return `${secondPrefix(seconds)}.${fraction.toString().padStart(9, '0')}Z`;
}

/**
 * Formats many instants near one base instant, given as integer nanosecond offsets from it, without bigint arithmetic
 * per instant: the second's text and where it starts are kept, and only the nine fractional digits change. Gives
 * exactly formatRfc3339Nanos(baseNs + BigInt(offsetNs)) for any safe-integer offset.
 */
export class Rfc3339Stamper {
  private secondStart = 1;
  private secondEnd = 0;
  private prefix = '';

  constructor(private readonly baseNs: EpochNs) {}

  format(offsetNs: number): string {
    if (offsetNs < this.secondStart || offsetNs >= this.secondEnd) {
      const seconds = floorDiv(this.baseNs + BigInt(offsetNs), NS_PER_SECOND);
      this.prefix = formatRfc3339Nanos(seconds * NS_PER_SECOND).slice(0, -11);
      this.secondStart = Number(seconds * NS_PER_SECOND - this.baseNs);
      this.secondEnd = this.secondStart + 1e9;
    }
    const fraction = offsetNs - this.secondStart;
    return `${this.prefix}.${fraction < 1e8 ? String(fraction).padStart(9, '0') : fraction}Z`;
  }
}

/**
 * Parses an RFC 3339 timestamp ("2024-07-01T14:30:00Z", "...00.5+02:00", up to nine fractional digits) into exact
 * nanoseconds since the epoch. Rejects anything else, leap seconds included, with an Rfc3339Error quoting the text.
 */
export function parseRfc3339Nanos(text: string): EpochNs {
  const fail = (why: string): never => {
    const shown = JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
    throw new Rfc3339Error(`invalid RFC 3339 timestamp ${shown}: ${why}`, why);
  };
  const m = RFC3339.exec(text);
  if (m === null) {
    return fail('expected YYYY-MM-DDTHH:MM:SS[.fraction of 1-9 digits] then Z or ±HH:MM');
  }
  const [, yyyy, mo, dd, hh, mi, ss, fraction, zulu, sign, offH, offM] = m;
  const year = Number(yyyy);
  const month = Number(mo);
  const day = Number(dd);
  const hour = Number(hh);
  const minute = Number(mi);
  const second = Number(ss);
  if (month < 1 || month > 12) fail(`month ${mo} is not 01-12`);
  if (day < 1 || day > daysInMonth(year, month)) fail(`day ${dd} does not exist in ${yyyy}-${mo}`);
  if (hour > 23) fail(`hour ${hh} is not 00-23`);
  if (minute > 59) fail(`minute ${mi} is not 00-59`);
  if (second > 59) fail(`second ${ss} is not 00-59 (leap seconds are not representable)`);
  let offsetMinutes = 0;
  if (zulu === undefined) {
    const offsetHours = Number(offH);
    const offsetMins = Number(offM);
    if (offsetHours > 23 || offsetMins > 59) fail(`offset ${sign}${offH}:${offM} is out of range`);
    offsetMinutes = (sign === '-' ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  const localSeconds =
    BigInt(daysFromCivil(year, month, day)) * SECONDS_PER_DAY + BigInt(hour * 3600 + minute * 60 + second);
  const utcSeconds = localSeconds - BigInt(offsetMinutes * 60);
  return utcSeconds * NS_PER_SECOND + BigInt((fraction ?? '').padEnd(9, '0'));
}

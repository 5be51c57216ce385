import { describe, expect, it } from 'vitest';
import {
  coldFilePath, parseColdFilePath, parseWarmFilePath, warmFilePath, warmMonthPrefix, warmPartName,
} from '../core/layout.ts';
import { parseRfc3339Nanos } from '../core/rfc3339.ts';
import { TimeError, datesOfMonth, dateOfNs, formatNs, monthRangeNs, parseIsoDate, parseIsoInstantNs, parseIsoMonth } from '../core/time.ts';

describe('object layout', () => {
  it('builds the warm layout, bars under timeframe=', () => {
    expect(warmFilePath({ dataset: 'trades', date: '2025-10-14', symbol: 'AAPL', part: 3 }))
      .toBe('trades/date=2025-10-14/symbol=AAPL/part-00003.parquet');
    expect(warmFilePath({ dataset: 'bars_1m', date: '2025-10-14', symbol: 'BTC/USD', part: 0 }))
      .toBe('bars/timeframe=1m/date=2025-10-14/symbol=BTC%2FUSD/part-00000.parquet');
    expect(warmFilePath({ dataset: 'quotes', date: '2025-10-14', symbol: 'SPY', part: 99999 }))
      .toBe('quotes/date=2025-10-14/symbol=SPY/part-99999.parquet');
  });

  it('builds the cold layout, daily bars per year', () => {
    expect(coldFilePath({ dataset: 'trades', period: '2024-01', symbol: 'AAPL' })).toBe('trades/year=2024/month=01/AAPL.parquet');
    expect(coldFilePath({ dataset: 'bars_1d', period: '2024', symbol: 'SPY' })).toBe('bars/timeframe=1d/year=2024/SPY.parquet');
    expect(coldFilePath({ dataset: 'bars_1m', period: '2024-12', symbol: 'ETH/BTC' }))
      .toBe('bars/timeframe=1m/year=2024/month=12/ETH%2FBTC.parquet');
  });

  it('parses every path it builds back to the same reference', () => {
    const warm = { dataset: 'bars_5m', date: '2024-02-29', symbol: 'BTC/USD', part: 12 } as const;
    expect(parseWarmFilePath(warmFilePath(warm))).toEqual(warm);
    const cold = { dataset: 'quotes', period: '2023-07', symbol: 'MSFT' } as const;
    expect(parseColdFilePath(coldFilePath(cold))).toEqual(cold);
    const daily = { dataset: 'bars_1d', period: '2023', symbol: 'MSFT' } as const;
    expect(parseColdFilePath(coldFilePath(daily))).toEqual(daily);
  });

  it('rejects paths that are not in the layout', () => {
    for (const p of [
      'trades/date=2024-13-01/symbol=AAPL/part-00000.parquet',
      'trades/date=2024-01-01/symbol=../part-00000.parquet',
      'trades/date=2024-01-01/symbol=AAPL/part-0.parquet',
      'trades/date=2024-01-01/symbol=A=B/part-00000.parquet',
      'nope/date=2024-01-01/symbol=AAPL/part-00000.parquet',
    ]) expect(() => parseWarmFilePath(p), p).toThrow();
    expect(() => parseColdFilePath('trades/year=2024/month=13/AAPL.parquet')).toThrow(/invalid month/);
    expect(() => warmPartName(100000)).toThrow(/outside/);
    expect(() => warmFilePath({ dataset: 'trades', date: '2024-02-30', symbol: 'AAPL', part: 0 })).toThrow(/2024-02-30/);
  });

  it('lists a month with one prefix', () => {
    expect(warmMonthPrefix('trades', '2024-07')).toBe('trades/date=2024-07-');
    expect(datesOfMonth('2024-02')).toHaveLength(29);
    expect(datesOfMonth('2023-02').at(-1)).toBe('2023-02-28');
  });
});

describe('time', () => {
  it('keeps nanoseconds exact through parse and format', () => {
    const ns = parseIsoInstantNs('2024-07-01T00:38:01.218218853Z');
    expect(ns).toBe(1719794281218218853n);
    expect(formatNs(ns)).toBe('2024-07-01T00:38:01.218218853Z');
    expect(parseIsoInstantNs('2024-07-01T02:38:01.5+02:00')).toBe(1719794281500000000n);
    expect(parseIsoInstantNs('2024-07-01')).toBe(1719792000000000000n);
  });

  it('takes typed forms of an instant and gives the strict RFC 3339 parser\'s answer for each', () => {
    const strict = parseRfc3339Nanos('2024-07-01T14:30:00.000000001+02:00');
    expect(parseIsoInstantNs('2024-07-01 14:30:00.000000001+0200')).toBe(strict);
    expect(parseIsoInstantNs('2024-07-01t12:30:00.000000001z')).toBe(strict);
    expect(parseIsoInstantNs('2024-07-01T12:30')).toBe(parseRfc3339Nanos('2024-07-01T12:30:00Z'));
    // Before 1970 and at the ends of RFC 3339's years, exact (no Date in between).
    expect(parseIsoInstantNs('1969-12-31T23:59:59.999999999Z')).toBe(-1n);
    expect(parseIsoInstantNs('0000-01-01')).toBe(parseRfc3339Nanos('0000-01-01T00:00:00Z'));
    expect(parseIsoInstantNs('9999-12-31T23:59:59.999999999Z')).toBe(parseRfc3339Nanos('9999-12-31T23:59:59.999999999Z'));
  });

  it('refuses impossible instants with a TimeError that names the input and the reason', () => {
    expect(() => parseIsoInstantNs('2023-02-29')).toThrow(new TimeError('invalid time "2023-02-29": day 29 does not exist in 2023-02'));
    expect(() => parseIsoInstantNs('2024-07-01T24:00:00Z')).toThrow(/^invalid time "2024-07-01T24:00:00Z": hour 24 is not 00-23$/);
    expect(() => parseIsoInstantNs('2024-07-01T12:00:00+24:00')).toThrow(/^invalid time .*: offset \+24:00 is out of range$/);
    expect(() => parseIsoInstantNs('2024-07-01T12:00:60Z')).toThrow(/leap seconds are not representable/);
    expect(() => parseIsoInstantNs('yesterday')).toThrow(TimeError);
  });

  it('partitions by UTC date at the exact midnight boundary', () => {
    const midnight = parseIsoInstantNs('2024-03-01T00:00:00Z');
    expect(dateOfNs(midnight)).toBe('2024-03-01');
    expect(dateOfNs(midnight - 1n)).toBe('2024-02-29');
    // The last day is cached: alternate around midnights, before 1970 too, against Date's own answer.
    const NS_PER_DAY = 86_400_000_000_000n;
    for (const base of [midnight, 0n, -5n * NS_PER_DAY]) {
      for (const ts of [base, base - 1n, base + NS_PER_DAY - 1n, base + NS_PER_DAY, base - 1n, base + 1n, base - NS_PER_DAY, base - NS_PER_DAY - 1n]) {
        const ms = Number((ts >= 0n ? ts : ts - 999_999n) / 1_000_000n);
        expect(dateOfNs(ts), String(ts)).toBe(new Date(ms).toISOString().slice(0, 10));
      }
    }
    expect(monthRangeNs('2024-12')).toEqual({ fromNs: parseIsoInstantNs('2024-12-01'), toNs: parseIsoInstantNs('2025-01-01') });
  });

  it('rejects impossible dates, months and times with the value in the message', () => {
    expect(() => parseIsoDate('2023-02-29')).toThrow(/"2023-02-29"/);
    expect(() => parseIsoMonth('2024-00')).toThrow(/"2024-00"/);
    expect(() => parseIsoMonth('24-01')).toThrow(/YYYY-MM/);
    expect(() => parseIsoInstantNs('yesterday')).toThrow(/"yesterday"/);
    expect(() => parseIsoInstantNs('2024-01-01T25:00:00Z')).toThrow(/: hour 25 is not 00-23$/);
  });
});

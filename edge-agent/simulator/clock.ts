/** Clocks that stamp simulated market events: real time by default, or an accelerated one for tests. */
import type { EpochNs } from '../../core/column-types.ts';

/** Returns the current simulated time in nanoseconds since the epoch; never goes backwards. */
export type Clock = () => EpochNs;

const NS_PER_MS = 1_000_000n;

/**
 * Wall-clock time with nanosecond resolution: Date.now() anchors it once, process.hrtime orders events inside a
 * millisecond, and a guard keeps it strictly increasing even if the two disagree.
 */
export function realTimeClock(): Clock {
  const anchorNs = BigInt(Date.now()) * NS_PER_MS;
  const anchorHr = process.hrtime.bigint();
  let lastNs = 0n;
  return () => {
    const nowNs = anchorNs + (process.hrtime.bigint() - anchorHr);
    lastNs = nowNs > lastNs ? nowNs : lastNs + 1n;
    return lastNs;
  };
}

export interface AcceleratedClockOptions {
  /** The simulated time at the moment the clock is created. */
  readonly startNs: EpochNs;
  /** Simulated nanoseconds per real nanosecond, e.g. 1000 for one simulated second per real millisecond. */
  readonly speed: number;
}

/** A clock that starts at `startNs` and runs `speed` times faster than real time. */
export function acceleratedClock(options: AcceleratedClockOptions): Clock {
  if (!Number.isFinite(options.speed) || options.speed <= 0) {
    throw new RangeError(`acceleratedClock: speed must be a positive number, got ${options.speed}`);
  }
  const anchorHr = process.hrtime.bigint();
  const speedMillionths = BigInt(Math.round(options.speed * 1_000_000));
  let lastNs = options.startNs - 1n;
  return () => {
    const nowNs = options.startNs + ((process.hrtime.bigint() - anchorHr) * speedMillionths) / 1_000_000n;
    lastNs = nowNs > lastNs ? nowNs : lastNs + 1n;
    return lastNs;
  };
}

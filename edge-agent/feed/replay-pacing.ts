/**
 * Pacing of a replay by the events' own timestamps: at speed N, each gap between consecutive event times is waited
 * for 1/N as long. Shared by ReplaySource (into the agent) and the simulator (over a WebSocket).
 */

/** Replay speed: 1 is real time, N is N times faster, 'max' does not wait at all. */
export type ReplaySpeed = number | 'max';

export class ReplaySpeedError extends Error {
  override readonly name = 'ReplaySpeedError';
}

/** Returns the speed if it is 'max' or a positive finite number; throws naming `where` otherwise. */
export function checkReplaySpeed(speed: ReplaySpeed, where: string): ReplaySpeed {
  if (speed === 'max' || (typeof speed === 'number' && Number.isFinite(speed) && speed > 0)) return speed;
  throw new ReplaySpeedError(`${where}: speed must be 'max' or a positive number, got ${JSON.stringify(speed)}`);
}

/** Where the pacer reads the time and how it waits; injectable so tests can run paced replays without waiting. */
export interface ReplayClock {
  /** A monotonic time in milliseconds. */
  nowMs(): number;
  /** Resolves after `ms` milliseconds, or at once when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const realReplayClock: ReplayClock = {
  nowMs: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    }),
};

/** Waits shorter than this are not slept but carried over, so dense events go out in bursts instead of 1 ms naps. */
const MIN_SLEEP_MS = 1;
/**
 * How far the replay may fall behind its schedule (a slow consumer, a stalled event loop) before the schedule is moved
 * instead of being caught up with a burst.
 */
const MAX_LAG_MS = 1000;

/**
 * Turns event timestamps into waits. The schedule is anchored at the first event and advanced by every positive gap
 * between consecutive events divided by the speed, so timer granularity never accumulates into drift. A timestamp
 * earlier than the one before it (out-of-order data, the next file of a replay) adds no wait.
 */
export class ReplayPacer {
  private anchorMs: number | undefined;
  private scheduledMs = 0;
  private lastNs: bigint | undefined;

  constructor(
    readonly speed: ReplaySpeed,
    private readonly nowMs: () => number,
  ) {
    checkReplaySpeed(speed, 'ReplayPacer');
  }

  /** Milliseconds to wait before delivering an event stamped `tsNs`; 0 when it is due (always 0 at 'max'). */
  delayMs(tsNs: bigint): number {
    if (this.speed === 'max') return 0;
    const now = this.nowMs();
    if (this.anchorMs === undefined || this.lastNs === undefined) {
      this.anchorMs = now;
      this.lastNs = tsNs;
      return 0;
    }
    if (tsNs > this.lastNs) this.scheduledMs += Number(tsNs - this.lastNs) / 1e6 / this.speed;
    this.lastNs = tsNs;
    const delay = this.anchorMs + this.scheduledMs - now;
    if (delay < -MAX_LAG_MS) this.anchorMs += -delay - MAX_LAG_MS;
    return delay >= MIN_SLEEP_MS ? delay : 0;
  }
}

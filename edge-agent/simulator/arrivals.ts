/**
 * How many market events arrive in a stretch of real time: Poisson arrivals whose rate switches between a calm
 * regime and occasional bursts (a two-state Markov chain). The calm rate is set so the long-run average equals the
 * requested rate, bursts included.
 */
import { Prng } from './prng.ts';

export interface ArrivalOptions {
  /** Long-run average events per second. */
  readonly ratePerSecond: number;
  readonly seed: number;
  /** How much faster events arrive during a burst. @default 10 */
  readonly burstMultiplier?: number;
  /** Long-run share of time spent bursting, in [0, 1). @default 0.02 */
  readonly burstShare?: number;
  /** Mean length of a burst in seconds. @default 0.5 */
  readonly meanBurstSeconds?: number;
}

export class ArrivalProcess {
  private readonly prng: Prng;
  private readonly calmRate: number;
  private readonly burstRate: number;
  private readonly enterBurstPerSecond: number;
  private readonly leaveBurstPerSecond: number;
  private inBurst = false;

  constructor(options: ArrivalOptions) {
    const multiplier = options.burstMultiplier ?? 10;
    const share = options.burstShare ?? 0.02;
    const meanBurstSeconds = options.meanBurstSeconds ?? 0.5;
    if (!(options.ratePerSecond >= 0) || !(multiplier >= 1) || !(share >= 0 && share < 1) || !(meanBurstSeconds > 0)) {
      throw new RangeError(
        `ArrivalProcess: need ratePerSecond >= 0, burstMultiplier >= 1, 0 <= burstShare < 1, meanBurstSeconds > 0; ` +
          `got ${options.ratePerSecond}, ${multiplier}, ${share}, ${meanBurstSeconds}`,
      );
    }
    this.prng = new Prng(options.seed);
    this.calmRate = options.ratePerSecond / (1 + share * (multiplier - 1));
    this.burstRate = this.calmRate * multiplier;
    this.leaveBurstPerSecond = 1 / meanBurstSeconds;
    this.enterBurstPerSecond = (share / (1 - share)) * this.leaveBurstPerSecond;
  }

  get bursting(): boolean {
    return this.inBurst;
  }

  /** Draws the number of events arriving in the next `elapsedSeconds`. */
  take(elapsedSeconds: number): number {
    let expected = 0;
    let remaining = Math.max(0, elapsedSeconds);
    while (remaining > 0) {
      const hazard = this.inBurst ? this.leaveBurstPerSecond : this.enterBurstPerSecond;
      const untilSwitch = hazard > 0 ? this.prng.exponential(1 / hazard) : Infinity;
      const span = Math.min(remaining, untilSwitch);
      expected += span * (this.inBurst ? this.burstRate : this.calmRate);
      remaining -= span;
      if (untilSwitch <= span) this.inBurst = !this.inBurst;
    }
    return this.prng.poisson(expected);
  }
}

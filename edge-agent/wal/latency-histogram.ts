/** Latencies of one operation (the WAL's fdatasync): cumulative buckets for a metrics exporter, recent samples for percentiles. */

/** Upper bounds of the buckets in milliseconds (a last, unbounded bucket is implied). */
export const DEFAULT_LATENCY_BOUNDS_MS: readonly number[] = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];

export interface LatencySummary {
  readonly count: number;
  readonly sumMs: number;
  readonly maxMs: number;
  /** Cumulative counts per upper bound, Prometheus style (`le`); the last has leMs = Infinity and equals count. */
  readonly buckets: readonly { readonly leMs: number; readonly count: number }[];
  /** Percentiles over the recent samples (NaN when there are none). */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** The recent samples, oldest first. */
  readonly recentMs: readonly number[];
}

export class LatencyHistogram {
  private readonly counts: Float64Array;
  private readonly recent: Float64Array;
  private recentNext = 0;
  private recentCount = 0;
  private count = 0;
  private sumMs = 0;
  private maxMs = 0;

  constructor(readonly boundsMs: readonly number[] = DEFAULT_LATENCY_BOUNDS_MS, recentSamples = 1024) {
    if (!Number.isInteger(recentSamples) || recentSamples < 1) throw new RangeError(`recentSamples ${recentSamples} must be a positive integer`);
    this.counts = new Float64Array(boundsMs.length + 1);
    this.recent = new Float64Array(recentSamples);
  }

  record(ms: number): void {
    let i = 0;
    while (i < this.boundsMs.length && ms > this.boundsMs[i]!) i++;
    this.counts[i]! += 1;
    this.count++;
    this.sumMs += ms;
    if (ms > this.maxMs) this.maxMs = ms;
    this.recent[this.recentNext] = ms;
    this.recentNext = (this.recentNext + 1) % this.recent.length;
    if (this.recentCount < this.recent.length) this.recentCount++;
  }

  summary(): LatencySummary {
    const recentMs: number[] = [];
    const start = this.recentCount < this.recent.length ? 0 : this.recentNext;
    for (let k = 0; k < this.recentCount; k++) recentMs.push(this.recent[(start + k) % this.recent.length]!);
    const sorted = [...recentMs].sort((a, b) => a - b);
    let cumulative = 0;
    const buckets = [...this.boundsMs, Infinity].map((leMs, i) => ({ leMs, count: (cumulative += this.counts[i]!) }));
    return { count: this.count, sumMs: this.sumMs, maxMs: this.maxMs, buckets, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99), recentMs };
  }
}

/** Nearest-rank percentile of ascending samples. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

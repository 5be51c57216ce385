/**
 * prom-client metrics whose values are read at scrape time rather than counted as things happen: the agent keeps
 * its own running totals, gauges and latency histograms, and these hand them to the registry when it asks (get()).
 * A metric with nothing to report prints its HELP and TYPE lines only — never a made-up 0.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { LatencySummary } from '../wal/latency-histogram.ts';

export interface Sample {
  readonly labels?: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface ObservedMetricConfig {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly registers: Registry[];
}

type MetricObject = Awaited<ReturnType<Gauge['get']>>;
type HistogramObject = Awaited<ReturnType<Histogram['get']>>;

// prom-client's types declare `type` as a numeric enum, while its registry prints the string it is given.
const typeOf = <T extends { type: unknown }>(name: 'counter' | 'gauge' | 'histogram') => name as unknown as T['type'];
const noCollect = (): void => undefined;

/** A gauge whose samples are whatever read() returns at the scrape. */
export class ObservedGauge extends Gauge {
  constructor(private readonly config: ObservedMetricConfig, private readonly read: () => readonly Sample[]) {
    super({ name: config.name, help: config.help, labelNames: [...config.labelNames], registers: config.registers });
  }

  override async get(): Promise<MetricObject> {
    const values = this.read().map((s) => ({ labels: { ...s.labels }, value: s.value }));
    return { name: this.config.name, help: this.config.help, type: typeOf<MetricObject>('gauge'), values, aggregator: 'sum', collect: noCollect };
  }
}

/** A counter that reports a running total kept elsewhere (it must only grow while the process lives). */
export class ObservedCounter extends Counter {
  constructor(private readonly config: ObservedMetricConfig, private readonly read: () => readonly Sample[]) {
    super({ name: config.name, help: config.help, labelNames: [...config.labelNames], registers: config.registers });
  }

  override async get(): Promise<MetricObject> {
    const values = this.read().map((s) => ({ labels: { ...s.labels }, value: s.value }));
    return { name: this.config.name, help: this.config.help, type: typeOf<MetricObject>('counter'), values, aggregator: 'sum', collect: noCollect };
  }
}

/**
 * A histogram whose buckets come from a LatencySummary (cumulative counts per bound in milliseconds, sum, count),
 * such as the write-ahead log's fsync latencies. Without a summary it prints no samples.
 */
export class LatencySummaryHistogram extends Histogram {
  constructor(private readonly config: ObservedMetricConfig, private readonly read: () => LatencySummary | undefined) {
    super({ name: config.name, help: config.help, registers: config.registers });
  }

  override async get(): Promise<HistogramObject> {
    const summary = this.read();
    const name = this.config.name;
    const values: HistogramObject['values'] = [];
    if (summary !== undefined) {
      for (const b of summary.buckets) {
        values.push({ metricName: `${name}_bucket`, labels: { le: b.leMs === Infinity ? '+Inf' : b.leMs / 1000 }, value: b.count });
      }
      values.push({ metricName: `${name}_sum`, labels: {}, value: summary.sumMs / 1000 });
      values.push({ metricName: `${name}_count`, labels: {}, value: summary.count });
    }
    return { name, help: this.config.help, type: typeOf<HistogramObject>('histogram'), values, aggregator: 'sum', collect: noCollect };
  }

  /** What prom-client's registry calls for the text format (not in its types); the same values as get(). */
  getForPromString(): Promise<HistogramObject> {
    return this.get();
  }
}

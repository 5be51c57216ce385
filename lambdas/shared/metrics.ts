/**
 * Custom metrics through CloudWatch's embedded metric format (EMF): one JSON line on stdout per flush, which
 * CloudWatch Logs turns into metrics. No PutMetricData call, so no network or extra latency in the handler.
 * The interface is the part of Powertools' Metrics the handlers need (addMetric, then publish once per run).
 */

/** CloudWatch units the handlers use. */
export const METRIC_UNITS = ['None', 'Count', 'Seconds', 'Bytes'] as const;
export type MetricUnit = (typeof METRIC_UNITS)[number];

export interface Metrics {
  addMetric(name: string, unit: MetricUnit, value: number): void;
  /** Writes what was added since the last publish (nothing when nothing was added). */
  publish(): void;
}

export interface EmfMetricsOptions {
  /** @default 'tickvault' */
  readonly namespace?: string;
  /** @default process.stdout */
  readonly write?: (line: string) => void;
  /** @default () => Date.now() */
  readonly nowMs?: () => number;
}

/** Metrics with no dimensions (as lib/metrics.ts documents CompactionLagDays), published as one EMF line. */
export function emfMetrics(options: EmfMetricsOptions = {}): Metrics {
  const namespace = options.namespace ?? 'tickvault';
  const write = options.write ?? ((line: string) => void process.stdout.write(line));
  const nowMs = options.nowMs ?? (() => Date.now());
  let pending = new Map<string, { unit: MetricUnit; value: number }>();
  return {
    addMetric(name, unit, value) {
      if (!Number.isFinite(value)) throw new RangeError(`metric ${name}: value ${value} is not a finite number`);
      pending.set(name, { unit, value });
    },
    publish() {
      if (pending.size === 0) return;
      const metrics = [...pending];
      pending = new Map();
      const line = {
        _aws: {
          CloudWatchMetrics: [{ Namespace: namespace, Dimensions: [[]], Metrics: metrics.map(([Name, m]) => ({ Name, Unit: m.unit })) }],
          Timestamp: nowMs(),
        },
        ...Object.fromEntries(metrics.map(([name, m]) => [name, m.value])),
      };
      write(`${JSON.stringify(line)}\n`);
    },
  };
}

/**
 * Custom metrics through AWS Lambda Powertools' Metrics: CloudWatch's embedded metric format (EMF), one JSON line on
 * stdout per publish, which CloudWatch Logs turns into metrics. No PutMetricData call, so no network or latency in
 * the handler. Powertools gives every metric the dimension `service` (the function's service name); the alarms in
 * lib/constructs/monitoring.ts read the metric with that dimension (lib/metrics.ts names the service).
 */
import { Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';

export { MetricUnit } from '@aws-lambda-powertools/metrics';

/** The part of Powertools' Metrics the handlers use: add, then publish once per run. */
export type Metrics = Pick<PowertoolsMetrics, 'addMetric' | 'publishStoredMetrics'>;

export function powertoolsMetrics(options: { readonly namespace: string; readonly service: string }): PowertoolsMetrics {
  return new PowertoolsMetrics({ namespace: options.namespace, serviceName: options.service });
}

/**
 * The Grafana dashboard (ops/grafana-dashboard.json) queries only metrics the agent exports, in ways that fit their
 * types (rate() over counters and histogram buckets, histogram_quantile over buckets), and has a panel for each
 * thing the operator watches.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { METRIC_NAMES } from '../edge-agent/metrics/agent-metrics.ts';
import { REPO_ROOT } from './support/shared-data.ts';

interface Panel {
  readonly title: string;
  readonly type: string;
  readonly targets?: readonly { readonly expr: string }[];
}

const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, 'ops', 'grafana-dashboard.json'), 'utf8')) as {
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly { readonly query?: unknown; readonly definition?: string }[] };
};

const panelExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
const templateExprs = dashboard.templating.list.flatMap((v) => (v.definition === undefined ? [] : [{ panel: 'template variable', expr: v.definition }]));
const exprs = [...panelExprs, ...templateExprs];

/** The exported metric a series name belongs to: histograms export name_bucket, name_sum and name_count. */
function metricOf(series: string): string | undefined {
  if (METRIC_NAMES.has(series)) return series;
  const m = /^(.*)_(bucket|sum|count)$/.exec(series);
  return m !== null && METRIC_NAMES.get(m[1] as string) === 'histogram' ? m[1] : undefined;
}

describe('ops/grafana-dashboard.json', () => {
  it('queries only metrics the agent exports', () => {
    expect(panelExprs.length).toBeGreaterThan(15);
    const unknown: string[] = [];
    for (const { panel, expr } of exprs) {
      const names = expr.match(/\btickvault_[a-z0-9_]+/g) ?? [];
      expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) if (metricOf(name) === undefined) unknown.push(`${panel}: ${name}`);
    }
    expect(unknown).toEqual([]);
  });

  it('applies rate() to counters and histogram buckets only, and histogram_quantile() to buckets', () => {
    for (const { panel, expr } of exprs) {
      for (const m of expr.matchAll(/\brate\((tickvault_[a-z0-9_]+)/g)) {
        const name = m[1] as string;
        expect(METRIC_NAMES.get(name) === 'counter' || (name.endsWith('_bucket') && metricOf(name) !== undefined), `${panel}: rate(${name})`).toBe(true);
      }
      if (expr.includes('histogram_quantile')) expect(expr, panel).toMatch(/histogram_quantile\([\d.]+, sum by \([^)]*\ble\b[^)]*\) \(rate\(tickvault_[a-z0-9_]+_bucket/);
    }
  });

  it('has a panel for each thing the operator watches', () => {
    const queried = (needle: RegExp) => dashboard.panels.filter((p) => (p.targets ?? []).some((t) => needle.test(t.expr))).map((p) => p.title);
    const required: [string, RegExp][] = [
      ['ingest rate', /rate\(tickvault_messages_accepted_total/],
      ['rejects by reason', /by \([^)]*reason[^)]*\) \(rate\(tickvault_messages_rejected_total/],
      ['feed connected', /tickvault_feed_connected/],
      ['feed lag', /tickvault_feed_lag_seconds/],
      ['log fsync latency', /tickvault_wal_fsync_duration_seconds_bucket/],
      ['flush latency', /tickvault_warm_flush_duration_seconds_bucket/],
      ['upload backlog', /tickvault_upload_backlog_(files|bytes)/],
      ['oldest unsynced age', /tickvault_upload_oldest_unsynced_age_seconds/],
      ['free disk', /tickvault_disk_free_ratio/],
      ['hot memory by component', /tickvault_hot_memory_component_bytes/],
    ];
    for (const [what, needle] of required) expect(queried(needle), what).not.toEqual([]);
  });
});

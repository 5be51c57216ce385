/**
 * The agent's Prometheus metrics, scraped from a real agent process (simulator feed, --http 0) and parsed from the
 * text exposition: every metric the operator needs is exported under its name, and the values move with ingest.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentMetrics, METRIC_NAMES } from '../edge-agent/metrics/agent-metrics.ts';
import type { OperatorObservation } from '../edge-agent/metrics/agent-observer.ts';
import { LatencyHistogram } from '../edge-agent/wal/latency-histogram.ts';
import { type RunningAgent, startAgentWithHttp } from './support/cli.ts';

interface Exposition {
  /** Metric name → type, from the TYPE lines. */
  readonly types: Map<string, string>;
  /** Sample name (with _bucket/_sum/_count where they apply) → samples. */
  readonly samples: Map<string, { labels: Record<string, string>; value: number }[]>;
}

/** A parser of the Prometheus text format (version 0.0.4), enough for what prom-client writes. */
function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Exposition['samples'] = new Map();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1] as string, type[2] as string);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = l[2] as string;
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    const list = samples.get(m[1] as string) ?? [];
    list.push({ labels, value });
    samples.set(m[1] as string, list);
  }
  return { types, samples };
}

const value = (e: Exposition, name: string, labels: Record<string, string> = {}): number | undefined =>
  e.samples.get(name)?.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

/** The metrics the operator asked for, by what they show. */
const REQUIRED: Record<string, string> = {
  tickvault_messages_received_total: 'counter',
  tickvault_messages_accepted_total: 'counter',
  tickvault_messages_rejected_total: 'counter',
  tickvault_feed_connected: 'gauge',
  tickvault_feed_lag_seconds: 'gauge',
  tickvault_hot_memory_bytes: 'gauge',
  tickvault_hot_memory_component_bytes: 'gauge',
  tickvault_warm_disk_bytes: 'gauge',
  tickvault_store_bytes: 'gauge',
  tickvault_parquet_files_written_total: 'counter',
  tickvault_parquet_write_duration_seconds: 'histogram',
  tickvault_warm_flush_duration_seconds: 'histogram',
  tickvault_wal_fsync_duration_seconds: 'histogram',
  tickvault_upload_backlog_files: 'gauge',
  tickvault_upload_backlog_bytes: 'gauge',
  tickvault_upload_oldest_unsynced_age_seconds: 'gauge',
  tickvault_disk_free_bytes: 'gauge',
  tickvault_disk_free_ratio: 'gauge',
  tickvault_snapshot_last_seq: 'gauge',
  tickvault_snapshot_age_seconds: 'gauge',
};

async function scrape(url: string): Promise<{ text: string; contentType: string | null }> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  return { text: await response.text(), contentType: response.headers.get('content-type') };
}

async function until<T>(what: string, read: () => Promise<T>, ok: (t: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const t = await read();
    if (ok(t)) return t;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('GET /metrics of a running agent', () => {
  let agent: RunningAgent;
  let first: Exposition;
  let later: Exposition;
  let contentType: string | null;

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tv-metrics-'));
    agent = await startAgentWithHttp(dataDir, ['--rate', '400', '--flush-interval', '1', '--symbols', 'AAPL,MSFT,BTC/USD']);
    const firstScrape = await until('the first events', () => scrape(agent.url), (s) => (value(parseExposition(s.text), 'tickvault_messages_received_total') ?? 0) > 0);
    contentType = firstScrape.contentType;
    first = parseExposition(firstScrape.text);
    // Until warm files were written, uploaded, and the store listed (it rescans at most every 10 minutes, so the
    // first listing may predate the first upload: only its presence is required).
    later = await until('files written and uploaded', async () => parseExposition((await scrape(agent.url)).text),
      (e) => (value(e, 'tickvault_parquet_files_written_total') ?? 0) >= 3 && (value(e, 'tickvault_warm_disk_bytes') ?? 0) > 0
        && ['trades', 'quotes'].every((dataset) => (value(e, 'tickvault_parquet_rows_written_total', { dataset }) ?? 0) > 0)
        && value(e, 'tickvault_store_bytes', { tier: 'warm' }) !== undefined
        && (value(e, 'tickvault_messages_received_total') ?? 0) > (value(first, 'tickvault_messages_received_total') ?? 0) + 200);
  }, 90_000);

  afterAll(async () => {
    agent?.child.kill('SIGTERM');
    await agent?.done;
  });

  it('serves the Prometheus text format', () => {
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('exports every metric the operator needs, with its type, and only tickvault_* names with units', () => {
    for (const [name, type] of Object.entries(REQUIRED)) expect(later.types.get(name), name).toBe(type);
    expect([...later.types.keys()].sort()).toEqual([...METRIC_NAMES.keys()].sort());
    for (const [name, type] of later.types) {
      expect(name).toMatch(/^tickvault_[a-z0-9_]+$/);
      if (type === 'counter') expect(name).toMatch(/_total$/);
      if (type === 'histogram') expect(name).toMatch(/_seconds$/);
    }
  });

  it('moves with ingest: counters by dataset grow, rejects by reason, the feed is up with a small lag', () => {
    for (const name of ['tickvault_messages_received_total', 'tickvault_events_stored_total', 'tickvault_parquet_files_written_total', 'tickvault_wal_written_bytes_total']) {
      expect(value(later, name), name).toBeGreaterThan(value(first, name) ?? 0);
    }
    for (const dataset of ['trades', 'quotes']) {
      expect(value(later, 'tickvault_messages_accepted_total', { dataset }), dataset).toBeGreaterThan(value(first, 'tickvault_messages_accepted_total', { dataset }) ?? 0);
      expect(value(later, 'tickvault_parquet_rows_written_total', { dataset })).toBeGreaterThan(0);
    }
    // The simulator sends only valid messages: the rejects metric is declared, with nothing in it.
    expect(later.types.get('tickvault_messages_rejected_total')).toBe('counter');
    expect(later.samples.get('tickvault_messages_rejected_total') ?? []).toEqual([]);
    expect(value(later, 'tickvault_feed_connected', { kind: 'sim' })).toBe(1);
    const lag = value(later, 'tickvault_feed_lag_seconds') as number;
    expect(lag).toBeGreaterThan(-1);
    expect(lag).toBeLessThan(30);
  });

  it('reports tiers, disk, log latency and snapshots from the agent', () => {
    expect(value(later, 'tickvault_hot_memory_bytes')).toBeGreaterThan(0);
    expect(value(later, 'tickvault_hot_symbols')).toBe(3);
    const components = (later.samples.get('tickvault_hot_memory_component_bytes') ?? []).map((s) => s.labels['component']).sort();
    expect(components).toEqual(['bars', 'books', 'features', 'index', 'portfolio', 'quotes', 'trades']);
    expect(value(later, 'tickvault_warm_disk_bytes')).toBeGreaterThan(0);
    expect(value(later, 'tickvault_warm_disk_files')).toBeGreaterThan(0);
    expect(value(later, 'tickvault_store_bytes', { tier: 'cold' })).toBe(0);
    expect(value(later, 'tickvault_disk_free_bytes')).toBeGreaterThan(0);
    expect(value(later, 'tickvault_disk_free_ratio')).toBeGreaterThan(0);
    expect(value(later, 'tickvault_upload_backlog_files')).toBeGreaterThanOrEqual(0);
    expect(value(later, 'tickvault_upload_oldest_unsynced_age_seconds')).toBeGreaterThanOrEqual(0);
    // The log's fsync histogram: cumulative buckets ending in +Inf equal to the count, which grows with ingest.
    const buckets = later.samples.get('tickvault_wal_fsync_duration_seconds_bucket') ?? [];
    const count = value(later, 'tickvault_wal_fsync_duration_seconds_count') as number;
    expect(count).toBeGreaterThan(value(first, 'tickvault_wal_fsync_duration_seconds_count') ?? 0);
    expect(buckets.at(-1)).toEqual({ labels: { le: '+Inf' }, value: count });
    expect(buckets.map((b) => b.value)).toEqual([...buckets.map((b) => b.value)].sort((a, b) => a - b));
    expect(value(later, 'tickvault_wal_fsync_duration_seconds_sum')).toBeGreaterThan(0);
    expect(value(later, 'tickvault_snapshot_last_seq')).toBeGreaterThanOrEqual(0);
  });
});

describe('histograms fed from a latency summary', () => {
  it('writes the summary as cumulative buckets in seconds, with sum and count, and no samples without one', async () => {
    const histogram = new LatencyHistogram([1, 10]);
    for (const ms of [0.5, 2, 3, 40]) histogram.record(ms);
    let summary: ReturnType<LatencyHistogram['summary']> | undefined = histogram.summary();
    const observation = {
      agent: { wal: { fsyncLatency: summary }, warm: {} }, feedLag: {}, store: {}, process: {},
    } as unknown as OperatorObservation;
    const metrics = createAgentMetrics(async () => observation);
    const only = (text: string) => text.split('\n').filter((l) => l.startsWith('tickvault_wal_fsync_duration_seconds'));
    // Only the metrics this partial observation can feed are asked for.
    for (const name of METRIC_NAMES.keys()) if (name !== 'tickvault_wal_fsync_duration_seconds') metrics.registry.removeSingleMetric(name);
    expect(only(await metrics.scrape())).toEqual([
      'tickvault_wal_fsync_duration_seconds_bucket{le="0.001"} 1',
      'tickvault_wal_fsync_duration_seconds_bucket{le="0.01"} 3',
      'tickvault_wal_fsync_duration_seconds_bucket{le="+Inf"} 4',
      'tickvault_wal_fsync_duration_seconds_sum 0.0455',
      'tickvault_wal_fsync_duration_seconds_count 4',
    ]);
    summary = undefined;
    (observation.agent.wal as { fsyncLatency: unknown }).fsyncLatency = summary;
    const text = await metrics.scrape();
    expect(only(text)).toEqual([]);
    expect(text).toContain('# TYPE tickvault_wal_fsync_duration_seconds histogram');
  });
});

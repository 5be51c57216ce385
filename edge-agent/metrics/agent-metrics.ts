/**
 * The agent's Prometheus metrics: a registry per agent, every value read from one OperatorObservation at scrape time
 * (no counting on the ingest path). Counters are the agent's own running totals; rate() in Prometheus turns them
 * into per-second rates. Names are `tickvault_*` with the unit in the name; METRIC_NAMES lists them all (the
 * Grafana dashboard test checks its queries against it).
 *
 * The storage design's metrics (storage-strategy.md §8.1) map to: storage.hot_memory_mb → tickvault_hot_memory_bytes,
 * storage.warm_disk_gb → tickvault_warm_disk_bytes, storage.cold_disk_gb → tickvault_store_bytes{tier="cold"},
 * storage.parquet_writes → tickvault_parquet_files_written_total, storage.parquet_write_us →
 * tickvault_parquet_write_duration_seconds.
 */
import { Registry } from 'prom-client';
import type { LatencySummary } from '../wal/latency-histogram.ts';
import type { OperatorObservation } from './agent-observer.ts';
import { LatencySummaryHistogram, ObservedCounter, ObservedGauge, type Sample } from './observed-metrics.ts';

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

interface MetricDefinition {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly labelNames?: readonly string[];
  /** Counters and gauges: the samples now. Histograms: the latency summary now. */
  readonly samples?: (o: OperatorObservation) => Sample[];
  readonly latency?: (o: OperatorObservation) => LatencySummary | undefined;
}

const one = (value: number | undefined): Sample[] => (value === undefined || Number.isNaN(value) ? [] : [{ value }]);
const byLabel = (label: string, values: Readonly<Record<string, number | undefined>>): Sample[] =>
  Object.entries(values).flatMap(([k, v]) => (v === undefined ? [] : [{ labels: { [label]: k }, value: v }]));
const bool = (b: boolean): number => (b ? 1 : 0);

const DEFINITIONS: readonly MetricDefinition[] = [
  // ---- Ingest ----------------------------------------------------------------------------------------------------
  { name: 'tickvault_messages_received_total', type: 'counter', help: 'Market-data messages received from the feed (accepted, rejected or status).', samples: (o) => one(o.agent.report.received) },
  { name: 'tickvault_messages_accepted_total', type: 'counter', labelNames: ['dataset'], help: 'Messages accepted and appended to the write-ahead log, by dataset.', samples: (o) => byLabel('dataset', o.agent.report.accepted) },
  { name: 'tickvault_messages_rejected_total', type: 'counter', labelNames: ['reason'], help: 'Messages rejected, by reason.', samples: (o) => byLabel('reason', o.agent.report.rejected) },
  { name: 'tickvault_status_messages_total', type: 'counter', help: 'Trading-status messages received (counted, not stored).', samples: (o) => one(o.agent.report.statuses) },
  { name: 'tickvault_events_stored_total', type: 'counter', help: 'Accepted events whose write-ahead-log record is on disk.', samples: (o) => one(o.agent.report.stored) },
  // ---- Feed ------------------------------------------------------------------------------------------------------
  { name: 'tickvault_feed_connected', type: 'gauge', labelNames: ['kind'], help: '1 while the feed is connected and subscribed (or a replay is reading), else 0.', samples: (o) => [{ labels: { kind: o.agent.feed.kind }, value: bool(o.agent.feed.connected) }] },
  { name: 'tickvault_feed_lag_seconds', type: 'gauge', help: "The agent's clock minus the event time of the newest event held; absent before the first event.", samples: (o) => one(o.feedLag.lagSeconds) },
  { name: 'tickvault_feed_newest_event_timestamp_seconds', type: 'gauge', help: 'Event time of the newest event held, seconds since the epoch.', samples: (o) => one(o.feedLag.newestEventTsNs === undefined ? undefined : Number(o.feedLag.newestEventTsNs) / 1e9) },
  // ---- Hot tier --------------------------------------------------------------------------------------------------
  { name: 'tickvault_hot_memory_bytes', type: 'gauge', help: 'Bytes the hot tier holds now (design: storage.hot_memory_mb).', samples: (o) => one(o.agent.hot.memory.totalBytes) },
  { name: 'tickvault_hot_memory_component_bytes', type: 'gauge', labelNames: ['component'], help: 'Bytes the hot tier holds, by component (books, trades, quotes, bars, features, portfolio, index).', samples: (o) => byLabel('component', o.agent.hot.memory.byComponent) },
  { name: 'tickvault_hot_memory_reserved_bytes', type: 'gauge', help: 'Bytes reserved by the hot tier: the full footprint of every live symbol.', samples: (o) => one(o.agent.hot.memory.reservedBytes) },
  { name: 'tickvault_hot_memory_ceiling_bytes', type: 'gauge', help: "The hot tier's memory ceiling.", samples: (o) => one(o.agent.hot.memory.ceilingBytes) },
  { name: 'tickvault_hot_symbols', type: 'gauge', help: 'Symbols held in the hot tier.', samples: (o) => one(o.agent.hot.memory.symbolCount) },
  { name: 'tickvault_hot_symbol_evictions_total', type: 'counter', labelNames: ['reason'], help: 'Symbols evicted from the hot tier, by the bound that forced it.', samples: (o) => byLabel('reason', { max_symbols: o.agent.hot.stats.evictions.symbolsOverMaxSymbols, memory_ceiling: o.agent.hot.stats.evictions.symbolsOverMemoryCeiling }) },
  // ---- Write-ahead log -------------------------------------------------------------------------------------------
  { name: 'tickvault_wal_fsync_duration_seconds', type: 'histogram', help: "Write-ahead log fdatasync latency (the log's own histogram).", latency: (o) => o.agent.wal.fsyncLatency },
  { name: 'tickvault_wal_pending_bytes', type: 'gauge', help: 'Bytes appended to the write-ahead log and not yet on disk.', samples: (o) => one(o.agent.wal.pendingBytes) },
  { name: 'tickvault_wal_written_bytes_total', type: 'counter', help: 'Bytes written and synced to the write-ahead log.', samples: (o) => one(o.agent.wal.bytesWritten) },
  { name: 'tickvault_wal_fsyncs_total', type: 'counter', help: 'Write-ahead log fdatasync calls.', samples: (o) => one(o.agent.wal.fsyncs) },
  { name: 'tickvault_wal_write_errors_total', type: 'counter', help: 'Write-ahead log writes that failed (and were retried).', samples: (o) => one(o.agent.wal.writeErrors) },
  { name: 'tickvault_wal_stalled', type: 'gauge', help: '1 while write-ahead log writes are failing (the disk is not taking writes), else 0.', samples: (o) => one(bool(o.agent.wal.stalledBy !== undefined)) },
  { name: 'tickvault_wal_segments', type: 'gauge', help: 'Write-ahead log segment files on disk.', samples: (o) => one(o.agent.wal.segments) },
  // ---- Warm tier -------------------------------------------------------------------------------------------------
  { name: 'tickvault_parquet_files_written_total', type: 'counter', help: 'Warm Parquet files written and sealed (design: storage.parquet_writes).', samples: (o) => one(o.agent.warm.filesWritten) },
  { name: 'tickvault_parquet_written_bytes_total', type: 'counter', help: 'Bytes of warm Parquet files written.', samples: (o) => one(o.agent.warm.bytesWritten) },
  { name: 'tickvault_parquet_rows_written_total', type: 'counter', labelNames: ['dataset'], help: 'Rows in sealed warm Parquet files, by dataset.', samples: (o) => byLabel('dataset', o.agent.warm.rowsWritten) },
  { name: 'tickvault_parquet_write_errors_total', type: 'counter', help: 'Warm Parquet file writes that failed (rows kept and retried).', samples: (o) => one(o.agent.warm.writeErrors) },
  { name: 'tickvault_parquet_write_duration_seconds', type: 'histogram', help: 'Time to encode and atomically write one warm Parquet file (design: storage.parquet_write_us); empty until the agent reports warm.writeLatency.', latency: (o) => o.agent.warm.writeLatency },
  { name: 'tickvault_warm_flush_duration_seconds', type: 'histogram', help: 'Time of one warm flush round (due buffers sealed, every sealed file written); empty until the agent reports warm.flushLatency.', latency: (o) => o.agent.warm.flushLatency },
  { name: 'tickvault_warm_buffered_bytes', type: 'gauge', help: 'Bytes of rows buffered for warm files not yet written.', samples: (o) => one(o.agent.warm.bufferedBytes) },
  { name: 'tickvault_warm_pending_files', type: 'gauge', help: 'Warm files sealed and waiting to be written.', samples: (o) => one(o.agent.warm.pendingFiles) },
  { name: 'tickvault_warm_disk_bytes', type: 'gauge', help: 'Bytes of warm Parquet files on this host, from the warm ledger (design: storage.warm_disk_gb).', samples: (o) => one(o.warmDisk?.bytes) },
  { name: 'tickvault_warm_disk_files', type: 'gauge', help: 'Warm Parquet files on this host, from the warm ledger.', samples: (o) => one(o.warmDisk?.files) },
  { name: 'tickvault_warm_retention_deleted_files_total', type: 'counter', help: 'Warm files deleted by retention (their verified copies are in the store).', samples: (o) => one(o.agent.warm.retention.filesDeleted) },
  // ---- Upload to the store ---------------------------------------------------------------------------------------
  { name: 'tickvault_upload_backlog_files', type: 'gauge', help: 'Warm files sealed and not yet uploaded (in flight included).', samples: (o) => one(o.agent.upload.files) },
  { name: 'tickvault_upload_backlog_bytes', type: 'gauge', help: 'Bytes of warm files sealed and not yet uploaded.', samples: (o) => one(o.agent.upload.bytes) },
  { name: 'tickvault_upload_oldest_unsynced_age_seconds', type: 'gauge', help: 'Age of the oldest warm file not yet uploaded (0 when there is none).', samples: (o) => one(o.agent.upload.oldestAgeMs / 1000) },
  { name: 'tickvault_upload_in_flight_files', type: 'gauge', help: 'Uploads in flight.', samples: (o) => one(o.agent.upload.inFlight) },
  { name: 'tickvault_upload_parked_files', type: 'gauge', help: 'Files whose upload gave up after its maximum attempts in this run (they stay pending).', samples: (o) => one(o.agent.upload.parked) },
  { name: 'tickvault_uploaded_files', type: 'gauge', help: 'Warm files recorded as uploaded and verified in the store, still on this host.', samples: (o) => one(o.agent.report.filesUploaded) },
  // ---- The store (background listing) ----------------------------------------------------------------------------
  { name: 'tickvault_store_bytes', type: 'gauge', labelNames: ['tier'], help: 'Bytes under the store\'s warm/ and cold/ prefixes at the last listing (design: storage.cold_disk_gb for tier="cold").', samples: (o) => storeSamples(o, 'bytes') },
  { name: 'tickvault_store_objects', type: 'gauge', labelNames: ['tier'], help: "Objects under the store's warm/ and cold/ prefixes at the last listing.", samples: (o) => storeSamples(o, 'objects') },
  { name: 'tickvault_store_scan_timestamp_seconds', type: 'gauge', help: 'When the last store listing finished, seconds since the epoch.', samples: (o) => one(o.store.usage === undefined ? undefined : o.store.usage.scannedAtMs / 1000) },
  { name: 'tickvault_store_scan_failures_total', type: 'counter', help: 'Store listings that failed.', samples: (o) => one(o.store.scanFailures) },
  // ---- Disk ------------------------------------------------------------------------------------------------------
  { name: 'tickvault_disk_free_bytes', type: 'gauge', help: "Free bytes on the data directory's file system (statfs, at the last housekeeping).", samples: (o) => one(o.agent.disk?.freeBytes) },
  { name: 'tickvault_disk_total_bytes', type: 'gauge', help: "Size of the data directory's file system.", samples: (o) => one(o.agent.disk?.totalBytes) },
  { name: 'tickvault_disk_free_ratio', type: 'gauge', help: "Free share of the data directory's file system, 0 to 1.", samples: (o) => one(o.agent.disk?.freeRatio) },
  { name: 'tickvault_disk_warn_free_ratio', type: 'gauge', help: 'The free-disk warning threshold (the readiness check fails below it).', samples: (o) => one(o.agent.diskWarnFreeRatio) },
  // ---- Snapshots -------------------------------------------------------------------------------------------------
  { name: 'tickvault_snapshot_last_seq', type: 'gauge', help: 'Write-ahead-log sequence the newest hot-tier snapshot includes.', samples: (o) => one(Number(o.agent.snapshots.lastSeq)) },
  { name: 'tickvault_snapshot_age_seconds', type: 'gauge', help: 'Time since the newest hot-tier snapshot was written; absent before the first one.', samples: (o) => one(o.agent.snapshots.lastAtMs === 0 ? undefined : (o.agent.nowMs - o.agent.snapshots.lastAtMs) / 1000) },
  // ---- The process -----------------------------------------------------------------------------------------------
  { name: 'tickvault_event_loop_delay_p99_seconds', type: 'gauge', help: 'Event-loop delay, 99th percentile over the last 10 to 20 seconds.', samples: (o) => one(o.process.eventLoopDelayP99Seconds) },
  { name: 'tickvault_process_resident_memory_bytes', type: 'gauge', help: 'Resident set size of the agent process.', samples: (o) => one(o.process.residentBytes) },
  { name: 'tickvault_process_uptime_seconds', type: 'gauge', help: 'Seconds since the agent process started.', samples: (o) => one(o.process.uptimeSeconds) },
];

function storeSamples(o: OperatorObservation, field: 'bytes' | 'objects'): Sample[] {
  const usage = o.store.usage;
  if (usage === undefined) return [];
  return [{ labels: { tier: 'warm' }, value: usage.warm[field] }, { labels: { tier: 'cold' }, value: usage.cold[field] }];
}

/** Every metric the agent exports, with its Prometheus type. */
export const METRIC_NAMES: ReadonlyMap<string, MetricDefinition['type']> = new Map(DEFINITIONS.map((d) => [d.name, d.type]));

export interface AgentMetrics {
  readonly registry: Registry;
  /** The text exposition of every metric, from one observation. */
  scrape(): Promise<string>;
}

/** A registry with every agent metric; each scrape reads one observation and every value comes from it. */
export function createAgentMetrics(read: () => Promise<OperatorObservation>): AgentMetrics {
  const registry = new Registry();
  let current: OperatorObservation | undefined;
  for (const d of DEFINITIONS) {
    const config = { name: d.name, help: d.help, labelNames: d.labelNames ?? [], registers: [registry] };
    if (d.type === 'histogram') new LatencySummaryHistogram(config, () => (current === undefined ? undefined : d.latency?.(current)));
    else if (d.type === 'gauge') new ObservedGauge(config, () => (current === undefined ? [] : (d.samples?.(current) ?? [])));
    else new ObservedCounter(config, () => (current === undefined ? [] : (d.samples?.(current) ?? [])));
  }
  let scraping = Promise.resolve('');
  return {
    registry,
    scrape() {
      // One scrape at a time, so each exposition is read from the observation taken for it.
      scraping = scraping.catch(() => '').then(async () => {
        current = await read();
        return registry.metrics();
      });
      return scraping;
    },
  };
}

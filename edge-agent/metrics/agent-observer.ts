/**
 * Everything the operator's views read — /metrics, /readyz, the status page — gathered in one place at request time:
 * the agent's own observe(), plus what it does not carry: feed lag (from the hot tier's newest event times), warm
 * bytes on this host (tailing the warm ledger), what the store holds (a background listing, at most every few
 * minutes) and the process itself (event-loop delay, memory). Nothing here runs on the ingest path.
 */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { LocalDirectoryStore } from '../../core/object-store/local-directory-store.ts';
import type { ObjectStore } from '../../core/object-store/object-store.ts';
import type { AgentObservation } from '../agent.ts';
import type { LatencySummary } from '../wal/latency-histogram.ts';
import { LedgerTail, type WarmDiskUsage } from './ledger-tail.ts';
import { type StoreUsage, StoreUsageMonitor } from './store-usage.ts';

/**
 * observe() as the metrics read it: the agent's observation, with the fields proposed for it (write and flush
 * latency of warm files, the newest event time) optional until the agent provides them.
 */
export type ObservedAgent = AgentObservation & {
  readonly warm: {
    /** Encode + atomic write of one warm Parquet file. */
    readonly writeLatency?: LatencySummary;
    /** One flush round: due buffers sealed and every sealed file written. */
    readonly flushLatency?: LatencySummary;
  };
  readonly feed: {
    /** Event time of the newest event accepted, epoch nanoseconds. */
    readonly newestEventTsNs?: bigint;
  };
};

/** The part of the read API's hot view that holds event times (the newest book update and trade per symbol). */
export interface EventTimeView {
  symbols(): string[];
  book(symbol: string): unknown;
  recentTrades(symbol: string, n: number): unknown[];
}

export interface OperatorObservation {
  readonly agent: ObservedAgent;
  readonly feedLag: {
    /** Event time of the newest event in the hot tier (or reported by the agent), epoch nanoseconds. */
    readonly newestEventTsNs: bigint | undefined;
    /** The agent's clock minus that event time; undefined before the first event. */
    readonly lagSeconds: number | undefined;
  };
  /** Warm files on this host, from the ledger; undefined when the ledger cannot be read. */
  readonly warmDisk: WarmDiskUsage | undefined;
  /** What the store holds, from the last complete listing (undefined until one finished or without a store). */
  readonly store: { readonly usage: StoreUsage | undefined; readonly scanFailures: number };
  readonly process: {
    readonly uptimeSeconds: number;
    /** Event-loop delay over the last 10 to 20 seconds. */
    readonly eventLoopDelayP99Seconds: number;
    readonly eventLoopDelayMaxSeconds: number;
    readonly residentBytes: number;
    readonly heapUsedBytes: number;
  };
}

export interface AgentObserverOptions {
  readonly observe: () => AgentObservation;
  /** Source of event times for the feed lag; without it lag is known only when the agent reports newestEventTsNs. */
  readonly view?: EventTimeView;
  /**
   * The store to measure. Without it, a local directory store is found from the agent's report (`local:DIR`);
   * an S3 store must be passed in.
   */
  readonly store?: ObjectStore;
  /** Least time between two store listings (each costs one LIST request per 1000 objects on S3). @default 600_000 */
  readonly storeScanIntervalMs?: number;
  /** The warm ledger. @default `<dataDir>/state/warm-ledger.jsonl`, the data dir found from the report's warmDir */
  readonly ledgerPath?: string;
  /** Told when the ledger or the store cannot be read (the views then show the figure as unknown). */
  readonly onError?: (what: string, error: Error) => void;
}

const LOOP_WINDOW_MS = 10_000;

export class AgentObserver {
  private ledger: LedgerTail | undefined;
  private storeMonitor: StoreUsageMonitor | undefined;
  private storeResolved = false;
  private readonly loop: IntervalHistogram;
  private lastLoopWindow = { p99Ns: 0, maxNs: 0 };
  private readonly loopTimer: NodeJS.Timeout;

  constructor(private readonly options: AgentObserverOptions) {
    this.loop = monitorEventLoopDelay({ resolution: 20 });
    this.loop.enable();
    this.loopTimer = setInterval(() => {
      this.lastLoopWindow = { p99Ns: this.loop.percentile(99), maxNs: this.loop.max };
      this.loop.reset();
    }, LOOP_WINDOW_MS);
    this.loopTimer.unref();
  }

  /** One consistent reading: observe() once, then the figures derived from it. */
  async read(): Promise<OperatorObservation> {
    const agent = this.options.observe() as ObservedAgent;
    const newestEventTsNs = agent.feed.newestEventTsNs ?? this.newestHotEventNs();
    const lagSeconds = newestEventTsNs === undefined ? undefined : Number(BigInt(Math.round(agent.nowMs)) * 1_000_000n - newestEventTsNs) / 1e9;
    return {
      agent,
      feedLag: { newestEventTsNs, lagSeconds },
      warmDisk: await this.warmDisk(agent),
      store: this.storeUsage(agent),
      process: this.processFigures(),
    };
  }

  /** Event-loop delay, for the liveness check: the worse of the current and the previous window. */
  eventLoopDelayMaxSeconds(): number {
    return Math.max(this.loop.max, this.lastLoopWindow.maxNs) / 1e9;
  }

  /** Waits for a store listing in progress (tests, shutdown). */
  async settled(): Promise<void> {
    await this.storeMonitor?.settled();
  }

  close(): void {
    clearInterval(this.loopTimer);
    this.loop.disable();
  }

  /**
   * The newest book update or trade over every symbol held. Symbols are read least recently used first, so the
   * reads (which mark a symbol used) leave the hot tier's eviction order exactly as it was.
   */
  private newestHotEventNs(): bigint | undefined {
    const view = this.options.view;
    if (view === undefined) return undefined;
    let newest: bigint | undefined;
    const consider = (ts: unknown): void => {
      if (typeof ts === 'bigint' && (newest === undefined || ts > newest)) newest = ts;
    };
    for (const symbol of view.symbols().reverse()) {
      consider((view.book(symbol) as { updateTsNs?: unknown } | undefined)?.updateTsNs);
      consider((view.recentTrades(symbol, 1)[0] as { tsNs?: unknown } | undefined)?.tsNs);
    }
    return newest;
  }

  private async warmDisk(agent: AgentObservation): Promise<WarmDiskUsage | undefined> {
    this.ledger ??= new LedgerTail(this.options.ledgerPath ?? join(dirname(agent.report.warmDir), 'state', 'warm-ledger.jsonl'));
    try {
      return await this.ledger.read();
    } catch (error) {
      this.options.onError?.(`warm ledger ${this.ledger.path}`, error as Error);
      return undefined;
    }
  }

  private storeUsage(agent: AgentObservation): OperatorObservation['store'] {
    if (!this.storeResolved) {
      this.storeResolved = true;
      const local = /^local:(.+)$/.exec(agent.report.store)?.[1];
      const store = this.options.store ?? (local === undefined ? undefined : new LocalDirectoryStore(local));
      if (store !== undefined) {
        this.storeMonitor = new StoreUsageMonitor({
          store,
          ...(this.options.storeScanIntervalMs === undefined ? {} : { intervalMs: this.options.storeScanIntervalMs }),
          onError: (error) => this.options.onError?.(`store listing ${store.description}`, error),
        });
      }
    }
    const current = this.storeMonitor?.current();
    return { usage: current?.usage, scanFailures: current?.failures ?? 0 };
  }

  private processFigures(): OperatorObservation['process'] {
    const memory = process.memoryUsage();
    return {
      uptimeSeconds: process.uptime(),
      eventLoopDelayP99Seconds: Math.max(this.loop.percentile(99), this.lastLoopWindow.p99Ns) / 1e9,
      eventLoopDelayMaxSeconds: this.eventLoopDelayMaxSeconds(),
      residentBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
    };
  }
}

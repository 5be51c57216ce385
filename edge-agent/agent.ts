/**
 * The edge agent: feed in, hot tier, warm Parquet, copy to the store. One instance per process.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ObjectStore } from '../core/object-store/object-store.ts';
import type { AgentConfig } from './config.ts';
import { AlpacaStreamClient } from './feed/alpaca-client.ts';
import type { ParsedFrame } from './feed/alpaca-messages.ts';
import type { FeedEvent, RejectReason } from './feed/feed-event.ts';
import { TradeRing } from './hot/trade-ring.ts';
import type { LogFn } from './log.ts';
import { type RunningSimulator, startSimulator } from './simulator/simulator-server.ts';
import { Uploader } from './sync/uploader.ts';
import { WarmWriter } from './warm/warm-writer.ts';

export interface AgentReport {
  /** Market-data messages received (every one is either accepted or rejected). */
  readonly received: number;
  readonly accepted: Readonly<Record<string, number>>;
  readonly rejected: Readonly<Partial<Record<RejectReason, number>>>;
  /** Rows in sealed warm files, per dataset. */
  readonly rowsWritten: Readonly<Record<string, number>>;
  readonly filesWritten: number;
  readonly filesUploaded: number;
  readonly uploadBacklog: { files: number; bytes: number };
  readonly warmDir: string;
  readonly store: string;
}

export class EdgeAgent {
  private readonly warmDir: string;
  private readonly writer: WarmWriter;
  private readonly uploader: Uploader;
  private readonly recentTrades = new Map<string, TradeRing>();
  private client: AlpacaStreamClient | undefined;
  private simulator: RunningSimulator | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private received = 0;
  private readonly accepted: Record<string, number> = {};
  private readonly rejected: Partial<Record<RejectReason, number>> = {};
  private lastRejectLogMs = 0;

  constructor(
    private readonly config: AgentConfig,
    private readonly store: ObjectStore,
    private readonly log: LogFn,
  ) {
    this.warmDir = join(config.dataDir, 'warm');
    this.uploader = new Uploader({ store, log });
    this.writer = new WarmWriter({
      warmDir: this.warmDir,
      flushIntervalMs: config.flushIntervalSeconds * 1000,
      maxRowsPerFile: config.maxRowsPerFile,
      onSealed: (file) => {
        this.log('info', 'warm file sealed', { file: file.relPath, rows: file.rows, bytes: file.bytes });
        this.uploader.enqueue(file);
      },
    });
  }

  async start(): Promise<void> {
    await mkdir(this.warmDir, { recursive: true });
    let url = this.config.alpacaUrl;
    let keyId = this.config.alpacaKeyId ?? '';
    let secretKey = this.config.alpacaSecretKey ?? '';
    if (this.config.feed === 'sim') {
      this.simulator = await startSimulator({
        port: 0,
        symbols: this.config.symbols,
        messagesPerSecond: this.config.sim.messagesPerSecond,
        seed: this.config.sim.seed,
      });
      url = this.simulator.url;
      keyId = 'sim';
      secretKey = 'sim';
      this.log('info', 'simulator started', { url, symbols: this.config.symbols, messagesPerSecond: this.config.sim.messagesPerSecond });
    }
    const symbols = this.config.symbols;
    this.client = new AlpacaStreamClient({
      url, keyId, secretKey,
      subscription: { trades: symbols, quotes: symbols, bars: symbols },
      onFrame: (frame) => this.onFrame(frame),
      log: this.log,
    });
    const checkEveryMs = Math.min(1000, (this.config.flushIntervalSeconds * 1000) / 4);
    this.flushTimer = setInterval(() => {
      this.flushing = this.flushing.then(() => this.writer.flushDue()).catch((e: unknown) => {
        this.log('error', 'warm flush failed', { error: (e as Error).message });
      });
    }, checkEveryMs);
    await this.client.start();
  }

  /** Drains: stops the feed, seals every buffer, waits for every upload. */
  async stop(): Promise<AgentReport> {
    clearInterval(this.flushTimer);
    await this.client?.stop();
    await this.simulator?.close();
    await this.flushing;
    await this.writer.flushAll();
    await this.uploader.drain();
    return this.report();
  }

  report(): AgentReport {
    return {
      received: this.received,
      accepted: { ...this.accepted },
      rejected: { ...this.rejected },
      rowsWritten: { ...this.writer.stats.rowsWritten },
      filesWritten: this.writer.stats.filesWritten,
      filesUploaded: this.uploader.stats.filesUploaded,
      uploadBacklog: this.uploader.backlog,
      warmDir: this.warmDir,
      store: this.store.description,
    };
  }

  /** The newest n trades of a symbol, newest first (the hot tier's read path). */
  recentTradesOf(symbol: string, n: number): ReturnType<TradeRing['newest']> {
    return this.recentTrades.get(symbol)?.newest(n) ?? [];
  }

  private onFrame(frame: ParsedFrame): void {
    this.received += frame.events.length + frame.rejects.length;
    for (const event of frame.events) this.accept(event);
    if (frame.rejects.length > 0) {
      for (const r of frame.rejects) this.rejected[r.reason] = (this.rejected[r.reason] ?? 0) + 1;
      const now = Date.now();
      if (now - this.lastRejectLogMs > 5000) {
        // Rate-limited: a storm of bad messages must not become a storm of log lines.
        this.lastRejectLogMs = now;
        this.log('warn', 'feed messages rejected', { example: frame.rejects[0], totals: this.rejected });
      }
    }
  }

  private accept(event: FeedEvent): void {
    switch (event.kind) {
      case 'trade': {
        let ring = this.recentTrades.get(event.row.symbol);
        if (ring === undefined) {
          ring = new TradeRing(this.config.hotTradesPerSymbol);
          this.recentTrades.set(event.row.symbol, ring);
        }
        ring.push(event.row);
        this.writer.append('trades', event.row);
        this.count('trades');
        break;
      }
      case 'quote':
        this.writer.append('quotes', event.row);
        this.count('quotes');
        break;
      case 'bar':
        this.writer.append(event.dataset, event.row);
        this.count(event.dataset);
        break;
      case 'trade_event':
        this.writer.append('trade_events', event.row);
        this.count('trade_events');
        break;
      case 'status':
        // Trading statuses and LULD bands are counted, not stored.
        this.count('statuses');
        break;
    }
  }

  private count(dataset: string): void {
    this.accepted[dataset] = (this.accepted[dataset] ?? 0) + 1;
  }
}

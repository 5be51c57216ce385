/**
 * The edge agent: feed in, hot tier, write-ahead log, warm Parquet, copy to the store. One instance per process.
 *
 * Durability: every accepted event is appended to the write-ahead log before anything else sees it, and counts as
 * stored once its record is on disk. Warm files are derived from the log; the ledger records each sealed file and
 * the last log sequence it holds, so recovery (newest valid snapshot + log replay) rebuilds the hot tier and the
 * unsealed warm buffers exactly, and never writes an event into a second file. Log segments go only once every
 * event in them sits in a sealed file.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { DatasetName } from '../core/datasets.ts';
import { warmPartitionPath } from '../core/layout.ts';
import { dateOfNs, formatNs } from '../core/time.ts';
import type { ObjectStore } from '../core/object-store/object-store.ts';
import type { AgentConfig } from './config.ts';
import { AlpacaStreamClient } from './feed/alpaca-client.ts';
import type { ParsedFrame } from './feed/alpaca-messages.ts';
import type { RejectReason } from './feed/feed-event.ts';
import type { FeedSource } from './feed/feed-source.ts';
import { GapLog } from './feed/gap-log.ts';
import { type ReplayPosition, ReplaySource } from './feed/replay-source.ts';
import { HotTier } from './hot/hot-tier.ts';
import type { QuoteBatch } from './hot/quote-window.ts';
import type { TradeBatch } from './hot/trade-window.ts';
import { type RunningReadApi, startReadApi } from './http/read-api.ts';
import { type SourcePosition, type StoredEvent, datasetOfEvent, decodeEventRecord, encodeEventRecord, encodeRawFrameRecord } from './ingest/event-codec.ts';
import type { LogFn } from './log.ts';
import { type RunningSimulator, startSimulator } from './simulator/simulator-server.ts';
import { SnapshotStore } from './snapshot/snapshot-store.ts';
import { resolveAgentId } from './sync/agent-id.ts';
import type { IncompleteUploadJanitor } from './sync/multipart-janitor.ts';
import { type UploadBacklog, Uploader } from './sync/uploader.ts';
import { writeFileAtomic } from './warm/atomic-file.ts';
import { type SealedFile, WarmWriter } from './warm/warm-writer.ts';
import { WarmLedger } from './warm/warm-ledger.ts';
import { type DiskSpace, applyWarmRetention, diskSpace } from './warm/retention.ts';
import { LatencyHistogram } from './wal/latency-histogram.ts';
import { WalBackpressureError, type WriteAheadLog, openLog } from './wal/write-ahead-log.ts';

/** Why an event was not accepted beyond the feed's own reasons. */
export type AgentRejectReason = RejectReason | 'bad_line' | 'storage_backpressure';

export interface AgentReport {
  /** Market-data messages received; every one is accepted, rejected, or a status (counted, not stored). */
  readonly received: number;
  readonly accepted: Readonly<Record<string, number>>;
  readonly rejected: Readonly<Partial<Record<AgentRejectReason, number>>>;
  readonly statuses: number;
  /** Accepted events whose log record is on disk. */
  readonly stored: number;
  /** Rows in sealed warm files, per dataset. */
  readonly rowsWritten: Readonly<Record<string, number>>;
  readonly filesWritten: number;
  readonly filesUploaded: number;
  readonly uploadBacklog: UploadBacklog;
  readonly recovery: { readonly snapshotSeq: string | null; readonly eventsReplayed: number; readonly orphansRemoved: number };
  readonly agentId: string;
  readonly warmDir: string;
  readonly store: string;
}

export interface AgentDeps {
  readonly store: ObjectStore;
  /** Aborts this agent's incomplete multipart uploads (S3 stores). */
  readonly janitor?: IncompleteUploadJanitor;
  readonly log: LogFn;
  /** Milliseconds clock for flush ages and snapshot timing. @default Date.now */
  readonly nowMs?: () => number;
}

const POSITIONS_FILE = 'replay-positions.json';

export class EdgeAgent {
  readonly warmDir: string;
  private readonly stateDir: string;
  private readonly store: ObjectStore;
  private readonly log: LogFn;
  private readonly nowMs: () => number;
  private readonly janitor: IncompleteUploadJanitor | undefined;
  private hot: HotTier;
  private writer!: WarmWriter;
  private ledger!: WarmLedger;
  private wal!: WriteAheadLog;
  private uploader!: Uploader;
  private snapshots!: SnapshotStore;
  private feed: FeedSource | undefined;
  private simulator: RunningSimulator | undefined;
  private timers: NodeJS.Timeout[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private agentId = '';
  private lastSnapshotSeq = 0n;
  private lastSnapshotMs = 0;
  /** The newest durable-or-pending position per replayed file. */
  private readonly positions = new Map<string, SourcePosition>();
  /** The frame a replay source delivered and whose position has not arrived yet. */
  private pendingFrame: ParsedFrame | undefined;
  /** (log sequence, events in the record) not yet durable, oldest first. */
  private readonly undurable: { seq: bigint; events: number }[] = [];
  private received = 0;
  private stored = 0;
  private statuses = 0;
  private readonly accepted: Record<string, number> = {};
  private readonly rejected: Partial<Record<AgentRejectReason, number>> = {};
  private readonly recovery = { snapshotSeq: null as string | null, eventsReplayed: 0, orphansRemoved: 0 };
  private replayFinished: Promise<unknown> | undefined;
  private readApi: RunningReadApi | undefined;
  private disk: DiskSpace | undefined;
  private lastHousekeepingMs = 0;
  private readonly retention = { filesDeleted: 0, keptUnsynced: 0 };
  /** Time of each periodic flush check that sealed something (seal + write + record). */
  private readonly flushLatency = new LatencyHistogram();

  constructor(
    private readonly config: AgentConfig,
    deps: AgentDeps,
  ) {
    this.store = deps.store;
    this.log = deps.log;
    this.nowMs = deps.nowMs ?? Date.now;
    this.janitor = deps.janitor;
    this.warmDir = join(config.dataDir, 'warm');
    this.stateDir = join(config.dataDir, 'state');
    this.hot = this.newHotTier();
  }

  /** The hot tier, read-only for callers (the read API). */
  get hotTier(): HotTier {
    return this.hot;
  }

  /** Resolves when a replay feed has delivered every file (never, for live feeds). */
  get replayDone(): Promise<unknown> {
    return this.replayFinished ?? new Promise(() => {});
  }

  private newHotTier(): HotTier {
    return new HotTier({
      windowNs: BigInt(Math.round(this.config.hotWindowSeconds * 1e9)),
      tradesCapacity: this.config.hotTradesPerSymbol,
      quotesCapacity: this.config.hotQuotesPerSymbol,
      maxSymbols: this.config.hotMaxSymbols,
      memoryCeilingBytes: this.config.hotMemoryCeilingBytes,
    });
  }

  async start(): Promise<void> {
    await mkdir(this.warmDir, { recursive: true });
    await mkdir(this.stateDir, { recursive: true });
    this.agentId = await resolveAgentId({
      dataDir: this.config.dataDir,
      ...(this.config.agentId === undefined ? {} : { configured: this.config.agentId }),
    });
    this.ledger = WarmLedger.open(join(this.stateDir, 'warm-ledger.jsonl'));
    if (this.ledger.skippedLines > 0) this.log('warn', 'warm ledger had a torn last line; cut off', { lines: this.ledger.skippedLines });
    this.writer = new WarmWriter({
      warmDir: this.warmDir,
      flushIntervalMs: this.config.flushIntervalSeconds * 1000,
      maxRowsPerFile: this.config.maxRowsPerFile,
      maxBufferedBytes: this.config.maxBufferedBytes,
      nowMs: this.nowMs,
      firstUnusedPart: (partition) => this.ledger.nextPart(partition),
      onSealed: (file) => this.onSealed(file),
      onWriteError: (error, partition) => this.log('error', 'warm file not written; rows kept and retried', { partition, error: error.message, code: (error as NodeJS.ErrnoException).code }),
    });
    this.removeOrphans();
    this.wal = await openLog(join(this.config.dataDir, 'wal'), {
      fsyncIntervalMs: this.config.walFsyncIntervalMs,
      onDurable: (seq) => this.onDurable(seq),
      onWriteError: (e) => this.log('error', 'write-ahead log write failed; records kept in memory and retried', { error: e.message }),
    });
    const truncated = this.wal.recovery.truncatedTail;
    if (truncated !== undefined) this.log('warn', 'write-ahead log tail was torn; cut at the last good record', { detail: truncated });
    this.snapshots = new SnapshotStore(join(this.stateDir, 'snapshots'), {
      keep: this.config.snapshotsKept,
      onInvalidSnapshot: (file, defect, detail) => this.log('warn', 'snapshot skipped', { file, defect, detail }),
    });
    await this.recover();
    this.disk = await diskSpace(this.config.dataDir);

    this.uploader = new Uploader({
      store: this.store,
      ledger: this.ledger,
      warmDir: this.warmDir,
      agentId: this.agentId,
      concurrency: this.config.uploadConcurrency,
      log: this.log,
      ...(this.janitor === undefined ? {} : { janitor: this.janitor }),
    });
    this.uploader.start();

    if (this.config.httpPort !== undefined) {
      this.readApi = await startReadApi({ view: this.hotView(), observe: () => this.observe(), store: this.store, log: this.log, host: this.config.httpHost, port: this.config.httpPort });
      this.log('info', 'read API listening', { url: this.readApi.url });
    }
    const checkEveryMs = Math.max(10, Math.min(1000, (this.config.flushIntervalSeconds * 1000) / 4));
    this.timers.push(setInterval(() => this.periodic(), checkEveryMs));
    this.feed = await this.createFeed();
    await this.feed.start();
  }

  /** Deletes warm part files the ledger does not know (a crash between write and record) and temp files. */
  private removeOrphans(): void {
    if (!existsSync(this.warmDir)) return;
    for (const entry of readdirSync(this.warmDir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const abs = join(entry.parentPath, entry.name);
      const rel = relative(this.warmDir, abs);
      const isTemp = entry.name.startsWith('.') && entry.name.includes('.tmp-');
      const isOrphanPart = /^part-\d{5}\.parquet$/.test(entry.name) && this.ledger.get(rel) === undefined;
      if (isTemp || isOrphanPart) {
        // Its events are still in the write-ahead log: segments go only after the ledger records the file.
        rmSync(abs, { force: true });
        this.recovery.orphansRemoved++;
        this.log('warn', 'removed a warm file left unrecorded by a crash; its events are replayed from the log', { file: rel });
      }
    }
  }

  /** Newest valid snapshot, then every log record after it into the hot tier and every unsealed one into warm buffers. */
  private async recover(): Promise<void> {
    const snapshot = await this.snapshots.loadNewestValid();
    let snapshotSeq = 0n;
    if (snapshot !== undefined) {
      this.hot = HotTier.fromSnapshot(snapshot.payload);
      snapshotSeq = snapshot.walSeq;
      this.recovery.snapshotSeq = snapshotSeq.toString();
      this.lastSnapshotSeq = snapshotSeq;
    }
    const positionsPath = join(this.stateDir, POSITIONS_FILE);
    if (existsSync(positionsPath)) {
      for (const p of JSON.parse(await readFile(positionsPath, 'utf8')) as SourcePosition[]) this.positions.set(p.file, p);
    }
    // Per partition, how far the log is already in sealed files (deleted ones included): those events are not replayed.
    const sealedThrough = new Map<string, bigint>();
    const sealedThroughOf = (dataset: DatasetName, date: string, symbol: string): bigint => {
      const key = `${dataset}\u0000${date}\u0000${symbol}`;
      let seq = sealedThrough.get(key);
      if (seq === undefined) {
        seq = this.ledger.sealedThrough(warmPartitionPath(dataset, date, symbol));
        sealedThrough.set(key, seq);
      }
      return seq;
    };
    await this.wal.replay(this.wal.firstSeq, (seq, payload) => {
      const record = decodeEventRecord(payload);
      if (record.position !== undefined) this.positions.set(record.position.file, record.position);
      for (const event of record.events) {
        if (seq > snapshotSeq) this.applyHot(event);
        const dataset = datasetOfEvent(event);
        if (seq > sealedThroughOf(dataset, dateOfNs(event.row.ts), event.row.symbol)) {
          this.writer.append(dataset, event.row as never, seq);
          this.recovery.eventsReplayed++;
        }
      }
    });
    this.stored = 0;
    if (this.recovery.eventsReplayed > 0 || snapshot !== undefined) this.log('info', 'recovered', { ...this.recovery, walFirstSeq: this.wal.firstSeq.toString(), walLastSeq: this.wal.lastSeq.toString() });
  }

  private async createFeed(): Promise<FeedSource> {
    const config = this.config;
    const onFrame = (frame: ParsedFrame): void => this.onFrame(frame, undefined);
    if (config.feed === 'replay') {
      const replay = new ReplaySource({
        files: config.replayFiles,
        speed: config.replaySpeed,
        startAt: [...this.positions.values()] as ReplayPosition[],
        // The frame is held until its position arrives, so both go into one log record.
        onFrame: (frame) => { this.pendingFrame = frame; },
        onPosition: (position) => {
          const frame = this.pendingFrame;
          this.pendingFrame = undefined;
          this.onFrame(frame ?? { events: [], controls: [], rejects: [], messageCount: 0 }, position);
        },
        onBadLine: () => this.reject('bad_line'),
        log: this.log,
      });
      this.replayFinished = replay.finished;
      return replay;
    }
    let url = config.alpacaUrl;
    let keyId = config.alpacaKeyId ?? '';
    let secretKey = config.alpacaSecretKey ?? '';
    if (config.feed === 'sim') {
      this.simulator = await startSimulator({ port: 0, symbols: config.symbols, messagesPerSecond: config.sim.messagesPerSecond, seed: config.sim.seed });
      url = this.simulator.url;
      keyId = 'sim';
      secretKey = 'sim';
      this.log('info', 'simulator started', { url, symbols: config.symbols, messagesPerSecond: config.sim.messagesPerSecond });
    }
    return new AlpacaStreamClient({
      url, keyId, secretKey,
      subscription: { trades: config.symbols, quotes: config.symbols, bars: config.symbols },
      onFrame,
      log: this.log,
      gapRecorder: GapLog.inDataDir(config.dataDir, this.log),
      dataSilenceMs: config.dataSilenceSeconds * 1000,
    });
  }

  /** Drains: stops the feed, makes the log durable, seals every buffer, snapshots, waits (bounded) for uploads. */
  async stop(): Promise<AgentReport> {
    for (const t of this.timers) clearInterval(t);
    await this.feed?.stop();
    await this.simulator?.close();
    await this.flushing;
    await this.wal.flush();
    try {
      await this.writer.flushAll();
      await this.cleanupLog();
    } catch (error) {
      this.log('error', 'warm files not all written at stop; their events stay in the log for the next start', { error: (error as Error).message });
    }
    await this.writer.close();
    await this.snapshot();
    const drained = await this.uploader.drain(this.config.drainTimeoutSeconds * 1000);
    if (!drained.complete) this.log('warn', 'uploads left for the next start', { backlog: drained.backlog });
    await this.uploader.stop();
    await this.readApi?.close();
    await this.wal.close();
    this.ledger.close();
    return this.report();
  }

  report(): AgentReport {
    return {
      received: this.received,
      accepted: { ...this.accepted },
      rejected: { ...this.rejected },
      statuses: this.statuses,
      stored: this.stored,
      rowsWritten: { ...this.writer.stats.rowsWritten },
      filesWritten: this.writer.stats.filesWritten,
      filesUploaded: this.uploaded,
      uploadBacklog: this.uploader.backlog(),
      recovery: { ...this.recovery },
      agentId: this.agentId,
      warmDir: this.warmDir,
      store: this.store.description,
    };
  }

  /** The read API's URL when it is listening. */
  get readApiUrl(): string | undefined {
    return this.readApi?.url;
  }

  private hotView() {
    return {
      symbols: () => this.hot.symbols(),
      book: (symbol: string) => this.hot.book(symbol),
      recentTrades: (symbol: string, n: number) => {
        const batch = this.hot.recentTrades(symbol, n);
        return batch === undefined ? [] : tradeRows(batch);
      },
      recentQuotes: (symbol: string, n: number) => {
        const batch = this.hot.recentQuotes(symbol, n);
        return batch === undefined ? [] : quoteRows(batch);
      },
      features: (symbol: string) => this.hot.features(symbol),
      portfolio: () => ({
        cash: this.hot.portfolio.cash,
        equity: this.hot.portfolio.equity(),
        positions: this.hot.portfolio.positions(),
        openOrders: this.hot.portfolio.openOrders(),
      }),
      status: () => ({ ...this.report(), hotMemory: this.hot.memory() }),
    };
  }

  private get uploaded(): number {
    return this.ledger.uploadedOnHost();
  }

  private onFrame(frame: ParsedFrame, position: SourcePosition | undefined): void {
    const events: StoredEvent[] = [];
    for (const e of frame.events) {
      if (e.kind === 'status') this.statuses++;
      else events.push(e);
    }
    this.received += frame.events.length + frame.rejects.length;
    for (const r of frame.rejects) this.reject(r.reason);
    if (events.length === 0 && position === undefined) return;
    let seq: bigint;
    try {
      const payload = position === undefined && frame.text !== undefined
        ? encodeRawFrameRecord(frame.text)
        : encodeEventRecord(position === undefined ? { events } : { events, position });
      seq = this.wal.append(payload);
    } catch (error) {
      if (!(error instanceof WalBackpressureError)) throw error;
      // The disk is not taking writes and the log's memory bound is reached: these events cannot be made durable.
      for (let i = 0; i < events.length; i++) this.reject('storage_backpressure');
      this.log('error', 'write-ahead log full (disk not accepting writes): events rejected', { events: events.length, error: error.message });
      return;
    }
    if (position !== undefined) this.positions.set(position.file, position);
    if (events.length > 0) this.undurable.push({ seq, events: events.length });
    for (const event of events) {
      this.applyHot(event);
      const dataset = datasetOfEvent(event);
      this.writer.append(dataset, event.row as never, seq);
      this.accepted[dataset] = (this.accepted[dataset] ?? 0) + 1;
    }
  }

  private applyHot(event: StoredEvent): void {
    switch (event.kind) {
      case 'trade': this.hot.onTrade(event.row); break;
      case 'quote': this.hot.onQuote(event.row); break;
      case 'bar': if (event.dataset === 'bars_1m') this.hot.onBar(event.row); break;
      case 'trade_event': break;
    }
  }

  private reject(reason: AgentRejectReason): void {
    this.rejected[reason] = (this.rejected[reason] ?? 0) + 1;
  }

  private onDurable(seq: bigint): void {
    while (this.undurable.length > 0 && (this.undurable[0] as { seq: bigint }).seq <= seq) {
      this.stored += (this.undurable.shift() as { events: number }).events;
    }
  }

  private onSealed(file: SealedFile): void {
    this.ledger.record({
      type: 'sealed',
      path: file.relPath,
      dataset: file.ref.dataset,
      date: file.ref.date,
      symbol: file.ref.symbol,
      part: file.ref.part,
      rows: file.rows,
      bytes: file.bytes,
      minTsNs: file.minTsNs.toString(),
      maxTsNs: file.maxTsNs.toString(),
      ...(file.minTradeId === undefined ? {} : { minTradeId: file.minTradeId.toString(), maxTradeId: (file.maxTradeId ?? file.minTradeId).toString() }),
      sha256: file.sha256,
      schemaVersion: file.schemaVersion,
      walSeq: file.walSeq.toString(),
      sealedAtMs: this.nowMs(),
    });
    this.log('info', 'warm file sealed', { file: file.relPath, rows: file.rows, bytes: file.bytes });
    this.uploader?.notify(file.relPath);
  }

  private periodic(): void {
    this.flushing = this.flushing
      .then(async () => {
        const filesBefore = this.writer.stats.filesWritten;
        const startedNs = process.hrtime.bigint();
        await this.writer.flushDue();
        if (this.writer.stats.filesWritten > filesBefore) this.flushLatency.record(Number(process.hrtime.bigint() - startedNs) / 1e6);
        await this.cleanupLog();
        if (this.nowMs() - this.lastSnapshotMs >= this.config.snapshotIntervalSeconds * 1000) await this.snapshot();
        if (this.nowMs() - this.lastHousekeepingMs >= this.config.housekeepingIntervalSeconds * 1000) await this.housekeeping();
      })
      .catch((e: unknown) => this.log('error', 'periodic warm work failed; retrying', { error: (e as Error).message }));
  }

  /** Disk space check (statfs) and warm retention, once a minute. */
  private async housekeeping(): Promise<void> {
    this.lastHousekeepingMs = this.nowMs();
    this.disk = await diskSpace(this.config.dataDir);
    if (this.disk.freeRatio < this.config.diskWarnFreeRatio) {
      this.log('warn', 'free disk space below the warning threshold', { dataDir: this.config.dataDir, freeBytes: this.disk.freeBytes, freeRatio: Number(this.disk.freeRatio.toFixed(4)), threshold: this.config.diskWarnFreeRatio });
    }
    const result = await applyWarmRetention({
      ledger: this.ledger, warmDir: this.warmDir, store: this.store, retentionDays: this.config.warmRetentionDays,
      nowNs: BigInt(this.nowMs()) * 1_000_000n, log: this.log,
    });
    this.retention.filesDeleted += result.deleted.length;
    this.retention.keptUnsynced = result.keptUnsynced.length;
    if (result.deleted.length > 0) this.log('info', 'warm retention deleted files with verified store copies', { files: result.deleted.length });
  }

  /** Everything the operator's views (metrics, health, status page) read, in one consistent snapshot. */
  observe() {
    return {
      report: this.report(),
      feed: { connected: this.feed?.connected ?? false, kind: this.config.feed },
      hot: { memory: this.hot.memory(), stats: this.hot.stats },
      wal: this.wal.stats(),
      warm: {
        ...this.writer.stats, bufferedBytes: this.writer.bufferedBytes(), pendingFiles: this.writer.pendingFiles, retention: { ...this.retention },
        writeLatency: this.writer.writeLatency.summary(), flushLatency: this.flushLatency.summary(),
      },
      upload: this.uploader.backlog(),
      disk: this.disk,
      diskWarnFreeRatio: this.config.diskWarnFreeRatio,
      snapshots: { lastSeq: this.lastSnapshotSeq.toString(), lastAtMs: this.lastSnapshotMs },
      nowMs: this.nowMs(),
    };
  }

  /** Removes log segments whose every event is in a sealed file and older than the newest snapshot needs. */
  private async cleanupLog(): Promise<void> {
    const unsealed = this.writer.minUnsealedSeq() ?? this.wal.durableSeq + 1n;
    const keepFrom = unsealed < this.lastSnapshotSeq + 1n ? unsealed : this.lastSnapshotSeq + 1n;
    if (keepFrom <= this.wal.firstSeq) return;
    // Positions live in the records about to go: write them down first.
    await writeFileAtomic(join(this.stateDir, POSITIONS_FILE), new TextEncoder().encode(JSON.stringify([...this.positions.values()])));
    await this.wal.removeSegmentsBelow(keepFrom);
  }

  private async snapshot(): Promise<void> {
    // The snapshot reflects every record appended so far; it is only useful once those records are durable.
    const seq = this.wal.lastSeq;
    if (seq <= this.lastSnapshotSeq && this.lastSnapshotMs !== 0) return;
    const payload = this.hot.toSnapshot();
    await this.wal.whenDurable(seq);
    await this.snapshots.write(seq, payload);
    this.lastSnapshotSeq = seq;
    this.lastSnapshotMs = this.nowMs();
  }
}

/** What observe() returns: the agent's state for metrics, health checks and the status page. */
export type AgentObservation = ReturnType<EdgeAgent['observe']>;

/** Rows of the hot tier's newest-N reads as JSON-friendly objects for the read API. */
function tradeRows(batch: TradeBatch): unknown[] {
  const rows: unknown[] = [];
  for (let i = 0; i < batch.length; i++) {
    rows.push({ ts: formatNs(batch.tsNs[i] as bigint), tsNs: batch.tsNs[i], tradeId: batch.tradeId[i], price: batch.price[i], size: batch.size[i], exchange: batch.exchangeNames[batch.exchangeCode[i] as number] });
  }
  return rows.reverse(); // newest first
}

function quoteRows(batch: QuoteBatch): unknown[] {
  const size = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? null : v);
  const rows: unknown[] = [];
  for (let i = 0; i < batch.length; i++) {
    rows.push({
      ts: formatNs(batch.tsNs[i] as bigint), tsNs: batch.tsNs[i], bidPrice: batch.bidPrice[i], bidSize: size(batch.bidSize[i]),
      askPrice: batch.askPrice[i], askSize: size(batch.askSize[i]),
      bidExchange: batch.exchangeNames[batch.bidExchangeCode[i] as number], askExchange: batch.exchangeNames[batch.askExchangeCode[i] as number],
    });
  }
  return rows.reverse();
}

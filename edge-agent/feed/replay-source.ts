/**
 * A FeedSource that replays recorded files into the agent: CSV rows become trade and quote events, JSONL lines (one
 * Alpaca frame each) go through the same parser as live frames. Files are replayed one after the other, in the order
 * given, each in its own line order: what "replay FILE..." means, and what makes a position a single point.
 *
 * Positions and exactly-once: after every line it consumes (a delivered frame, a bad line, a CSV header) the source
 * reports `{ file, byteOffset, line }` of the NEXT unread line of that file. A new source given that position in
 * `startAt` starts reading exactly there, so as long as the caller persists the last position it saw (the frame's
 * effects first, then its position), every line is delivered exactly once across any number of stop/start cycles.
 * `stop()` takes effect between lines: a line is either delivered with its position reported, or not delivered at all.
 *
 * Accounting, per source: linesRead (data lines; CSV headers are counted apart) = framesDelivered + badLines.
 * A bad line (unparsable CSV row, a JSONL line that is not a JSON array, an empty or overlong line) is reported with
 * its file, line number and reason, counted, and skipped; it never stops the replay. Messages rejected inside a
 * delivered JSONL frame are the frame's own `rejects`, as for a live frame.
 */
import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { type CsvKind, parseCsvLine } from '../../core/codec/market-csv.ts';
import type { QuoteRow, TradeRow } from '../../core/datasets.ts';
import type { LogFn } from '../log.ts';
import { type ParsedFrame, parseDecodedFrame } from './alpaca-messages.ts';
import type { FeedEvent } from './feed-event.ts';
import type { FeedSource } from './feed-source.ts';
import { type FileLine, LineReader, type ReplayFormat, replayFormatOf } from './replay-files.ts';
import { type ReplayClock, ReplayPacer, type ReplaySpeed, checkReplaySpeed, realReplayClock } from './replay-pacing.ts';

export class ReplayError extends Error {
  override readonly name = 'ReplayError';
}

/** A point in a replayed file: the next unread line starts at `byteOffset` and is line number `line` (1-based). */
export interface ReplayPosition {
  readonly file: string;
  readonly byteOffset: number;
  readonly line: number;
}

export interface BadLine {
  readonly file: string;
  readonly line: number;
  readonly byteOffset: number;
  readonly reason: string;
}

export interface ReplayStats {
  /** Files read to their end. */
  readonly filesDone: number;
  /** Data lines consumed (CSV headers excluded): always framesDelivered + badLines. */
  readonly linesRead: number;
  readonly headerLines: number;
  readonly framesDelivered: number;
  /** Events in the delivered frames. */
  readonly eventsDelivered: number;
  /** Messages rejected inside delivered JSONL frames (the frames' own `rejects`). */
  readonly messagesRejected: number;
  readonly badLines: number;
}

export interface ReplayResult {
  /** True when every file was read to its end; false when stop() came first. */
  readonly completed: boolean;
  readonly stats: ReplayStats;
}

export interface ReplaySourceOptions {
  /**
   * Files to replay, in order, each listed once (a position names its file by path); CSV (../shared/data formats) or
   * JSONL of Alpaca frames, told apart per file (replayFormatOf).
   */
  readonly files: readonly string[];
  readonly speed: ReplaySpeed;
  /** Called once per delivered line, in file order. An exception here stops the replay (finished rejects). */
  readonly onFrame: (frame: ParsedFrame) => void;
  /** Called after every consumed line with the position of the next unread line of that file. */
  readonly onPosition?: (position: ReplayPosition) => void;
  readonly onBadLine?: (bad: BadLine) => void;
  /**
   * Where to resume, as reported by onPosition (or positions()). A file with a position resumes there; a file
   * without one starts at its beginning, except that files listed in `files` before the last file that has a
   * position are taken as finished, because a file is only started once the one before it ended.
   * @default every file from its beginning
   */
  readonly startAt?: readonly ReplayPosition[];
  /** @default realReplayClock (performance.now and setTimeout) */
  readonly clock?: ReplayClock;
  readonly log: LogFn;
  /** At 'max', lines delivered between two yields to the event loop (setImmediate). @default 1000 */
  readonly yieldEveryLines?: number;
}

interface FilePlan {
  readonly file: string;
  readonly format: ReplayFormat;
  /** Undefined when the file counts as finished already. */
  readonly start: { readonly byteOffset: number; readonly line: number } | undefined;
}

/** Bad lines logged one by one per file; the rest only show up in the counts. */
const LOGGED_BAD_LINES_PER_FILE = 10;

type Decoded =
  | { readonly frame: ParsedFrame; readonly tsNs: bigint | undefined }
  | { readonly bad: string }
  | { readonly header: true };

function csvFrame(kind: CsvKind, row: TradeRow | QuoteRow): ParsedFrame {
  const event: FeedEvent = kind === 'trades' ? { kind: 'trade', row: row as TradeRow } : { kind: 'quote', row: row as QuoteRow };
  return { events: [event], controls: [], rejects: [], messageCount: 1 };
}

/** Turns one line of a file into a frame, a bad-line reason, or the CSV header. */
function decodeLine(format: ReplayFormat, line: FileLine): Decoded {
  if (line.overlong) return { bad: 'line too long' };
  if (format.kind === 'csv') {
    if (line.byteOffset === 0) return { header: true };
    if (line.text === '') return { bad: 'empty line' };
    const row = parseCsvLine(format.csv, line.text);
    if (typeof row === 'string') return { bad: row };
    return { frame: csvFrame(format.csv, row), tsNs: row.ts };
  }
  if (line.text.trim() === '') return { bad: 'empty line' };
  let decoded: unknown;
  try {
    decoded = JSON.parse(line.text);
  } catch (error) {
    return { bad: `not JSON (${(error as Error).message})` };
  }
  if (!Array.isArray(decoded)) return { bad: 'not a JSON array (a frame is an array of messages)' };
  const frame = parseDecodedFrame(decoded);
  const first = frame.events[0];
  return { frame, tsNs: first === undefined ? undefined : eventTimeNs(first) };
}

/** When an event happened, whatever its kind. */
function eventTimeNs(event: FeedEvent): bigint | undefined {
  if ('row' in event) return event.row.ts;
  if ('status' in event) return event.status.tsNs;
  return undefined;
}

function checkStartAt(files: readonly string[], startAt: readonly ReplayPosition[]): Map<number, ReplayPosition> {
  const indexOf = new Map(files.map((file, index) => [resolve(file), index]));
  const byIndex = new Map<number, ReplayPosition>();
  for (const position of startAt) {
    const index = indexOf.get(resolve(position.file));
    if (index === undefined) {
      throw new ReplayError(`startAt names ${position.file}, which is not among the files to replay (${files.join(', ')})`);
    }
    if (byIndex.has(index)) throw new ReplayError(`startAt names ${position.file} twice`);
    byIndex.set(index, position);
  }
  return byIndex;
}

export class ReplaySource extends EventEmitter implements FeedSource {
  readonly finished: Promise<ReplayResult>;
  private readonly options: ReplaySourceOptions;
  private readonly clock: ReplayClock;
  private readonly abort = new AbortController();
  private readonly counts = { filesDone: 0, linesRead: 0, headerLines: 0, framesDelivered: 0, eventsDelivered: 0, messagesRejected: 0, badLines: 0 };
  private readonly current = new Map<string, ReplayPosition>();
  private state: 'idle' | 'running' | 'stopping' | 'ended' = 'idle';
  private loop: Promise<void> | undefined;
  private settle!: { resolve: (result: ReplayResult) => void; reject: (error: unknown) => void };

  constructor(options: ReplaySourceOptions) {
    super();
    if (options.files.length === 0) throw new ReplayError('ReplaySource: files must name at least one file');
    const seen = new Set<string>();
    for (const file of options.files) {
      // Positions name their file by path: a file listed twice would make a position ambiguous.
      if (seen.has(resolve(file))) throw new ReplayError(`ReplaySource: files lists ${file} twice`);
      seen.add(resolve(file));
    }
    checkReplaySpeed(options.speed, 'ReplaySource');
    const yieldEvery = options.yieldEveryLines ?? 1000;
    if (!Number.isInteger(yieldEvery) || yieldEvery < 1) {
      throw new ReplayError(`ReplaySource: yieldEveryLines must be a positive integer, got ${yieldEvery}`);
    }
    this.options = options;
    this.clock = options.clock ?? realReplayClock;
    this.finished = new Promise<ReplayResult>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // Awaiting `finished` is optional; an unobserved failure is logged, not an unhandled rejection.
    this.finished.catch(() => {});
  }

  /** Whether lines are being delivered (started, not stopped, not at the end). */
  get connected(): boolean {
    return this.state === 'running';
  }

  stats(): ReplayStats {
    return { ...this.counts };
  }

  /**
   * The position of every file this source has read or will read: where the next read of it would start (its size
   * once it is done). Files skipped as finished by startAt are left out; they stay skipped when this is the startAt.
   */
  positions(): ReplayPosition[] {
    return [...this.current.values()];
  }

  /**
   * Checks every file (readable, a known format) and every startAt position (the start of a line of a listed file),
   * then starts delivering; throws a ReplayError naming the problem instead. A source starts once; to resume later,
   * create a new one with startAt.
   */
  async start(): Promise<void> {
    if (this.state !== 'idle') throw new ReplayError('ReplaySource: start() called twice; create a new source with startAt to resume');
    this.state = 'running';
    let plans: FilePlan[];
    try {
      plans = await this.plan();
    } catch (error) {
      this.state = 'ended';
      this.settle.reject(error);
      throw error;
    }
    this.options.log('info', 'replay started', {
      files: plans.map((p) => ({ file: p.file, format: p.format.kind === 'csv' ? `csv ${p.format.csv}` : 'jsonl', from: p.start ?? 'done' })),
      speed: this.options.speed,
    });
    this.loop = this.run(plans).then(
      (completed) => {
        this.state = 'ended';
        const result = { completed, stats: this.stats() };
        this.options.log('info', completed ? 'replay finished' : 'replay stopped', { ...result.stats });
        this.settle.resolve(result);
        if (completed) this.emit('end', result);
      },
      (error: unknown) => {
        this.state = 'ended';
        this.options.log('error', 'replay failed', { error: (error as Error).message });
        this.settle.reject(error);
      },
    );
  }

  /** Stops between two lines; once it resolves no frame or position is delivered any more. */
  async stop(): Promise<void> {
    if (this.state === 'idle') {
      this.state = 'ended';
      this.settle.resolve({ completed: false, stats: this.stats() });
    }
    if (this.state === 'running') this.state = 'stopping';
    this.abort.abort();
    await this.loop;
  }

  private async plan(): Promise<FilePlan[]> {
    const { files } = this.options;
    const startAt = checkStartAt(files, this.options.startAt ?? []);
    const lastPositioned = Math.max(-1, ...startAt.keys());
    const plans: FilePlan[] = [];
    for (const [index, file] of files.entries()) {
      const format = await replayFormatOf(file);
      const position = startAt.get(index);
      let start: FilePlan['start'] = { byteOffset: 0, line: 1 };
      if (position !== undefined) start = { byteOffset: position.byteOffset, line: position.line };
      else if (index < lastPositioned) start = undefined;
      if (start !== undefined) await (await LineReader.open(file, start)).close(); // validates the position now
      plans.push({ file, format, start });
      if (start !== undefined) this.current.set(file, { file, ...start });
    }
    return plans;
  }

  /** Replays the planned files; resolves true at the end of the last one, false when stopped. */
  private async run(plans: readonly FilePlan[]): Promise<boolean> {
    const { speed, onFrame, onPosition } = this.options;
    const yieldEvery = this.options.yieldEveryLines ?? 1000;
    const pacer = new ReplayPacer(speed, () => this.clock.nowMs());
    let sinceYield = 0;
    for (const plan of plans) {
      if (plan.start === undefined) {
        this.counts.filesDone++;
        continue;
      }
      const reader = await LineReader.open(plan.file, plan.start);
      let badLogged = 0;
      try {
        for (let batch = await reader.nextBatch(); batch !== undefined; batch = await reader.nextBatch()) {
          for (const line of batch) {
            if (this.state !== 'running') return false;
            const decoded = decodeLine(plan.format, line);
            if ('frame' in decoded) {
              if (decoded.tsNs !== undefined) {
                const waitMs = pacer.delayMs(decoded.tsNs);
                if (waitMs > 0) {
                  await this.clock.sleep(waitMs, this.abort.signal);
                  if (this.state !== 'running') return false;
                }
              }
              onFrame(decoded.frame);
              this.counts.linesRead++;
              this.counts.framesDelivered++;
              this.counts.eventsDelivered += decoded.frame.events.length;
              this.counts.messagesRejected += decoded.frame.rejects.length;
            } else if ('bad' in decoded) {
              this.counts.linesRead++;
              this.counts.badLines++;
              const bad: BadLine = { file: plan.file, line: line.line, byteOffset: line.byteOffset, reason: decoded.bad };
              if (badLogged++ < LOGGED_BAD_LINES_PER_FILE) this.options.log('warn', 'replay: bad line skipped', { ...bad });
              this.options.onBadLine?.(bad);
            } else {
              this.counts.headerLines++;
            }
            const position: ReplayPosition = { file: plan.file, byteOffset: line.nextOffset, line: line.line + 1 };
            this.current.set(plan.file, position);
            onPosition?.(position);
            if (++sinceYield >= yieldEvery) {
              sinceYield = 0;
              await nextTurn();
            }
          }
        }
      } finally {
        await reader.close();
      }
      this.counts.filesDone++;
      if (badLogged > LOGGED_BAD_LINES_PER_FILE) {
        this.options.log('warn', 'replay: more bad lines skipped than logged', { file: plan.file, badLines: badLogged });
      }
    }
    return true;
  }
}

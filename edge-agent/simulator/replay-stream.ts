/**
 * A recorded market played back through the simulator, so any Alpaca client (the agent's included) can receive a
 * recorded day over a WebSocket. Files play one after the other, each in line order, paced by the events' own
 * timestamps (edge-agent/feed/replay-pacing.ts).
 *
 * CSV rows (../shared/data formats) become Alpaca messages:
 *   trade  {T:"t", S, i: trade_id, x: exchange, p: price, s: size, t, c: [], z: ""}
 *   quote  {T:"q", S, bx: exchange, bp, bs, ax: exchange, ap, as, t, c: [], z: ""}
 * with `t` from formatRfc3339Nanos(ts_ns). A quote without sizes (empty CSV fields) is sent with bs/as 0, Alpaca's
 * way of saying "no size", so a client stores 0 where the CSV had nothing. A trade id outside 0..2^53-1 cannot be
 * carried exactly by a JSON number: that row is skipped as a bad line.
 *
 * JSONL lines (one Alpaca frame each) are sent byte for byte as recorded, to every client subscribed to anything,
 * without per-symbol filtering: the recording already reflects the subscription it was made with. Lines that are
 * not a JSON array (and empty or overlong lines) are skipped as bad lines, the same rule ReplaySource applies, so a
 * file replayed into the agent directly or through the simulator yields the same frames.
 */
import { type CsvKind, parseCsvLine } from '../../core/codec/market-csv.ts';
import type { QuoteRow, TradeRow } from '../../core/datasets.ts';
import { type FileLine, LineReader, type ReplayFormat } from '../feed/replay-files.ts';
import { type ReplayClock, ReplayPacer, type ReplaySpeed } from '../feed/replay-pacing.ts';
import type { AlpacaDataMessage, AlpacaQuote, AlpacaTrade } from './alpaca-messages.ts';
import { formatRfc3339Nanos, parseRfc3339Nanos } from '../../core/rfc3339.ts';

export interface ReplayServeOptions {
  /** Recorded files, played in this order: CSV trades/quotes or JSONL of Alpaca frames. */
  readonly files: readonly string[];
  /** 1 is real time by the recorded timestamps, N is N times faster; 'max' goes at the pace of the slowest client. */
  readonly speed: ReplaySpeed;
}

/** A frame recorded from a real stream (a JSONL line), sent to clients as it was recorded. */
export interface RecordedFrame {
  readonly recorded: string;
  /** The frame's messages, for msgpack clients and for counting. */
  readonly decoded: readonly unknown[];
}

/** What the simulator streams: its own data messages, or recorded frames. */
export type StreamItem = AlpacaDataMessage | RecordedFrame;

export function isRecordedFrame(item: StreamItem): item is RecordedFrame {
  return 'recorded' in item;
}

export interface ReplayStreamStats {
  readonly files: number;
  filesDone: number;
  /** Lines after the CSV headers: messages + recordedFrames + badLines. */
  linesRead: number;
  badLines: number;
  /** Data messages made from CSV rows. */
  messages: number;
  recordedFrames: number;
  /** Every file has been played to its end. */
  done: boolean;
}

const MAX_JSON_SAFE_ID = BigInt(Number.MAX_SAFE_INTEGER);

/** The Alpaca message for a CSV row, or why it cannot be one. */
export function alpacaMessageOfCsvRow(kind: CsvKind, row: TradeRow | QuoteRow): AlpacaTrade | AlpacaQuote | string {
  const t = formatRfc3339Nanos(row.ts);
  if (kind === 'trades') {
    const trade = row as TradeRow;
    if (trade.trade_id < 0n || trade.trade_id > MAX_JSON_SAFE_ID) {
      return `trade_id ${trade.trade_id} is outside 0..2^53-1, which a JSON number cannot carry exactly`;
    }
    return { T: 't', S: trade.symbol, i: Number(trade.trade_id), x: trade.exchange, p: trade.price, s: trade.size, t, c: [], z: '' };
  }
  const quote = row as QuoteRow;
  return {
    T: 'q',
    S: quote.symbol,
    bx: quote.bid_exchange,
    bp: quote.bid_price,
    bs: quote.bid_size ?? 0,
    ax: quote.ask_exchange,
    ap: quote.ask_price,
    as: quote.ask_size ?? 0,
    t,
    c: [],
    z: '',
  };
}

type Converted =
  | { readonly item: StreamItem; readonly tsNs: bigint | undefined }
  | { readonly bad: string }
  | { readonly header: true };

function recordedTimeNs(decoded: readonly unknown[]): bigint | undefined {
  for (const message of decoded) {
    const t = typeof message === 'object' && message !== null ? (message as Record<string, unknown>)['t'] : undefined;
    if (typeof t !== 'string') continue;
    try {
      return parseRfc3339Nanos(t);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function convert(format: ReplayFormat, line: FileLine): Converted {
  if (line.overlong) return { bad: 'line too long' };
  if (format.kind === 'csv') {
    if (line.byteOffset === 0) return { header: true };
    if (line.text === '') return { bad: 'empty line' };
    const row = parseCsvLine(format.csv, line.text);
    if (typeof row === 'string') return { bad: row };
    const message = alpacaMessageOfCsvRow(format.csv, row);
    return typeof message === 'string' ? { bad: message } : { item: message, tsNs: row.ts };
  }
  if (line.text.trim() === '') return { bad: 'empty line' };
  let decoded: unknown;
  try {
    decoded = JSON.parse(line.text);
  } catch (error) {
    return { bad: `not JSON (${(error as Error).message})` };
  }
  if (!Array.isArray(decoded)) return { bad: 'not a JSON array (a frame is an array of messages)' };
  return { item: { recorded: line.text, decoded }, tsNs: recordedTimeNs(decoded) };
}

export interface PlayRecordingOptions {
  readonly files: readonly { readonly path: string; readonly format: ReplayFormat }[];
  readonly speed: ReplaySpeed;
  readonly clock: ReplayClock;
  readonly signal: AbortSignal;
  /** Most items handed to `emit` at once. */
  readonly batchMax: number;
  /** Sends items to the clients, in order. */
  readonly emit: (items: readonly StreamItem[]) => void;
  /** At 'max': resolves once the clients can take more. */
  readonly room: () => Promise<void>;
  readonly onBadLine: (file: string, line: number, reason: string) => void;
}

/** Plays the files to their end (or until `signal` aborts), updating `stats` as it goes. */
export async function playRecording(options: PlayRecordingOptions, stats: ReplayStreamStats): Promise<void> {
  const pacer = new ReplayPacer(options.speed, () => options.clock.nowMs());
  const paced = options.speed !== 'max';
  let pending: StreamItem[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    options.emit(pending);
    pending = [];
  };
  for (const { path, format } of options.files) {
    const reader = await LineReader.open(path);
    try {
      for (let batch = await reader.nextBatch(); batch !== undefined; batch = await reader.nextBatch()) {
        for (const line of batch) {
          if (options.signal.aborted) return;
          const converted = convert(format, line);
          if ('header' in converted) continue;
          stats.linesRead++;
          if ('bad' in converted) {
            stats.badLines++;
            options.onBadLine(path, line.line, converted.bad);
            continue;
          }
          if (paced && converted.tsNs !== undefined) {
            const waitMs = pacer.delayMs(converted.tsNs);
            if (waitMs > 0) {
              flush();
              await options.clock.sleep(waitMs, options.signal);
              if (options.signal.aborted) return;
            }
          }
          if (isRecordedFrame(converted.item)) stats.recordedFrames++;
          else stats.messages++;
          pending.push(converted.item);
          if (pending.length >= options.batchMax) {
            flush();
            if (!paced) await options.room();
          }
        }
        flush();
        if (!paced) await options.room();
      }
    } finally {
      await reader.close();
    }
    stats.filesDone++;
  }
  flush();
  stats.done = true;
}

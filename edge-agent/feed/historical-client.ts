/**
 * Alpaca's historical market data REST API, for backfilling gaps: trades, quotes and minute/daily bars of one symbol
 * over a time range, page by page. Stocks: `GET /v2/stocks/{symbol}/{trades|quotes|bars}` answering
 * `{ trades: [...], symbol, next_page_token }`; crypto: `GET /v1beta3/crypto/us/{trades|quotes|bars}?symbols=BTC/USD`
 * answering `{ trades: { "BTC/USD": [...] }, next_page_token }`. Rows carry the stream's short field names without
 * `T` and `S`, and are validated by the stream's own validators (parseMessage), so a backfilled row is exactly what
 * the stream would have produced. 429 and 5xx (and network failures) are retried with capped exponential backoff
 * and full jitter, never sooner than the server's Retry-After.
 */
import { z } from 'zod';
import type { EpochNs } from '../../core/column-types.ts';
import type { RowOf } from '../../core/datasets.ts';
import { symbolProblem } from '../../core/symbols.ts';
import type { LogFn } from '../log.ts';
import { formatRfc3339Nanos } from '../../core/rfc3339.ts';
import { isCryptoSymbol } from './alpaca-endpoints.ts';
import { parseMessage } from './alpaca-messages.ts';
import type { Reject } from './feed-event.ts';

export const HISTORICAL_DATASETS = ['trades', 'quotes', 'bars_1m', 'bars_1d'] as const;
export type HistoricalDataset = (typeof HISTORICAL_DATASETS)[number];

export class HistoricalError extends Error {
  override readonly name = 'HistoricalError';
  /** The HTTP status of the last response, when there was one. */
  readonly status: number | undefined;

  constructor(message: string, options: { cause?: unknown; status?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
  }
}

export interface HistoricalClientOptions {
  /** e.g. HISTORICAL_BASE_URL (https://data.alpaca.markets) or a test server. */
  readonly baseUrl: string;
  readonly keyId: string;
  readonly secretKey: string;
  readonly log?: LogFn;
  /** The `feed` query parameter for stocks. @default undefined (Alpaca's default for the account) */
  readonly stockFeed?: 'iex' | 'sip';
  /** Rows per page asked for. @default 10_000 (Alpaca's maximum) */
  readonly pageLimit?: number;
  /** Retries of one request after 429, 5xx or a network failure. @default 6 */
  readonly maxRetries?: number;
  /** Backoff ceiling of the first retry; doubles per retry. @default 500 */
  readonly initialBackoffMs?: number;
  /** Backoff ceiling cap. @default 30_000 */
  readonly maxBackoffMs?: number;
  /** The longest Retry-After honoured; a longer one is cut to this. @default 300_000 */
  readonly maxRetryAfterMs?: number;
  /** One request's time limit. @default 30_000 */
  readonly requestTimeoutMs?: number;
  /** @default Math.random */
  readonly random?: () => number;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

export interface HistoricalPage<D extends HistoricalDataset> {
  readonly rows: RowOf<D>[];
  /** Rows that failed validation, by reason. */
  readonly rejects: Reject[];
  /** Rows the server sent on this page. */
  readonly received: number;
}

const ENDPOINT = {
  trades: { path: 'trades', key: 'trades', T: 't', timeframe: undefined },
  quotes: { path: 'quotes', key: 'quotes', T: 'q', timeframe: undefined },
  bars_1m: { path: 'bars', key: 'bars', T: 'b', timeframe: '1Min' },
  bars_1d: { path: 'bars', key: 'bars', T: 'd', timeframe: '1Day' },
} as const satisfies Record<HistoricalDataset, { path: string; key: string; T: string; timeframe: string | undefined }>;

const Envelope = z.looseObject({ next_page_token: z.string().nullable().optional() });
const StockRows = z.array(z.unknown()).nullable().optional();
const CryptoRows = z.record(z.string(), z.array(z.unknown())).nullable().optional();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Parses Retry-After (delta seconds or an HTTP date) into milliseconds. */
export function retryAfterMs(header: string | null, nowMs = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

export class AlpacaHistoricalClient {
  readonly stats = { requests: 0, retries: 0, pages: 0, rows: 0, rejected: 0 };
  private readonly baseUrl: string;
  private readonly fetch: typeof fetch;
  private readonly redact: (text: string) => string;

  constructor(private readonly options: HistoricalClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    if (!/^https?:\/\//.test(this.baseUrl)) throw new HistoricalError(`historical base URL ${JSON.stringify(options.baseUrl)} must start with https:// or http://`);
    if (options.keyId.length === 0 || options.secretKey.length === 0) {
      throw new HistoricalError('historical API needs credentials: keyId and secretKey must be non-empty (APCA_API_KEY_ID / APCA_API_SECRET_KEY)');
    }
    this.fetch = options.fetch ?? globalThis.fetch;
    const secrets = [options.keyId, options.secretKey].filter((s) => s.length >= 4);
    this.redact = (text) => secrets.reduce((t, s) => t.split(s).join('[redacted]'), text);
  }

  /**
   * The rows of one symbol over [fromNs, toNs] (both inclusive), page by page in time order. Minute and daily bars
   * start at the bar containing fromNs.
   */
  async *pages<D extends HistoricalDataset>(dataset: D, symbol: string, fromNs: EpochNs, toNs: EpochNs): AsyncGenerator<HistoricalPage<D>> {
    const problem = symbolProblem(symbol);
    if (problem !== undefined) throw new HistoricalError(`historical ${dataset}: invalid symbol ${JSON.stringify(symbol.slice(0, 40))}: ${problem}`);
    const endpoint = ENDPOINT[dataset];
    const crypto = isCryptoSymbol(symbol);
    const unit = dataset === 'bars_1m' ? 60_000_000_000n : dataset === 'bars_1d' ? 86_400_000_000_000n : 1n;
    const startNs = fromNs - (((fromNs % unit) + unit) % unit);
    let token: string | undefined;
    do {
      const params = new URLSearchParams();
      if (crypto) params.set('symbols', symbol);
      params.set('start', formatRfc3339Nanos(startNs));
      params.set('end', formatRfc3339Nanos(toNs));
      params.set('limit', String(this.options.pageLimit ?? 10_000));
      if (endpoint.timeframe !== undefined) params.set('timeframe', endpoint.timeframe);
      if (!crypto && this.options.stockFeed !== undefined) params.set('feed', this.options.stockFeed);
      if (token !== undefined) params.set('page_token', token);
      const path = crypto ? `/v1beta3/crypto/us/${endpoint.path}` : `/v2/stocks/${encodeURIComponent(symbol)}/${endpoint.path}`;
      const url = `${this.baseUrl}${path}?${params.toString()}`;
      const body = await this.getJson(url);

      const envelope = Envelope.safeParse(body);
      const data = crypto ? CryptoRows.safeParse(envelope.data?.[endpoint.key]) : StockRows.safeParse(envelope.data?.[endpoint.key]);
      if (!envelope.success || !data.success) {
        throw new HistoricalError(`historical ${url}: unexpected response shape (expected ${crypto ? `{ ${endpoint.key}: { [symbol]: [...] } }` : `{ ${endpoint.key}: [...] }`} and next_page_token)`);
      }
      const raw: unknown[] = (Array.isArray(data.data) ? data.data : data.data?.[symbol]) ?? [];
      const next = envelope.data.next_page_token;

      const rows: RowOf<D>[] = [];
      const rejects: Reject[] = [];
      for (const item of raw) {
        const message = typeof item === 'object' && item !== null && !Array.isArray(item) ? { ...item, T: endpoint.T, S: symbol } : item;
        const parsed = parseMessage(message);
        if ('reason' in parsed) rejects.push(parsed);
        else if ('kind' in parsed && parsed.kind !== 'status') rows.push(parsed.row as RowOf<D>);
      }
      this.stats.pages++;
      this.stats.rows += rows.length;
      this.stats.rejected += rejects.length;
      yield { rows, rejects, received: raw.length };
      // A repeated token would page forever; fail and say so.
      if (next !== null && next !== undefined && next === token) {
        throw new HistoricalError(`historical ${url}: the server returned the same next_page_token twice`);
      }
      token = next === null || next === undefined || next === '' ? undefined : next;
    } while (token !== undefined);
  }

  private async getJson(url: string): Promise<unknown> {
    const maxRetries = this.options.maxRetries ?? 6;
    const initial = this.options.initialBackoffMs ?? 500;
    const cap = this.options.maxBackoffMs ?? 30_000;
    const random = this.options.random ?? Math.random;
    for (let attempt = 0; ; attempt++) {
      let status: number | undefined;
      let why: string;
      let waitAtLeastMs = 0;
      this.stats.requests++;
      try {
        const response = await this.fetch(url, {
          headers: { 'APCA-API-KEY-ID': this.options.keyId, 'APCA-API-SECRET-KEY': this.options.secretKey, Accept: 'application/json' },
          signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 30_000),
        });
        status = response.status;
        if (response.ok) {
          try {
            return await response.json();
          } catch (e) {
            throw new HistoricalError(`historical ${url}: response is not JSON`, { cause: e, status });
          }
        }
        const text = this.redact((await response.text().catch(() => '')).slice(0, 200));
        why = `HTTP ${status}${text === '' ? '' : ` ${text}`}`;
        if (status === 401 || status === 403) {
          throw new HistoricalError(`historical ${url}: credentials rejected (${why}); check APCA_API_KEY_ID and APCA_API_SECRET_KEY (values are never logged)`, { status });
        }
        if (status !== 429 && status < 500) throw new HistoricalError(`historical ${url}: ${why}`, { status });
        waitAtLeastMs = Math.min(retryAfterMs(response.headers.get('retry-after')) ?? 0, this.options.maxRetryAfterMs ?? 300_000);
      } catch (e) {
        if (e instanceof HistoricalError) throw e;
        why = `request failed: ${this.redact(e instanceof Error ? e.message : String(e))}`;
      }
      if (attempt >= maxRetries) {
        throw new HistoricalError(`historical ${url}: giving up after ${attempt + 1} attempts (${why})`, status === undefined ? {} : { status });
      }
      const ceiling = Math.min(cap, initial * 2 ** attempt);
      const delayMs = Math.max(waitAtLeastMs, Math.round(random() * ceiling));
      this.stats.retries++;
      this.options.log?.('warn', 'historical request retried', { url, why, attempt: attempt + 1, delayMs });
      await sleep(delayMs);
    }
  }
}

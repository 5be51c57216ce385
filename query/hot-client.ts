/**
 * The hot tier, read through the agent's local read API (edge-agent/http/read-api.ts): the newest trades or quotes
 * of one symbol, which the agent's rings hold contiguously back to their oldest event. Responses are validated
 * here, at the edge, and turned into dataset rows; the columns the API does not carry (conditions, tape) are empty.
 */
import { z } from 'zod';
import type { QuoteRow, TradeRow } from '../core/datasets.ts';
import { validateSymbol } from '../core/symbols.ts';
import { HotTierReadError, QueryInputError } from './errors.ts';

export type HotDataset = 'trades' | 'quotes';
export type HotRow<D extends HotDataset> = D extends 'trades' ? TradeRow : QuoteRow;

/** The read API's own default ceiling for n; a server configured lower says so and is asked again. */
export const HOT_MAX_ROWS = 10_000;

const integer = z.union([z.string().regex(/^-?\d{1,20}$/), z.number().int()]).transform((v) => BigInt(v));
const optionalSize = z.number().nullable().optional().transform((v) => v ?? null);

const TradesResponse = z.object({
  trades: z.array(z.object({ tsNs: integer, tradeId: integer, price: z.number(), size: z.number(), exchange: z.string() })),
});
const QuotesResponse = z.object({
  quotes: z.array(z.object({
    tsNs: integer, bidPrice: z.number(), bidSize: optionalSize, askPrice: z.number(), askSize: optionalSize,
    bidExchange: z.string(), askExchange: z.string(),
  })),
});
const ErrorResponse = z.object({ error: z.string() });

/** Validates a read API base URL (http or https, no query or fragment); returns it without a trailing '/'. */
export function parseHotUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new QueryInputError('hot', `hot: ${JSON.stringify(text)} is not a URL (expected e.g. http://127.0.0.1:8080)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new QueryInputError('hot', `hot: ${JSON.stringify(text)}: expected an http:// or https:// URL`);
  if (url.search !== '' || url.hash !== '') throw new QueryInputError('hot', `hot: ${JSON.stringify(text)}: no query or fragment expected`);
  return url.href.replace(/\/+$/, '');
}

export interface HotReadOptions {
  readonly signal?: AbortSignal;
  /** @default HOT_MAX_ROWS */
  readonly maxRows?: number;
}

/** The hot rows of one symbol, oldest first. An unknown symbol has none. */
export async function readHotRows<D extends HotDataset>(baseUrl: string, dataset: D, symbol: string, options: HotReadOptions = {}): Promise<HotRow<D>[]> {
  validateSymbol(symbol);
  let n = options.maxRows ?? HOT_MAX_ROWS;
  for (let attempt = 0; ; attempt++) {
    const url = `${baseUrl}/v1/${dataset}/${encodeURIComponent(symbol)}?n=${n}`;
    let response: Response;
    let body: unknown;
    try {
      response = await fetch(url, { signal: options.signal ?? null, headers: { accept: 'application/json' } });
      body = await response.json();
    } catch (cause) {
      if (options.signal?.aborted === true) throw cause;
      throw new HotTierReadError(`hot tier ${url}: ${(cause as Error).message}`, { cause });
    }
    if (response.status === 400 && attempt === 0) {
      // The server's n ceiling is lower than ours: its message names it ("expected an integer 1..N").
      const ceiling = /1\.\.(\d+)/.exec(ErrorResponse.safeParse(body).data?.error ?? '')?.[1];
      if (ceiling !== undefined && Number(ceiling) >= 1 && Number(ceiling) < n) { n = Number(ceiling); continue; }
    }
    if (!response.ok) {
      const reason = ErrorResponse.safeParse(body).data?.error ?? `HTTP ${response.status}`;
      throw new HotTierReadError(`hot tier ${url}: ${reason}`);
    }
    return (dataset === 'trades' ? tradeRows(body, symbol, url) : quoteRows(body, symbol, url)) as HotRow<D>[];
  }
}

function tradeRows(body: unknown, symbol: string, url: string): TradeRow[] {
  const parsed = TradesResponse.safeParse(body);
  if (!parsed.success) throw new HotTierReadError(`hot tier ${url}: not a trades response (${parsed.error.issues[0]?.message ?? 'invalid'})`);
  const rows = parsed.data.trades.map((t): TradeRow => ({
    ts: t.tsNs, ts_ns: t.tsNs, symbol, trade_id: t.tradeId, price: t.price, size: t.size, exchange: t.exchange, conditions: '', tape: '',
  }));
  return rows.sort((a, b) => (a.ts_ns < b.ts_ns ? -1 : a.ts_ns > b.ts_ns ? 1 : 0));
}

function quoteRows(body: unknown, symbol: string, url: string): QuoteRow[] {
  const parsed = QuotesResponse.safeParse(body);
  if (!parsed.success) throw new HotTierReadError(`hot tier ${url}: not a quotes response (${parsed.error.issues[0]?.message ?? 'invalid'})`);
  const rows = parsed.data.quotes.map((q): QuoteRow => ({
    ts: q.tsNs, ts_ns: q.tsNs, symbol, bid_price: q.bidPrice, bid_size: q.bidSize, ask_price: q.askPrice, ask_size: q.askSize,
    bid_exchange: q.bidExchange, ask_exchange: q.askExchange, conditions: '', tape: '',
  }));
  return rows.sort((a, b) => (a.ts_ns < b.ts_ns ? -1 : a.ts_ns > b.ts_ns ? 1 : 0));
}

/** Where Alpaca's market data lives: the stream URLs per feed and the historical REST base. */

export const STOCK_FEEDS = ['iex', 'sip', 'test'] as const;
/** `iex` is free, `sip` needs a paid plan (409 insufficient subscription without one), `test` streams FAKEPACA always. */
export type StockFeed = (typeof STOCK_FEEDS)[number];

export type StreamTarget = { readonly kind: 'stocks'; readonly feed: StockFeed } | { readonly kind: 'crypto' };

/** @default for streamUrl's baseUrl */
export const STREAM_BASE_URL = 'wss://stream.data.alpaca.markets';
export const SANDBOX_STREAM_BASE_URL = 'wss://stream.data.sandbox.alpaca.markets';
/** The historical REST API (backfill). */
export const HISTORICAL_BASE_URL = 'https://data.alpaca.markets';

export class EndpointError extends Error {
  override readonly name = 'EndpointError';
}

/** The stream URL of a feed: `/v2/{iex|sip|test}` for stocks, `/v1beta3/crypto/us` for crypto. */
export function streamUrl(target: StreamTarget, baseUrl: string = STREAM_BASE_URL): string {
  const base = baseUrl.replace(/\/+$/, '');
  if (!/^wss?:\/\//.test(base)) throw new EndpointError(`stream base URL ${JSON.stringify(baseUrl)} must start with wss:// or ws://`);
  if (target.kind === 'crypto') return `${base}/v1beta3/crypto/us`;
  if (!(STOCK_FEEDS as readonly string[]).includes(target.feed)) {
    throw new EndpointError(`unknown stock feed ${JSON.stringify(target.feed)}: expected one of ${STOCK_FEEDS.join(', ')}`);
  }
  return `${base}/v2/${target.feed}`;
}

/** Alpaca writes crypto pairs with a slash (BTC/USD); stock symbols never contain one. */
export function isCryptoSymbol(symbol: string): boolean {
  return symbol.includes('/');
}

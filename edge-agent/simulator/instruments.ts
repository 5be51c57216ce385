/**
 * What the simulated market knows about each symbol: stock or crypto pair, tick and size granularity, venues, tape,
 * starting price and how busy it is. Prices and sizes are integers in those units so the random walk stays on ticks.
 */
import { validateSymbol } from '../../core/symbols.ts';
import type { Prng } from './prng.ts';

export type InstrumentKind = 'stock' | 'crypto';

export interface Instrument {
  readonly symbol: string;
  readonly kind: InstrumentKind;
  /** Price units per currency unit: 100 means a tick of 0.01. */
  readonly priceScale: number;
  /** Size units per share or coin: 1 for whole shares, 10_000 for crypto sizes like 0.0123. */
  readonly sizeScale: number;
  readonly startPriceTicks: number;
  /** Standard deviation of one price step, in ticks. */
  readonly stepSigmaTicks: number;
  /** Mean crypto trade size in size units (stocks draw round and odd lots instead). */
  readonly meanSizeUnits: number;
  /** Relative share of the market's events. */
  readonly weight: number;
  readonly tape: string;
  /** Venues that trade and quote the symbol (trade reporting facilities only report trades). */
  readonly tradeVenues: readonly string[];
  readonly quoteVenues: readonly string[];
}

/** Used when the caller names no symbols. */
export const DEFAULT_SYMBOLS = ['AAPL', 'MSFT', 'NVDA', 'SPY', 'BTC/USD'] as const;

// Venue codes as Alpaca reports them; repeats weight the busy ones. D is the FINRA trade reporting facility.
const STOCK_TRADE_VENUES = ['D', 'D', 'D', 'V', 'P', 'P', 'Q', 'Q', 'Q', 'N', 'K', 'Z', 'B', 'X', 'J', 'Y', 'H', 'U'];
const STOCK_QUOTE_VENUES = ['V', 'P', 'P', 'Q', 'Q', 'Q', 'N', 'K', 'Z', 'B', 'X', 'J', 'Y', 'H', 'U'];
const CRYPTO_VENUES = ['CBSE', 'ERSX', 'KRKN'];
/** Crypto has no consolidated tape; 'O' keeps the field present and non-empty like the stock tapes A, B and C. */
const CRYPTO_TAPE = 'O';

interface KnownSymbol {
  readonly price: number;
  readonly weight: number;
  readonly tape?: string;
  readonly meanSize?: number;
}

const KNOWN: Readonly<Record<string, KnownSymbol>> = {
  AAPL: { price: 190, weight: 3, tape: 'C' },
  MSFT: { price: 420, weight: 2, tape: 'C' },
  NVDA: { price: 125, weight: 3, tape: 'C' },
  AMZN: { price: 185, weight: 2, tape: 'C' },
  TSLA: { price: 240, weight: 3, tape: 'C' },
  SPY: { price: 545, weight: 4, tape: 'B' },
  QQQ: { price: 480, weight: 3, tape: 'C' },
  'BTC/USD': { price: 62_000, weight: 2, meanSize: 0.05 },
  'ETH/USD': { price: 3_400, weight: 1, meanSize: 0.5 },
};

/** Describes `symbol`, drawing anything not in the built-in table from `prng`. Throws for an invalid symbol. */
export function instrumentFor(symbol: string, prng: Prng): Instrument {
  validateSymbol(symbol);
  const kind: InstrumentKind = symbol.includes('/') ? 'crypto' : 'stock';
  const known = KNOWN[symbol];
  const price = known?.price ?? (kind === 'crypto' ? 1 + prng.next() * 999 : 10 + prng.next() * 490);
  const priceScale = 100;
  const startPriceTicks = Math.max(1, Math.round(price * priceScale));
  const sizeScale = kind === 'crypto' ? 10_000 : 1;
  return {
    symbol,
    kind,
    priceScale,
    sizeScale,
    startPriceTicks,
    // Roughly two basis points per event for volatile pairs, at least a fraction of a tick for stocks.
    stepSigmaTicks: Math.max(0.6, startPriceTicks * (kind === 'crypto' ? 2e-5 : 2e-6)),
    meanSizeUnits: Math.max(1, Math.round((known?.meanSize ?? (kind === 'crypto' ? 1 : 100)) * sizeScale)),
    weight: known?.weight ?? 1,
    tape: kind === 'crypto' ? CRYPTO_TAPE : (known?.tape ?? prng.pick(['A', 'B', 'C'])),
    tradeVenues: kind === 'crypto' ? CRYPTO_VENUES : STOCK_TRADE_VENUES,
    quoteVenues: kind === 'crypto' ? CRYPTO_VENUES : STOCK_QUOTE_VENUES,
  };
}

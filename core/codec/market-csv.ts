/**
 * Reader for the normalized market-data CSV files (../shared/data):
 *   trades  ts_ns,symbol,trade_id,price,size,exchange
 *   quotes  ts_ns,symbol,bid_px,bid_sz,ask_px,ask_sz,exchange
 * Every line is validated; a bad line is reported with its number and reason, never silently dropped.
 */
import type { QuoteRow, TradeRow } from '../datasets.ts';
import { symbolProblem } from '../symbols.ts';

export const TRADE_CSV_HEADER = 'ts_ns,symbol,trade_id,price,size,exchange';
export const QUOTE_CSV_HEADER = 'ts_ns,symbol,bid_px,bid_sz,ask_px,ask_sz,exchange';

export type CsvKind = 'trades' | 'quotes';

export interface CsvLineError {
  readonly line: number;
  readonly reason: string;
}

export type CsvRecord =
  | { readonly kind: 'trades'; readonly line: number; readonly row: TradeRow }
  | { readonly kind: 'quotes'; readonly line: number; readonly row: QuoteRow };

export class MarketCsvError extends Error {
  override readonly name = 'MarketCsvError';
}

/** Tells the file's kind from its header line; throws naming the file when the header is neither. */
export function csvKindOf(header: string, fileName: string): CsvKind {
  const h = header.trim();
  if (h === TRADE_CSV_HEADER) return 'trades';
  if (h === QUOTE_CSV_HEADER) return 'quotes';
  throw new MarketCsvError(`${fileName}: unrecognised CSV header ${JSON.stringify(h.slice(0, 80))}; expected "${TRADE_CSV_HEADER}" or "${QUOTE_CSV_HEADER}"`);
}

const INTEGER = /^-?\d{1,19}$/;
const DECIMAL = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

function positiveNumber(text: string, field: string): number | string {
  if (!DECIMAL.test(text)) return `${field} ${JSON.stringify(text)} is not a number`;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) return `${field} ${text} is not a positive finite number`;
  return value;
}

function int64(text: string, field: string): bigint | string {
  if (!INTEGER.test(text)) return `${field} ${JSON.stringify(text)} is not an integer`;
  const value = BigInt(text);
  if (value < -(2n ** 63n) || value >= 2n ** 63n) return `${field} ${text} is outside the 64-bit range`;
  return value;
}

/** Parses one data line of a known kind. Returns the row, or the reason it was rejected. */
export function parseCsvLine(kind: CsvKind, text: string): TradeRow | QuoteRow | string {
  const f = text.split(',');
  if (f.length !== (kind === 'trades' ? 6 : 7)) return `expected ${kind === 'trades' ? 6 : 7} fields, found ${f.length}`;
  const ts = int64(f[0] ?? '', 'ts_ns');
  if (typeof ts === 'string') return ts;
  if (ts < 0n) return `ts_ns ${ts} is before 1970`;
  const symbol = f[1] ?? '';
  const problem = symbolProblem(symbol);
  if (problem !== undefined) return `symbol ${JSON.stringify(symbol)}: ${problem}`;
  if (kind === 'trades') {
    const tradeId = int64(f[2] ?? '', 'trade_id');
    if (typeof tradeId === 'string') return tradeId;
    const price = positiveNumber(f[3] ?? '', 'price');
    if (typeof price === 'string') return price;
    const size = positiveNumber(f[4] ?? '', 'size');
    if (typeof size === 'string') return size;
    const exchange = f[5] ?? '';
    return { ts, ts_ns: ts, symbol, trade_id: tradeId, price, size, exchange, conditions: '', tape: '' };
  }
  const bid = positiveNumber(f[2] ?? '', 'bid_px');
  if (typeof bid === 'string') return bid;
  const ask = positiveNumber(f[4] ?? '', 'ask_px');
  if (typeof ask === 'string') return ask;
  // Sizes may be absent (some FX feeds give none): an empty field is a null size, not zero.
  const bidSize = f[3] === '' ? null : positiveNumber(f[3] ?? '', 'bid_sz');
  if (typeof bidSize === 'string') return bidSize;
  const askSize = f[5] === '' ? null : positiveNumber(f[5] ?? '', 'ask_sz');
  if (typeof askSize === 'string') return askSize;
  const exchange = f[6] ?? '';
  return {
    ts, ts_ns: ts, symbol,
    bid_price: bid, bid_size: bidSize, ask_price: ask, ask_size: askSize,
    bid_exchange: exchange, ask_exchange: exchange, conditions: '', tape: '',
  };
}

/** Parses a whole CSV text: the records in file order and every rejected line with its reason. */
export function parseMarketCsv(text: string, fileName: string): { kind: CsvKind; records: CsvRecord[]; errors: CsvLineError[] } {
  const lines = text.split(/\r?\n/);
  const kind = csvKindOf(lines[0] ?? '', fileName);
  const records: CsvRecord[] = [];
  const errors: CsvLineError[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line === '' && i === lines.length - 1) break;
    const parsed = parseCsvLine(kind, line);
    if (typeof parsed === 'string') errors.push({ line: i + 1, reason: parsed });
    else records.push({ kind, line: i + 1, row: parsed } as CsvRecord);
  }
  return { kind, records, errors };
}

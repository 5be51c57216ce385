/**
 * The fast path for JSON feed frames. It reads the usual shape of an Alpaca data frame straight from the text into
 * rows: compact JSON, an array of trades, quotes and bars with Alpaca's keys, `T` first, strings without escapes.
 * It applies the same checks as the per-message validators (alpaca-messages.ts), without building the objects, arrays
 * and strings JSON.parse would make for every field. On the ingest path that parse was the largest single cost.
 *
 * It answers only for a frame it can read completely and whose every message it accepts. Anything else gives
 * undefined, and parseJsonFrame runs the full path (JSON.parse, then each message validated on its own): a character
 * it does not expect (whitespace, an escape, a control character), an unknown key, another message type, a message
 * that fails a check. The full path stays the authority: rejects get their reasons and details there, and valid
 * messages beside a bad one are kept there. For every frame the scanner accepts, its rows equal the full path's;
 * test/feed-fast-path.test.ts checks that on real frames and on many mutations of them.
 */
import type { DatasetName } from '../../core/datasets.ts';
import { usualEventTimeNs } from './event-time.ts';
import type { FeedEvent } from './feed-event.ts';
import { feedSymbolProblem } from './symbol-memo.ts';

const QUOTE = 34, COMMA = 44, MINUS = 45, DOT = 46, COLON = 58, LBRACKET = 91, BACKSLASH = 92, RBRACKET = 93, LBRACE = 123, RBRACE = 125;

// Keys are read as codes: the first character, plus the second shifted left by 8 for two-character keys.

/** Powers of ten exact in a double, for decimals of at most 15 digits. */
const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15] as const;

// The frame being scanned and the position in it; module state keeps the readers small and allocation-free.
let src = '';
let pos = 0;

/**
 * The data messages of a JSON frame when it has the usual shape and every message in it is valid; undefined when
 * the full parser must decide (see the file comment).
 */
export function scanJsonFrame(text: string): FeedEvent[] | undefined {
  if (text.charCodeAt(0) !== LBRACKET) return undefined;
  src = text;
  pos = 1;
  const events = scanMessages();
  src = '';
  return events;
}

function scanMessages(): FeedEvent[] | undefined {
  const events: FeedEvent[] = [];
  for (;;) {
    const event = scanMessage();
    if (event === undefined) return undefined;
    events.push(event);
    const c = src.charCodeAt(pos++);
    if (c === COMMA) continue;
    return c === RBRACKET && pos === src.length ? events : undefined;
  }
}

/** One message from its '{' to after its '}'. `{"T":"x"` must open it, x one character. */
function scanMessage(): FeedEvent | undefined {
  if (
    src.charCodeAt(pos) !== LBRACE || src.charCodeAt(pos + 1) !== QUOTE || src.charCodeAt(pos + 2) !== 84 /* T */ ||
    src.charCodeAt(pos + 3) !== QUOTE || src.charCodeAt(pos + 4) !== COLON || src.charCodeAt(pos + 5) !== QUOTE ||
    src.charCodeAt(pos + 7) !== QUOTE
  ) return undefined;
  const type = src.charCodeAt(pos + 6);
  pos += 8;
  switch (type) {
    case 116 /* t */: return scanTrade();
    case 113 /* q */: return scanQuote();
    case 98 /* b */:
    case 117 /* u */: return scanBar('bars_1m');
    case 100 /* d */: return scanBar('bars_1d');
    default: return undefined;
  }
}

// ---- messages: each reads `,"key":value` pairs up to '}', then applies the full path's checks -------------------
// A repeated key keeps its last value, as with JSON.parse; a second "T" is an unknown key here and leaves the fast path.

function scanTrade(): FeedEvent | undefined {
  let symbol: string | undefined, ts: bigint | undefined;
  let tradeId = Number.NaN, price = Number.NaN, size = Number.NaN;
  let exchange = '', conditions = '', tape = '';
  while (src.charCodeAt(pos) === COMMA) {
    pos++;
    const key = readKey();
    switch (key) {
      case 83 /* S */: symbol = readSymbol(); break;
      case 116 /* t */: ts = readTime(); break;
      case 105 /* i */: tradeId = readNumber(); break;
      case 112 /* p */: price = readNumber(); break;
      case 115 /* s */: size = readNumber(); break;
      case 120 /* x */: exchange = readCode() ?? ''; break;
      case 99 /* c */: conditions = readConditions() ?? ''; break;
      case 122 /* z */: tape = readCode() ?? ''; break;
      default: return undefined;
    }
    if (pos < 0) return undefined;
  }
  if (src.charCodeAt(pos++) !== RBRACE) return undefined;
  if (symbol === undefined || ts === undefined) return undefined;
  if (!(Number.isSafeInteger(tradeId) && tradeId >= 0 && isPositive(price) && isPositive(size))) return undefined;
  return {
    kind: 'trade',
    row: { ts, ts_ns: ts, symbol, trade_id: BigInt(tradeId), price, size, exchange, conditions, tape },
  };
}

function scanQuote(): FeedEvent | undefined {
  let symbol: string | undefined, ts: bigint | undefined;
  let bid = Number.NaN, bidSize = Number.NaN, ask = Number.NaN, askSize = Number.NaN;
  let bidExchange = '', askExchange = '', conditions = '', tape = '';
  while (src.charCodeAt(pos) === COMMA) {
    pos++;
    const key = readKey();
    switch (key) {
      case 83 /* S */: symbol = readSymbol(); break;
      case 116 /* t */: ts = readTime(); break;
      case 28770 /* bp */: bid = readNumber(); break;
      case 29538 /* bs */: bidSize = readNumber(); break;
      case 28769 /* ap */: ask = readNumber(); break;
      case 29537 /* as */: askSize = readNumber(); break;
      case 30818 /* bx */: bidExchange = readCode() ?? ''; break;
      case 30817 /* ax */: askExchange = readCode() ?? ''; break;
      case 99 /* c */: conditions = readConditions() ?? ''; break;
      case 122 /* z */: tape = readCode() ?? ''; break;
      default: return undefined;
    }
    if (pos < 0) return undefined;
  }
  if (src.charCodeAt(pos++) !== RBRACE) return undefined;
  if (symbol === undefined || ts === undefined) return undefined;
  if (!(isNonNegative(bid) && isNonNegative(ask) && isNonNegative(bidSize) && isNonNegative(askSize))) return undefined;
  // As parseQuote: both sides zero carry nothing, a crossed quote is rejected.
  if ((bid === 0 && ask === 0) || (bid > 0 && ask > 0 && bid > ask)) return undefined;
  return {
    kind: 'quote',
    row: {
      ts, ts_ns: ts, symbol,
      bid_price: bid, bid_size: bidSize,
      ask_price: ask, ask_size: askSize,
      bid_exchange: bidExchange, ask_exchange: askExchange,
      conditions, tape,
    },
  };
}

function scanBar(dataset: Extract<DatasetName, 'bars_1m' | 'bars_1d'>): FeedEvent | undefined {
  let symbol: string | undefined, ts: bigint | undefined;
  let open = Number.NaN, high = Number.NaN, low = Number.NaN, close = Number.NaN;
  let volume = Number.NaN, tradeCount = Number.NaN, vwap = Number.NaN;
  while (src.charCodeAt(pos) === COMMA) {
    pos++;
    const key = readKey();
    switch (key) {
      case 83 /* S */: symbol = readSymbol(); break;
      case 116 /* t */: ts = readTime(); break;
      case 111 /* o */: open = readNumber(); break;
      case 104 /* h */: high = readNumber(); break;
      case 108 /* l */: low = readNumber(); break;
      case 99 /* c */: close = readNumber(); break;
      case 118 /* v */: volume = readNumber(); break;
      case 110 /* n */: tradeCount = readNumber(); break;
      case 30582 /* vw */: vwap = readNumber(); break;
      default: return undefined;
    }
    if (pos < 0) return undefined;
  }
  if (src.charCodeAt(pos++) !== RBRACE) return undefined;
  if (symbol === undefined || ts === undefined || !(Number.isSafeInteger(tradeCount) && tradeCount >= 0)) return undefined;
  if (!(isPositive(open) && isPositive(high) && isPositive(low) && isPositive(close) && isNonNegative(volume) && isNonNegative(vwap))) return undefined;
  // As parseBar: open, close and low inside [low, high].
  if (low > high || open > high || close > high || open < low || close < low) return undefined;
  return {
    kind: 'bar',
    dataset,
    row: { ts, ts_ns: ts, symbol, open, high, low, close, volume, trade_count: BigInt(tradeCount), vwap },
  };
}

/** Finite and above zero (NaN, the mark of a missing or unreadable field, is not). */
function isPositive(v: number): boolean {
  return v > 0 && v < Number.POSITIVE_INFINITY;
}

/** Finite and zero or above, -0 included (as the full path's num(…, allowZero)). */
function isNonNegative(v: number): boolean {
  return v >= 0 && v < Number.POSITIVE_INFINITY;
}

// ---- readers: on anything unexpected they set pos to -1 (and return a value the checks refuse) ------------------

/** `"k":` or `"kk":` at pos, as a key code; -1 for any other key (the message then leaves the fast path). */
function readKey(): number {
  if (src.charCodeAt(pos) !== QUOTE) return -1;
  const c1 = src.charCodeAt(pos + 1);
  const c2 = src.charCodeAt(pos + 2);
  let key: number;
  if (c2 === QUOTE) {
    key = c1;
    pos += 3;
  } else if (src.charCodeAt(pos + 3) === QUOTE) {
    key = c1 | (c2 << 8);
    pos += 4;
  } else {
    return -1;
  }
  // A backslash or quote inside the key never makes one of the known codes, so such keys fall through as unknown.
  if (src.charCodeAt(pos++) !== COLON) return -1;
  return key;
}

/** The index of the closing quote of the string at pos, or -1 if it is not a string without escapes and control characters. */
function stringEnd(): number {
  if (src.charCodeAt(pos) !== QUOTE) return -1;
  for (let i = pos + 1; ; i++) {
    const c = src.charCodeAt(i);
    if (c === QUOTE) return i;
    // NaN past the end fails `c >= 32` too.
    if (c === BACKSLASH || !(c >= 32)) return -1;
  }
}

// Symbols, exchange codes and tapes repeat endlessly. Small tables keep one string per value, found by comparing the
// frame text in place: no copy, and the same string object (its hash computed once) for every later lookup. Symbols
// have a table of their own, holding only symbols that passed the rules, so a hit there needs no check.
const INTERNED_SLOTS = 512;
const MAX_INTERNED_LENGTH = 32;
const symbols: (string | undefined)[] = new Array<string | undefined>(INTERNED_SLOTS).fill(undefined);
const codes: (string | undefined)[] = new Array<string | undefined>(INTERNED_SLOTS).fill(undefined);

function slotOf(start: number, end: number): number {
  return (src.charCodeAt(start) * 31 + src.charCodeAt(end - 1) * 7 + (end - start)) & (INTERNED_SLOTS - 1);
}

/** The string in `table` equal to src[start, end), or undefined when its slot holds another (or none). */
function internedAt(table: (string | undefined)[], start: number, end: number): string | undefined {
  const length = end - start;
  if (length === 0 || length > MAX_INTERNED_LENGTH) return undefined;
  const cached = table[slotOf(start, end)];
  return cached !== undefined && cached.length === length && src.startsWith(cached, start) ? cached : undefined;
}

function intern(table: (string | undefined)[], start: number, end: number, value: string): void {
  if (value.length > 0 && value.length <= MAX_INTERNED_LENGTH) table[slotOf(start, end)] = value;
}

/** A symbol that passes the symbol rules (symbol-memo.ts); interned in `symbols`. */
function readSymbol(): string | undefined {
  const end = stringEnd();
  if (end < 0) {
    pos = -1;
    return undefined;
  }
  const start = pos + 1;
  pos = end + 1;
  let symbol = internedAt(symbols, start, end);
  if (symbol === undefined) {
    symbol = src.slice(start, end);
    if (feedSymbolProblem(symbol) !== undefined) {
      pos = -1;
      return undefined;
    }
    intern(symbols, start, end, symbol);
  }
  return symbol;
}

/** An exchange code, tape or condition code: any string without escapes; interned in `codes`. */
function readCode(): string | undefined {
  const end = stringEnd();
  if (end < 0) {
    pos = -1;
    return undefined;
  }
  const start = pos + 1;
  pos = end + 1;
  let value = internedAt(codes, start, end);
  if (value === undefined) {
    value = src.slice(start, end);
    intern(codes, start, end, value);
  }
  return value;
}

/**
 * An event time of the usual shape (event-time.ts); any other, valid or not, is left to the full path. Read in one
 * pass: its end follows from the shape (19 characters, an optional fraction, `Z"`), and usualEventTimeNs checks every
 * character before it, none of which may be a quote, so the string really ends there.
 */
function readTime(): bigint | undefined {
  const start = pos + 1;
  let end = start + 19;
  if (src.charCodeAt(pos) === QUOTE && src.charCodeAt(end) === DOT) {
    let c: number;
    do c = src.charCodeAt(++end);
    while (c >= 48 && c <= 57);
  }
  const ts = src.charCodeAt(pos) === QUOTE && src.charCodeAt(end) === 90 /* Z */ && src.charCodeAt(end + 1) === QUOTE
    ? usualEventTimeNs(src, start, end + 1)
    : undefined;
  pos = ts === undefined ? -1 : end + 2;
  return ts;
}

// The last condition arrays read, as written in the frame and joined: trades and quotes each repeat one or two.
let lastConditionsText = ['', ''];
let lastConditions = ['', ''];

/** Condition codes `["a","b"]` joined with ',' as conditionsOf does; undefined for anything else. */
function readConditions(): string | undefined {
  const start = pos;
  for (let k = 0; k < 2; k++) {
    const text = lastConditionsText[k] as string;
    // A whole array (it ends with ']') can only be followed by another token, so a prefix match is an exact one.
    if (text !== '' && src.startsWith(text, start)) {
      pos = start + text.length;
      return lastConditions[k];
    }
  }
  if (src.charCodeAt(pos) !== LBRACKET) {
    pos = -1;
    return undefined;
  }
  pos++;
  let joined: string | undefined = '';
  if (src.charCodeAt(pos) !== RBRACKET) {
    joined = readCode();
    while (joined !== undefined && src.charCodeAt(pos) === COMMA) {
      pos++;
      const next = readCode();
      joined = next === undefined ? undefined : `${joined},${next}`;
    }
  }
  if (joined === undefined || src.charCodeAt(pos) !== RBRACKET) {
    pos = -1;
    return undefined;
  }
  pos++;
  if (pos - start <= 64) {
    lastConditionsText = [src.slice(start, pos), lastConditionsText[0] as string];
    lastConditions = [joined, lastConditions[0] as string];
  }
  return joined;
}

/**
 * A JSON number at pos, equal to what JSON.parse gives for it; NaN (never a JSON value) if there is none. Up to 15
 * digits without an exponent it is computed here: the digits as an integer below 2^53 divided by an exact power of
 * ten is one correctly rounded operation, as JSON.parse's conversion is. Longer numbers and exponents go to Number().
 */
function readNumber(): number {
  const start = pos;
  let i = pos;
  let c = src.charCodeAt(i);
  const negative = c === MINUS;
  if (negative) c = src.charCodeAt(++i);
  let mantissa = 0;
  let digits = 0;
  let scale = 0;
  if (c === 48 /* 0 */) {
    c = src.charCodeAt(++i);
  } else if (c >= 49 && c <= 57) {
    do {
      mantissa = mantissa * 10 + (c - 48);
      digits++;
      c = src.charCodeAt(++i);
    } while (c >= 48 && c <= 57);
  } else {
    pos = -1;
    return Number.NaN;
  }
  if (c === DOT) {
    c = src.charCodeAt(++i);
    if (!(c >= 48 && c <= 57)) {
      pos = -1;
      return Number.NaN;
    }
    do {
      mantissa = mantissa * 10 + (c - 48);
      digits++;
      scale++;
      c = src.charCodeAt(++i);
    } while (c >= 48 && c <= 57);
  }
  let exact = digits <= 15;
  if (c === 101 /* e */ || c === 69 /* E */) {
    c = src.charCodeAt(++i);
    if (c === 43 /* + */ || c === MINUS) c = src.charCodeAt(++i);
    if (!(c >= 48 && c <= 57)) {
      pos = -1;
      return Number.NaN;
    }
    do c = src.charCodeAt(++i);
    while (c >= 48 && c <= 57);
    exact = false;
  }
  pos = i;
  if (!exact) return Number(src.slice(start, i));
  const value = scale === 0 ? mantissa : mantissa / (POW10[scale] as number);
  return negative ? -value : value;
}

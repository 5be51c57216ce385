/**
 * The messages of Alpaca's market data v2 stream as the simulator sends them, with Alpaca's short field names.
 * Timestamps are RFC 3339 strings with nine fractional digits in UTC; prices and sizes are JSON numbers.
 */

/** A trade `T:"t"`. Stock sizes are whole shares; crypto sizes are fractional. */
export interface AlpacaTrade {
  readonly T: 't';
  readonly S: string;
  /** Trade id, strictly increasing per symbol. */
  readonly i: number;
  readonly x: string;
  readonly p: number;
  readonly s: number;
  readonly t: string;
  readonly c: readonly string[];
  readonly z: string;
}

/** A quote `T:"q"`; the bid is always below the ask. */
export interface AlpacaQuote {
  readonly T: 'q';
  readonly S: string;
  readonly bx: string;
  readonly bp: number;
  readonly bs: number;
  readonly ax: string;
  readonly ap: number;
  readonly as: number;
  readonly t: string;
  readonly c: readonly string[];
  readonly z: string;
}

/** A bar: `T:"b"` a closed minute, `T:"d"` the day so far; `t` is the start of the period. */
export interface AlpacaBar {
  readonly T: 'b' | 'd';
  readonly S: string;
  readonly o: number;
  readonly h: number;
  readonly l: number;
  readonly c: number;
  readonly v: number;
  readonly t: string;
  readonly n: number;
  readonly vw: number;
}

/** A correction `T:"c"` of the earlier trade `oi`, which becomes trade `ci`. */
export interface AlpacaTradeCorrection {
  readonly T: 'c';
  readonly S: string;
  readonly x: string;
  readonly oi: number;
  readonly op: number;
  readonly os: number;
  readonly oc: readonly string[];
  readonly ci: number;
  readonly cp: number;
  readonly cs: number;
  readonly cc: readonly string[];
  readonly t: string;
  readonly z: string;
}

/** A cancel (`a:"C"`) or error (`a:"E"`) `T:"x"` of the earlier trade `i`. */
export interface AlpacaTradeCancel {
  readonly T: 'x';
  readonly S: string;
  readonly i: number;
  readonly x: string;
  readonly p: number;
  readonly s: number;
  readonly a: 'C' | 'E';
  readonly t: string;
  readonly z: string;
}

export type AlpacaDataMessage = AlpacaTrade | AlpacaQuote | AlpacaBar | AlpacaTradeCorrection | AlpacaTradeCancel;

/** The subscribable channels, in the order the subscription reply lists them. */
export const CHANNELS = ['trades', 'quotes', 'bars', 'updatedBars', 'dailyBars', 'statuses', 'lulds'] as const;
export type Channel = (typeof CHANNELS)[number];

/** Which channel carries each data message type; corrections and cancels ride on the trade subscription. */
export const CHANNEL_OF_TYPE = {
  t: 'trades',
  c: 'trades',
  x: 'trades',
  q: 'quotes',
  b: 'bars',
  d: 'dailyBars',
} as const satisfies Record<AlpacaDataMessage['T'], Channel>;

export type AlpacaSubscription = { readonly T: 'subscription' } & {
  readonly [C in Channel | 'corrections' | 'cancelErrors']: readonly string[];
};

export interface AlpacaSuccess {
  readonly T: 'success';
  readonly msg: 'connected' | 'authenticated';
}

export interface AlpacaError {
  readonly T: 'error';
  readonly code: number;
  readonly msg: string;
}

export type AlpacaControlMessage = AlpacaSuccess | AlpacaError | AlpacaSubscription;
export type AlpacaServerMessage = AlpacaControlMessage | AlpacaDataMessage;

/** Alpaca's stream errors, code and text as the real service sends them. */
export const STREAM_ERRORS = {
  invalidSyntax: { T: 'error', code: 400, msg: 'invalid syntax' },
  notAuthenticated: { T: 'error', code: 401, msg: 'not authenticated' },
  authFailed: { T: 'error', code: 402, msg: 'auth failed' },
  alreadyAuthenticated: { T: 'error', code: 403, msg: 'already authenticated' },
  authTimeout: { T: 'error', code: 404, msg: 'auth timeout' },
  connectionLimitExceeded: { T: 'error', code: 406, msg: 'connection limit exceeded' },
  slowClient: { T: 'error', code: 407, msg: 'slow client' },
  internalError: { T: 'error', code: 500, msg: 'internal error' },
} as const satisfies Record<string, AlpacaError>;

/** What the feed hands to the rest of the agent: validated rows, tagged by dataset. */
import type { BarRow, QuoteRow, TradeEventRow, TradeRow } from '../../core/datasets.ts';
import type { EpochNs } from '../../core/column-types.ts';

/**
 * A trading status (Alpaca T:"s") or LULD price band (T:"l"). Accepted and counted, not stored: no dataset holds
 * them yet, and they are cheap to fetch again from Alpaca if one is ever added.
 */
export type MarketStatus =
  | {
      readonly type: 'trading_status';
      readonly symbol: string;
      readonly tsNs: EpochNs;
      /** Alpaca's `sc`, e.g. 'H' halted, 'T' trading. */
      readonly statusCode: string;
      readonly statusMessage: string;
      /** Alpaca's `rc`, e.g. 'LUDP' volatility pause. */
      readonly reasonCode: string;
      readonly reasonMessage: string;
      readonly tape: string;
    }
  | {
      readonly type: 'luld';
      readonly symbol: string;
      readonly tsNs: EpochNs;
      readonly limitUpPrice: number;
      readonly limitDownPrice: number;
      readonly indicator: string;
      readonly tape: string;
    };

export type FeedEvent =
  | { readonly kind: 'trade'; readonly row: TradeRow }
  | { readonly kind: 'quote'; readonly row: QuoteRow }
  | { readonly kind: 'bar'; readonly dataset: 'bars_1m' | 'bars_1d'; readonly row: BarRow }
  /** A trade correction (T:"c") or cancel/error (T:"x"): stored so compaction can apply it. */
  | { readonly kind: 'trade_event'; readonly row: TradeEventRow }
  /** A trading status or LULD band: an accepted message with no dataset (count it, do not store it). */
  | { readonly kind: 'status'; readonly status: MarketStatus };

export type FeedEventKind = FeedEvent['kind'];

/** Why a message was not accepted. A closed set, so rejects can be counted and exported by reason. */
export const REJECT_REASONS = [
  'malformed_frame',
  'not_an_object',
  'unknown_type',
  'missing_field',
  'wrong_type',
  'bad_timestamp',
  'bad_price',
  'bad_size',
  'bad_trade_id',
  'bad_symbol',
  'crossed_quote',
  /** A cancel/error (T:"x") whose action `a` is neither 'C' nor 'E'. */
  'bad_action',
  /**
   * A frame over the client's maxFrameBytes (dropped unread, counted as one message), or one over the WebSocket
   * maxPayload (the connection closes with 1009; counted as one message and the client reconnects).
   */
  'oversized_frame',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export interface Reject {
  readonly reason: RejectReason;
  readonly detail: string;
}

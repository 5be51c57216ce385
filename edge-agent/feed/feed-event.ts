/** What the feed hands to the rest of the agent: validated rows, tagged by dataset. */
import type { BarRow, QuoteRow, TradeEventRow, TradeRow } from '../../core/datasets.ts';

export type FeedEvent =
  | { readonly kind: 'trade'; readonly row: TradeRow }
  | { readonly kind: 'quote'; readonly row: QuoteRow }
  | { readonly kind: 'bar'; readonly dataset: 'bars_1m' | 'bars_1d'; readonly row: BarRow }
  /** A trade correction (T:"c") or cancel/error (T:"x"): stored so compaction can apply it. */
  | { readonly kind: 'trade_event'; readonly row: TradeEventRow };

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
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export interface Reject {
  readonly reason: RejectReason;
  readonly detail: string;
}

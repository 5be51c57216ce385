/**
 * `tickvault backfill`: fills the gaps the stream client recorded in `<dataDir>/gaps.jsonl` from Alpaca's historical
 * REST API. For each unfilled gap, every channel that has a historical dataset (trades, quotes, minute and daily
 * bars; statuses and LULDs have none) is fetched for every symbol of the gap, page by page, and each page's validated
 * rows are handed to onRows. The gap is marked filled (durably) only after onRows has resolved for every page of
 * every symbol and dataset; a gap that fails stays unfilled for the next run, so a rerun after success does nothing
 * and a rerun after a failure retries. Rows may overlap what the stream delivered at the gap's edges; the datasets'
 * identity columns let compaction drop the duplicates.
 */
import type { RowOf } from '../../core/datasets.ts';
import type { LogFn } from '../log.ts';
import { HISTORICAL_BASE_URL } from './alpaca-endpoints.ts';
import type { StreamChannel } from './alpaca-messages.ts';
import type { RejectReason } from './feed-event.ts';
import { type Gap, GapLog } from './gap-log.ts';
import { AlpacaHistoricalClient, type HistoricalClientOptions, type HistoricalDataset } from './historical-client.ts';

export interface BackfillOptions {
  /** The agent's data directory, holding gaps.jsonl. */
  readonly dataDir: string;
  /** @default HISTORICAL_BASE_URL ('https://data.alpaca.markets') */
  readonly baseUrl?: string;
  readonly keyId: string;
  readonly secretKey: string;
  /** Receives each page's rows; the gap is marked filled only after every call for it resolved. */
  readonly onRows: <D extends HistoricalDataset>(dataset: D, rows: readonly RowOf<D>[]) => void | Promise<void>;
  readonly log: LogFn;
  /** Tuning of the REST client (stockFeed, pageLimit, retries, backoff, fetch). */
  readonly client?: Omit<HistoricalClientOptions, 'baseUrl' | 'keyId' | 'secretKey' | 'log'>;
}

export interface BackfillReport {
  /** Unfilled gaps found at the start. */
  readonly gapsPending: number;
  readonly gapsFilled: number;
  readonly gapsFailed: readonly { readonly id: string; readonly error: string }[];
  readonly rows: Readonly<Record<HistoricalDataset, number>>;
  readonly rejected: Readonly<Partial<Record<RejectReason, number>>>;
  readonly requests: number;
  readonly retries: number;
}

/** The historical dataset behind each stream channel; statuses and LULDs have none. */
export const DATASET_OF_CHANNEL: Readonly<Record<StreamChannel, HistoricalDataset | undefined>> = {
  trades: 'trades',
  quotes: 'quotes',
  bars: 'bars_1m',
  updatedBars: 'bars_1m',
  dailyBars: 'bars_1d',
  statuses: undefined,
  lulds: undefined,
};

/** Fills every unfilled gap of the data directory's gap log; see the file comment. */
export async function runBackfill(options: BackfillOptions): Promise<BackfillReport> {
  const gapLog = GapLog.inDataDir(options.dataDir, options.log);
  const client = new AlpacaHistoricalClient({
    ...options.client,
    baseUrl: options.baseUrl ?? HISTORICAL_BASE_URL,
    keyId: options.keyId,
    secretKey: options.secretKey,
    log: options.log,
  });
  const pending = await gapLog.unfilled();
  const rows: Record<HistoricalDataset, number> = { trades: 0, quotes: 0, bars_1m: 0, bars_1d: 0 };
  const rejected: Partial<Record<RejectReason, number>> = {};
  const failed: { id: string; error: string }[] = [];
  let filled = 0;
  options.log('info', 'backfill starting', { gapLog: gapLog.path, gaps: pending.length });

  for (const gap of pending) {
    try {
      const delivered = await fillGap(gap, client, options, rejected);
      await gapLog.markFilled(gap.id);
      for (const [dataset, n] of Object.entries(delivered) as [HistoricalDataset, number][]) rows[dataset] += n;
      filled++;
      options.log('info', 'gap filled', { id: gap.id, symbols: gap.symbols.length, rows: delivered });
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      failed.push({ id: gap.id, error });
      options.log('error', 'gap not filled; it stays pending for the next run', { id: gap.id, error });
    }
  }
  const report: BackfillReport = {
    gapsPending: pending.length,
    gapsFilled: filled,
    gapsFailed: failed,
    rows,
    rejected,
    requests: client.stats.requests,
    retries: client.stats.retries,
  };
  options.log('info', 'backfill finished', { ...report });
  return report;
}

async function fillGap(
  gap: Gap,
  client: AlpacaHistoricalClient,
  options: BackfillOptions,
  rejected: Partial<Record<RejectReason, number>>,
): Promise<Partial<Record<HistoricalDataset, number>>> {
  const datasets = [...new Set(gap.channels.map((c) => DATASET_OF_CHANNEL[c]).filter((d) => d !== undefined))];
  const skipped = gap.channels.filter((c) => DATASET_OF_CHANNEL[c] === undefined);
  if (skipped.length > 0) options.log('info', 'gap channels without historical data skipped', { id: gap.id, channels: skipped });
  const delivered: Partial<Record<HistoricalDataset, number>> = {};
  for (const dataset of datasets) {
    for (const symbol of gap.symbols) {
      let rejects = 0;
      for await (const page of client.pages(dataset, symbol, gap.fromNs, gap.toNs)) {
        for (const r of page.rejects) rejected[r.reason] = (rejected[r.reason] ?? 0) + 1;
        rejects += page.rejects.length;
        if (page.rows.length === 0) continue;
        await options.onRows(dataset, page.rows);
        delivered[dataset] = (delivered[dataset] ?? 0) + page.rows.length;
      }
      if (rejects > 0) options.log('warn', 'backfill rows rejected', { id: gap.id, dataset, symbol, rejects });
    }
  }
  return delivered;
}

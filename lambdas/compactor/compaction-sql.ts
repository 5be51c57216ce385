/**
 * The DuckDB SQL of compaction: the deduplicating, sorting SELECT of each dataset, the roll-up of 1m bars into
 * daily bars, and the queries that verify a cold file before it is published.
 *
 * Every ordering that decides which copy of a duplicate survives ends in every column, and every floating-point sum
 * is an ordered aggregate, so the same inputs give the same bytes whatever DuckDB's thread scheduling.
 *
 * Inputs are relations: parquetRelation(paths) over files the compactor made under its own scratch directory (COPY
 * takes no parameters, so paths are quoted literals).
 */
import { type DatasetName, columnsOf } from '../../core/datasets.ts';

const q = (identifier: string): string => `"${identifier}"`;

export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** `read_parquet([...], hive_partitioning = false)` over local files. */
export function parquetRelation(paths: readonly string[]): string {
  if (paths.length === 0) throw new RangeError('a DuckDB file list needs at least one file');
  return `read_parquet([${paths.map(sqlString).join(', ')}], hive_partitioning = false)`;
}

/** The columns that identify one row: duplicates share them. */
export function identityColumns(dataset: DatasetName): string[] {
  if (dataset === 'trades') return ['symbol', 'trade_id'];
  if (dataset === 'quotes' || dataset === 'trade_events') return columnsOf(dataset).map((c) => c.name);
  return ['symbol', 'ts'];
}

const NS_PER_DAY = '86400000000000';

export interface CompactionSelectOptions {
  /**
   * How trades are deduplicated. 'identity' keeps one row per (symbol, trade_id), the least in the order of every
   * column. 'distinct-rows' keeps each distinct full row: a hash aggregate instead of a sort, and the same result
   * whenever the copies of a trade are identical, which the caller checks (a trade left twice shows in the row
   * count) before falling back to 'identity'.
   * @default 'identity'
   */
  readonly dedupe?: 'identity' | 'distinct-rows';
  /**
   * With 'distinct-rows': the input as relations that no row's copies span (the warm objects of one day each: a
   * row's copies share its time, so its day), each deduplicated on its own. A day's hash table fits in memory where
   * a month's spills at the design's volume. A row whose copies did span two of them would be left twice, which the
   * caller's check sees as it sees copies that differ.
   * @default [source]
   */
  readonly parts?: readonly string[];
  /**
   * Deduplicate trades again after the events are applied (merge mode: the previous cold file already holds the
   * corrected trade, and a late copy of the original is corrected into a second one).
   * @default false
   */
  readonly dedupeAfterEvents?: boolean;
}

/**
 * The deduplicating, sorting SELECT for a dataset over an input relation. Which copy of a duplicate survives is fixed
 * by a total order over every column, so reruns produce identical files.
 *
 * Trades also take the trade events: a cancel or error removes the trade it names; a correction replaces that
 * trade's id, price, size and conditions with the corrected ones and keeps its time (the latest correction of a
 * trade wins; a correction of a correction is applied once, not chained).
 */
export function compactionSelect(dataset: DatasetName, source: string, events?: string, options: CompactionSelectOptions = {}): string {
  const columns = columnsOf(dataset).map((c) => c.name);
  const all = columns.map(q).join(', ');
  if (dataset === 'trades') {
    const parts = options.parts !== undefined && options.parts.length > 0 ? options.parts : [source];
    const trades = options.dedupe !== 'distinct-rows'
      ? `SELECT ${all} FROM ${source}
      QUALIFY row_number() OVER (PARTITION BY symbol, trade_id ORDER BY ${all}) = 1`
      : parts.length === 1
        ? `SELECT DISTINCT ${all} FROM ${parts[0] ?? source}`
        : `SELECT ${all} FROM (${parts.map((p) => `SELECT DISTINCT ${all} FROM ${p}`).join('\n        UNION ALL ')})`;
    if (events === undefined) return `${trades} ORDER BY ts, trade_id`;
    const applied = `WITH trades AS (${trades}),
      distinct_events AS (SELECT DISTINCT * FROM ${events}),
      removed AS (SELECT DISTINCT symbol, trade_id FROM distinct_events WHERE action IN ('cancel', 'error')),
      corrected AS (
        SELECT symbol, trade_id, corrected_trade_id, corrected_price, corrected_size, corrected_conditions FROM distinct_events
        WHERE action = 'correction'
        QUALIFY row_number() OVER (PARTITION BY symbol, trade_id ORDER BY ts_ns DESC, corrected_trade_id DESC) = 1)
      SELECT t.ts, t.ts_ns, t.symbol,
        coalesce(c.corrected_trade_id, t.trade_id) AS trade_id,
        coalesce(c.corrected_price, t.price) AS price,
        coalesce(c.corrected_size, t.size) AS size,
        t.exchange,
        CASE WHEN c.trade_id IS NULL THEN t.conditions ELSE c.corrected_conditions END AS conditions,
        t.tape
      FROM trades t
      LEFT JOIN corrected c ON c.symbol = t.symbol AND c.trade_id = t.trade_id
      ANTI JOIN removed r ON r.symbol = t.symbol AND r.trade_id = t.trade_id`;
    if (options.dedupeAfterEvents === true) {
      return `SELECT ${all} FROM (${applied})
        QUALIFY row_number() OVER (PARTITION BY symbol, trade_id ORDER BY ${all}) = 1
        ORDER BY ts, trade_id`;
    }
    return `${applied} ORDER BY ts, trade_id`;
  }
  if (dataset === 'quotes' || dataset === 'trade_events') {
    return `SELECT DISTINCT ${all} FROM ${source} ORDER BY ${all}`;
  }
  // Bars: one per (symbol, start time); an updated bar carries more trades than the bar it replaces.
  return `SELECT ${all} FROM ${source}
    QUALIFY row_number() OVER (PARTITION BY symbol, ts ORDER BY trade_count DESC, volume DESC, ${all}) = 1
    ORDER BY ts`;
}

/** Relations of bar rows; each may be absent. */
export interface RollupInputs {
  /** The year's cold 1m monthly files. */
  readonly minute?: string;
  /** The feed's own daily bars (warm bars_1d). */
  readonly daily?: string;
  /** The previous daily-bar file, standing in for feed bars that have expired from the warm tier. */
  readonly previous?: string;
}

/**
 * Daily bars from 1m bars, one per symbol and UTC day: open = first open, high = max, low = min, close = last close,
 * volume = sum, trade_count = sum, vwap = Σ(vwap·volume) / Σvolume; ts is midnight UTC. A day whose 1m bars all have
 * zero volume has no volume to weight by: its vwap is the day's close.
 *
 * A day with 1m bars is always the roll-up's; the feed's daily bar of a day without 1m bars fills the gap (it keeps
 * its own ts, e.g. 04:00 UTC for Alpaca's US sessions); the previous file's bar of a day neither has comes last.
 */
export function rollupSelect(inputs: RollupInputs): string {
  const columns = columnsOf('bars_1d').map((c) => c.name);
  const all = columns.map(q).join(', ');
  const parts: string[] = [];
  if (inputs.minute !== undefined) {
    parts.push(`SELECT make_timestamp_ns(day * ${NS_PER_DAY}) AS ts, day * ${NS_PER_DAY} AS ts_ns, symbol,
        open, high, low, close, volume, trade_count,
        CASE WHEN volume > 0 THEN price_volume / volume ELSE close END AS vwap, 1 AS priority
      FROM (
        SELECT ts_ns // ${NS_PER_DAY} AS day, symbol,
          arg_min(open, ts_ns) AS open, max(high) AS high, min(low) AS low, arg_max(close, ts_ns) AS close,
          sum(volume ORDER BY ts_ns) AS volume,
          CAST(sum(trade_count) AS BIGINT) AS trade_count,
          sum(vwap * volume ORDER BY ts_ns) AS price_volume
        FROM ${inputs.minute}
        GROUP BY day, symbol)`);
  }
  if (inputs.daily !== undefined) parts.push(`SELECT ${all}, 2 AS priority FROM ${inputs.daily}`);
  if (inputs.previous !== undefined) parts.push(`SELECT ${all}, 3 AS priority FROM ${inputs.previous}`);
  if (parts.length === 0) throw new RangeError('a roll-up needs at least one input');
  return `SELECT ${all} FROM (${parts.join('\n      UNION ALL BY NAME\n      ')})
    QUALIFY row_number() OVER (PARTITION BY symbol, ts_ns // ${NS_PER_DAY} ORDER BY priority, ${all}) = 1
    ORDER BY ts_ns`;
}

/**
 * Rows in, distinct identities in, and rows of another symbol than `symbol` (which must be none), for the datasets
 * other than trades (trades: tradeInputSelect and distinctTradeIdsSelect).
 */
export function inputCountsSelect(dataset: DatasetName, input: string, symbol: string): string {
  const foreign = `count(*) FILTER (WHERE symbol <> ${sqlString(symbol)}) AS foreign_rows`;
  const identity = identityColumns(dataset).map(q).join(', ');
  return `SELECT count(*) AS rows_in,
      (SELECT count(*) FROM (SELECT DISTINCT ${identity} FROM ${input})) AS distinct_in,
      ${foreign}
    FROM ${input}`;
}

/**
 * Trades: rows in, the range of their trade ids, and rows of another symbol than `symbol` (which must be none), in
 * one pass over two columns. The range decides how distinctTradeIdsSelect counts.
 */
export function tradeInputSelect(input: string, symbol: string): string {
  return `SELECT count(*) AS rows_in, min(trade_id) AS min_id, max(trade_id) AS max_id,
      count(*) FILTER (WHERE symbol <> ${sqlString(symbol)}) AS foreign_rows
    FROM ${input}`;
}

/** Widest trade-id range counted with a bitmap: 2^28 bits, 32 MiB a thread (DuckDB refuses beyond 2^30). */
export const ID_BITMAP_MAX_BITS = 2n ** 28n;

/**
 * Distinct trade ids in (with one symbol, the distinct identities), exactly. Venues that number their trades in
 * sequence (Binance does, per symbol) give a month's ids a range not much wider than their count: a bitmap over
 * the range sets one bit per id, and with the pass that finds the range costs a third of the CPU of a hash table's
 * distinct count (8M rows: 0.9 s against 2.2 to 2.9 s). Ids spread over more than ID_BITMAP_MAX_BITS are counted
 * with the hash table.
 */
export function distinctTradeIdsSelect(input: string, range: { readonly min: bigint; readonly max: bigint } | undefined): string {
  if (range === undefined || range.max - range.min + 1n > ID_BITMAP_MAX_BITS) {
    return `SELECT count(DISTINCT trade_id) AS distinct_in FROM ${input}`;
  }
  // Bounds as cast strings: the literal -9223372036854775808 would parse as a negated INT128.
  const bound = (id: bigint): string => `CAST('${id}' AS BIGINT)`;
  return `SELECT bit_count(bitstring_agg(trade_id, ${bound(range.min)}, ${bound(range.max)})) AS distinct_in FROM ${input}`;
}

/**
 * How many of the distinct trades of `input` the events cancel, and how many more they correct. The events are few:
 * their ids are built into a hash table that the input's rows probe, so the input is read once and never hashed.
 */
export function appliedEventsSelect(input: string, events: string): string {
  return `WITH e AS (
        SELECT symbol, trade_id, bool_or(action IN ('cancel', 'error')) AS cancelled, bool_or(action = 'correction') AS corrected
        FROM ${events} GROUP BY symbol, trade_id),
      named AS (SELECT DISTINCT t.symbol, t.trade_id FROM ${input} t SEMI JOIN e ON e.symbol = t.symbol AND e.trade_id = t.trade_id)
    SELECT count(*) FILTER (WHERE e.cancelled) AS cancels,
           count(*) FILTER (WHERE e.corrected AND NOT e.cancelled) AS corrections
    FROM named JOIN e ON e.symbol = named.symbol AND e.trade_id = named.trade_id`;
}

/** Rows of the output minus its distinct identities: 0 when no identity is there twice. */
export function duplicateIdentitiesSelect(dataset: DatasetName, output: string): string {
  const identity = dataset === 'bars_1d' ? `symbol, ts_ns // ${NS_PER_DAY}` : identityColumns(dataset).map(q).join(', ');
  return `SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT ${identity} FROM ${output})) AS duplicates FROM ${output}`;
}

/**
 * Identities of the input that the output lacks, leaving out trades an event names (cancelled, or corrected into
 * another id): 0 when nothing was lost. Used where the row arithmetic of a full compaction does not apply.
 */
export function lostIdentitiesSelect(dataset: DatasetName, input: string, output: string, events?: string): string {
  if (dataset === 'bars_1d') {
    return `SELECT count(*) AS lost FROM (
      SELECT symbol, ts_ns // ${NS_PER_DAY} AS day FROM ${input}
      EXCEPT SELECT symbol, ts_ns // ${NS_PER_DAY} FROM ${output})`;
  }
  const identity = identityColumns(dataset).map(q).join(', ');
  const named = dataset === 'trades' && events !== undefined
    ? `WHERE NOT EXISTS (SELECT 1 FROM ${events} e WHERE e.symbol = i.symbol AND e.trade_id = i.trade_id)`
    : '';
  return `SELECT count(*) AS lost FROM (
    SELECT ${identity} FROM ${input} i ${named}
    EXCEPT SELECT ${identity} FROM ${output})`;
}

export function rowCountSelect(relation: string): string {
  return `SELECT count(*) AS n FROM ${relation}`;
}

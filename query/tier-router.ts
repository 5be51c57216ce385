/**
 * The tier router: one query over hot, warm and cold, answered as ONE time-ordered, deduplicated result.
 *
 * Precedence, per dataset and symbol, when every tier may answer (--tier all):
 *
 *   1. Cold wins for compacted periods. A month whose cold file exists is read from that file alone: compaction
 *      applied the trade cancels and corrections there, and the warm copies of the month are raw (they would
 *      resurrect cancelled trades). Hot rows inside a compacted month are dropped for the same reason.
 *   2. Hot wins from its oldest retained event on. The agent's rings hold every event from their oldest one to now,
 *      including events not yet sealed into warm files or uploaded; stored copies of that span would only repeat
 *      them. So the stored tiers answer [from, cut) and the hot tier [cut, to), where cut is the oldest hot event
 *      of that symbol (outside compacted months). A range the rings cover entirely is answered from memory.
 *   3. Warm answers everything else: the store's warm objects and the agent's local warm files, read together and
 *      deduplicated (an uploaded file and its local original hold the same events).
 *
 * An agent whose read API does not answer leaves the stored tiers to answer alone, with a note saying so (the
 * newest events, not yet sealed, are then missing); with --tier hot it is an error.
 *
 * Within what is read, duplicates go: trades by (symbol, trade_id) keeping the lowest tier rank (cold, warm, hot),
 * quotes by the full row, bars by (symbol, ts). Daily bars are the exception to rule 1 (their cold file is per year;
 * see source-plan.ts). `--tier hot|warm|cold` forces one tier and ignores the others, compaction included.
 *
 * Engines: DuckDB runs everything in one statement (hot rows loaded into a temp table). Athena reads the stored
 * tiers from the Glue tables; the hot segment, which Athena cannot see, is computed by DuckDB and merged (merge.ts);
 * the segments are disjoint in time, so aggregates combine exactly. Raw SQL on Athena reads the stored tiers only.
 */
import type { AthenaClient } from '@aws-sdk/client-athena';
import type { ObjectStore } from '../core/object-store/object-store.ts';
import { type EpochNs, dateOfNs } from '../core/time.ts';
import { AthenaDialect, athenaParamLiteral } from './athena-sql.ts';
import { runAthenaQuery } from './athena-runner.ts';
import { compileRelations, compileSelect } from './compile-sql.ts';
import { HotTierReadError, QueryInputError } from './errors.ts';
import { type HotDataset, type HotRow, readHotRows } from './hot-client.ts';
import { runOnDuckDb } from './local-query.ts';
import { mergeResults } from './merge.ts';
import { type Query, type QueryResult, type TierChoice, datasetsOf, resultColumns } from './model.ts';
import { countQuestionPlaceholders, hasDollarPlaceholders, prependCtes } from './raw-sql.ts';
import {
  type HotSegment, type ManifestCache, type QuerySources, type StoredPlan, coldPeriodOfDay, findCompactedPeriods, planStored,
} from './source-plan.ts';

export const ENGINES = ['duckdb', 'athena'] as const;
export type Engine = (typeof ENGINES)[number];

export interface AthenaTarget {
  readonly client: AthenaClient;
  readonly workgroup: string;
  readonly database: string;
  readonly outputLocation?: string;
}

export interface QueryOptions {
  readonly store: ObjectStore;
  /** @default 'duckdb' */
  readonly engine?: Engine;
  /** @default 'all' */
  readonly tier?: TierChoice;
  /** The agent's warm directory, read in place (DuckDB only). */
  readonly warmDir?: string;
  /** Base URL of the agent's read API; without it the hot tier is not asked. */
  readonly hotUrl?: string;
  /** Required for the athena engine. */
  readonly athena?: AthenaTarget;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
  /** Short progress lines for a terminal. */
  readonly onProgress?: (text: string) => void;
  /** Things the user should know about how the result was made (printed on stderr by the CLI). */
  readonly onNote?: (text: string) => void;
}

const isHotDataset = (d: string): d is HotDataset => d === 'trades' || d === 'quotes';

/** Runs a query over the tiers; see the precedence above. */
export async function runQuery(query: Query, options: QueryOptions): Promise<QueryResult> {
  const engine = options.engine ?? 'duckdb';
  const tier = options.tier ?? 'all';
  const { fromNs, toNs } = query.range;
  const datasets = datasetsOf(query);
  if (tier === 'hot' && query.kind === 'bars') {
    throw new QueryInputError('tier', 'tier hot: the hot tier keeps no stored bars; build bars from its trades with --interval');
  }
  if (tier === 'hot' && options.hotUrl === undefined) throw new QueryInputError('hot', 'tier hot needs the read API URL (--hot URL, or httpPort in --config)');
  if (engine === 'athena' && options.athena === undefined) throw new QueryInputError('engine', 'engine athena needs an Athena client, workgroup and database');
  let askHot = (tier === 'all' || tier === 'hot') && options.hotUrl !== undefined && !(engine === 'athena' && query.kind === 'sql');
  if (engine === 'athena' && query.kind === 'sql' && tier !== 'warm' && tier !== 'cold' && options.hotUrl !== undefined) {
    options.onNote?.('raw SQL on Athena reads the stored tiers only; the hot tier is left out');
  }
  if (engine === 'athena' && tier === 'hot') throw new QueryInputError('engine', 'engine athena reads the stored tiers; use --engine duckdb for --tier hot');

  const stored: StoredPlan[] = [];
  const hot: HotSegment[] = [];
  const manifests: ManifestCache = new Map();
  for (const dataset of datasets) {
    for (const symbol of query.symbols) {
      options.onProgress?.(`planning ${dataset} ${symbol}`);
      if (tier === 'warm' || tier === 'cold') {
        stored.push(await planStored(options.store, dataset, symbol, query.range, { tier, manifests, ...plannerOptions(engine, options) }));
        continue;
      }
      let hotRows: HotRow<HotDataset>[] = [];
      if (askHot && isHotDataset(dataset)) {
        try {
          hotRows = await readHotRows(options.hotUrl as string, dataset, symbol, options.signal === undefined ? {} : { signal: options.signal });
        } catch (error) {
          // With every tier asked, an agent that is down costs the newest events, not the query: say so and go on.
          if (!(error instanceof HotTierReadError) || tier === 'hot') throw error;
          options.onNote?.(`${error.message}; answering from the stored tiers only`);
          askHot = false;
        }
      }
      if (tier === 'hot') {
        if (!isHotDataset(dataset)) continue; // raw SQL's bars relation: the hot tier keeps none
        hot.push({ dataset, symbol, range: query.range, rows: hotRows.filter((r) => r.ts_ns >= fromNs && r.ts_ns < toNs) });
        continue;
      }
      const compacted = await findCompactedPeriods(options.store, dataset, symbol, query.range);
      const live = hotRows.filter((r) => !compacted.has(coldPeriodOfDay(dataset, dateOfNs(r.ts_ns))));
      const cut = live.reduce<EpochNs | undefined>((min, r) => (min === undefined || r.ts_ns < min ? r.ts_ns : min), undefined);
      const storedTo = cut !== undefined && cut < toNs ? cut : toNs;
      if (storedTo > fromNs) {
        stored.push(await planStored(options.store, dataset, symbol, { fromNs, toNs: storedTo }, { tier: 'all', compacted, manifests, ...plannerOptions(engine, options) }));
      }
      if (cut !== undefined && cut < toNs && isHotDataset(dataset)) {
        const hotFrom = cut > fromNs ? cut : fromNs;
        hot.push({ dataset, symbol, range: { fromNs: hotFrom, toNs }, rows: live.filter((r) => r.ts_ns >= hotFrom && r.ts_ns < toNs) });
      }
    }
  }
  const sources: QuerySources = { stored, hot };
  return engine === 'duckdb' ? runLocally(query, sources, options) : runOnAthena(query, sources, options);
}

function plannerOptions(engine: Engine, options: QueryOptions): { warmDir?: string; listWarm: boolean } {
  return engine === 'athena'
    ? { listWarm: false }
    : { listWarm: true, ...(options.warmDir !== undefined && { warmDir: options.warmDir }) };
}

function runLocally(query: Query, sources: QuerySources, options: QueryOptions): Promise<QueryResult> {
  return runOnDuckDb(query, sources, {
    store: options.store,
    ...(options.signal !== undefined && { signal: options.signal }),
    ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
    ...(options.onProgress !== undefined && {
      onProgress: (pct: number) => options.onProgress?.(`duckdb ${pct >= 0 ? `${pct.toFixed(0)}%` : 'working'}`),
    }),
  });
}

/** The statement and execution parameters Athena runs for a query over the stored plans. */
export function compileForAthena(query: Query, stored: readonly StoredPlan[]): { sql: string; parameters: string[] } {
  const dialect = new AthenaDialect((dataset) => stored.filter((p) => p.dataset === dataset));
  const ctes = compileRelations(dialect, query).map((r) => `${r.name} AS (\n${r.sql}\n)`).join(',\n');
  if (query.kind !== 'sql') {
    const select = compileSelect(dialect, query);
    return { sql: prependCtes(ctes, select), parameters: dialect.parameters };
  }
  if (hasDollarPlaceholders(query.sql)) throw new QueryInputError('sql', 'sql: Athena takes ? placeholders, not $1');
  const placeholders = countQuestionPlaceholders(query.sql);
  if (placeholders !== query.params.length) {
    throw new QueryInputError('sql', `sql: the statement has ${placeholders} ? placeholder(s), ${query.params.length} --param given`);
  }
  // The relations' placeholders come first in the text, so theirs come first in the list.
  return { sql: prependCtes(ctes, query.sql), parameters: [...dialect.parameters, ...query.params.map(athenaParamLiteral)] };
}

async function runOnAthena(query: Query, sources: QuerySources, options: QueryOptions): Promise<QueryResult> {
  const target = options.athena as AthenaTarget;
  const hotPart = sources.hot.some((s) => s.rows.length > 0) ? await runLocally(query, { stored: [], hot: sources.hot }, options) : undefined;
  if (sources.stored.length === 0 && hotPart !== undefined) return hotPart;
  const { sql, parameters } = compileForAthena(query, sources.stored);
  const columns = resultColumns(query);
  const result = await runAthenaQuery(target.client, {
    sql, parameters, workgroup: target.workgroup, database: target.database,
    ...(target.outputLocation !== undefined && { outputLocation: target.outputLocation }),
    ...(columns !== undefined && { columns }),
  }, {
    ...(options.signal !== undefined && { signal: options.signal }),
    ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
    onProgress: (p) => options.onProgress?.(`athena ${p.state.toLowerCase()} ${(p.elapsedMs / 1000).toFixed(1)} s, ${(p.dataScannedBytes / 2 ** 20).toFixed(1)} MB scanned`),
  });
  const storedResult: QueryResult = {
    columns: result.columns, rows: result.rows,
    stats: {
      engine: 'athena',
      files: [],
      hotRows: 0,
      athena: {
        queryExecutionId: result.queryExecutionId, dataScannedBytes: result.dataScannedBytes,
        estimatedCostUsd: result.estimatedCostUsd, engineExecutionMs: result.engineExecutionMs,
      },
    },
  };
  return hotPart === undefined ? storedResult : mergeResults(query, storedResult, hotPart);
}


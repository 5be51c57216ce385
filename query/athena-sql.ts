/**
 * The Athena (Trino) dialect: branches read the Glue tables `cold_<dataset>` and `warm_<dataset>` (lib/constructs/
 * dataset-table.ts), pinned to exactly the partitions the plan picked; every value is a `?` placeholder with its
 * execution parameter. Athena takes an execution parameter as literal SQL text, so a text value is sent as one
 * quoted literal; the values that reach here are already validated (symbols by the symbol rules, partitions built
 * from dates, integers from bigint), and text with a quote is refused outright rather than escaped.
 *
 * Table shapes the SQL relies on (checked by test/query-athena-sql.test.ts against the CDK definitions):
 *   cold_<d>  every dataset column; partitions year, month (strings 'YYYY', 'MM'); daily bars: year only
 *   warm_<d>  every dataset column but symbol; partitions date ('YYYY-MM-DD') and symbol, which holds the path
 *             form (BTC%2FUSD) and is injected: every query must pin it with '='.
 */
import { COLUMN_TYPES, type ColumnType } from '../core/column-types.ts';
import { type DatasetName, columnsOf } from '../core/datasets.ts';
import { symbolToPath } from '../core/symbols.ts';
import type { IsoDate } from '../core/time.ts';
import { type SqlDialect, TIER_RANK, ident } from './compile-sql.ts';
import { QueryInputError } from './errors.ts';
import type { RawParam } from './model.ts';
import type { StoredPlan } from './source-plan.ts';

/**
 * Datasets with a warm table (lib/constructs/catalog.ts WARM_DATASETS): daily bars have none, so on Athena they
 * come from their cold year files only.
 */
export const ATHENA_WARM_DATASETS: readonly DatasetName[] = ['trades', 'trade_events', 'quotes', 'bars_1m', 'bars_5m'];

/** The Glue table of a dataset in a tier, as the CDK app names it. */
export function glueTableOf(tier: 'warm' | 'cold', dataset: DatasetName): string {
  return `${tier}_${dataset}`;
}

/** Athena's type names for the dataset column types (string columns are varchar in Trino). */
const TRINO_TYPES: Record<ColumnType, string> = {
  timestamp_ns: COLUMN_TYPES.timestamp_ns.glue,
  int64: COLUMN_TYPES.int64.glue,
  float64: COLUMN_TYPES.float64.glue,
  string: 'varchar',
};

/** One text value as an Athena literal. */
export function athenaStringLiteral(value: string): string {
  // eslint-disable-next-line no-control-regex
  if (/['\\\u0000-\u001f\u007f]/.test(value)) {
    throw new QueryInputError('parameter', `value ${JSON.stringify(value.slice(0, 40))} cannot be an Athena parameter (quote, backslash or control character)`);
  }
  return `'${value}'`;
}

/** A raw-SQL parameter as an Athena literal. */
export function athenaParamLiteral(param: RawParam): string {
  switch (param.type) {
    case 'bigint': return param.value.toString();
    case 'double': return `DOUBLE '${String(param.value)}'`;
    case 'string': return athenaStringLiteral(param.value);
  }
}

/** Consecutive days as [first, last] runs. */
export function dayRuns(days: readonly IsoDate[]): [IsoDate, IsoDate][] {
  const runs: [IsoDate, IsoDate][] = [];
  for (const day of days) {
    const last = runs.at(-1);
    if (last !== undefined && Date.parse(`${day}T00:00:00Z`) - Date.parse(`${last[1]}T00:00:00Z`) === 86_400_000) last[1] = day;
    else runs.push([day, day]);
  }
  return runs;
}

export class AthenaDialect implements SqlDialect {
  readonly name = 'athena';
  /** Execution parameters, in the order of the `?` in the text generated so far. */
  readonly parameters: string[] = [];

  constructor(private readonly plansOf: (dataset: DatasetName) => readonly StoredPlan[]) {}

  bigint(value: bigint): string {
    this.parameters.push(value.toString());
    return '?';
  }

  string(value: string): string {
    this.parameters.push(athenaStringLiteral(value));
    return '?';
  }

  // Trino has no first/last aggregate; min_by over a ROW key breaks ties between equal timestamps by trade id.
  firstBy(value: string, order: string): string {
    return `min_by(${value}, ROW(${order}))`;
  }

  lastBy(value: string, order: string): string {
    return `max_by(${value}, ROW(${order}))`;
  }

  typeName(type: ColumnType): string {
    return TRINO_TYPES[type];
  }

  coldOnly(dataset: DatasetName): boolean {
    const plans = this.plansOf(dataset);
    const warm = ATHENA_WARM_DATASETS.includes(dataset) && plans.some((p) => p.warmDays.length > 0);
    return plans.length > 0 && !warm && plans.some((p) => p.coldPeriods.length > 0);
  }

  branches(dataset: DatasetName): string[] {
    const out: string[] = [];
    for (const plan of this.plansOf(dataset)) {
      // Text is built left to right, so each placeholder is recorded in the order it appears.
      for (const period of plan.coldPeriods) {
        const cols = columnsOf(dataset).map((c) => ident(c.name)).join(', ');
        const head = `SELECT ${cols}, ${TIER_RANK.cold} AS tv_rank, CAST(${this.bigint(plan.range.toNs)} AS bigint) AS tv_end FROM ${ident(glueTableOf('cold', dataset))}`;
        const partition = /^\d{4}$/.test(period)
          ? `"year" = ${this.string(period)}`
          : `"year" = ${this.string(period.slice(0, 4))} AND "month" = ${this.string(period.slice(5, 7))}`;
        out.push(`${head}
  WHERE ${partition} AND "symbol" = ${this.string(plan.symbol)} AND "ts_ns" >= ${this.bigint(plan.range.fromNs)} AND "ts_ns" < ${this.bigint(plan.range.toNs)}`);
      }
      for (const [first, last] of ATHENA_WARM_DATASETS.includes(dataset) ? dayRuns(plan.warmDays) : []) {
        // The warm table's symbol is the partition (path form); turned back into the symbol so both tiers agree.
        const cols = columnsOf(dataset).map((c) => (c.name === 'symbol' ? `replace("symbol", '%2F', '/') AS "symbol"` : ident(c.name))).join(', ');
        const head = `SELECT ${cols}, ${TIER_RANK.warm} AS tv_rank, CAST(${this.bigint(plan.range.toNs)} AS bigint) AS tv_end FROM ${ident(glueTableOf('warm', dataset))}`;
        out.push(`${head}
  WHERE "symbol" = ${this.string(symbolToPath(plan.symbol))} AND "date" >= ${this.string(first)} AND "date" <= ${this.string(last)} AND "ts_ns" >= ${this.bigint(plan.range.fromNs)} AND "ts_ns" < ${this.bigint(plan.range.toNs)}`);
      }
    }
    return out;
  }
}

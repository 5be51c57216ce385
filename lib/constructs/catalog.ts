/**
 * The Glue database Athena queries the tiers through, and one table per (dataset, tier).
 * Tables hold only metadata; dropping one never touches an object in the bucket.
 */
import { Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { DatasetName } from '../../core/datasets.ts';
import { InfraConfigError } from '../errors.ts';
import { DatasetTable, type ProjectionRange, type Tier } from './dataset-table.ts';

export interface TableSpec {
  readonly dataset: DatasetName;
  readonly tier: Tier;
}

/** Datasets the agent uploads to warm/ (daily bars are not kept intraday). */
export const WARM_DATASETS = ['trades', 'trade_events', 'quotes', 'bars_1m', 'bars_5m'] as const satisfies readonly DatasetName[];
/** Datasets kept in cold/: every warm dataset compacted per month, and daily bars per year. */
export const COLD_DATASETS = ['trades', 'trade_events', 'quotes', 'bars_1m', 'bars_5m', 'bars_1d'] as const satisfies readonly DatasetName[];

/** The tables a catalog starts with when none are given: one per dataset each tier holds. */
export const DEFAULT_TABLES: readonly TableSpec[] = [
  ...WARM_DATASETS.map((dataset) => ({ dataset, tier: 'warm' as const })),
  ...COLD_DATASETS.map((dataset) => ({ dataset, tier: 'cold' as const })),
];

export interface CatalogProps {
  /** The bucket holding the tiers. */
  readonly bucket: s3.IBucket;
  /**
   * Glue database name (lowercase; Athena queries read `<databaseName>.cold_trades`).
   * @default 'tickvault'
   */
  readonly databaseName?: string;
  /**
   * Tables to create; more can be added later with `addTable`.
   * @default DEFAULT_TABLES (warm trades, trade_events, quotes, bars_1m, bars_5m; cold the same and bars_1d)
   */
  readonly tables?: readonly TableSpec[];
  /**
   * Partition projection ranges shared by every table.
   * @default the ProjectionRange defaults (warm from 2020-01-01 to NOW, cold years 2000-2100)
   */
  readonly projectionRange?: ProjectionRange;
}

export class Catalog extends Construct {
  readonly database: glue.CfnDatabase;
  readonly databaseName: string;
  private readonly bucket: s3.IBucket;
  private readonly projectionRange: ProjectionRange;
  private readonly tableMap = new Map<string, DatasetTable>();

  constructor(scope: Construct, id: string, props: CatalogProps) {
    super(scope, id);
    this.bucket = props.bucket;
    this.projectionRange = props.projectionRange ?? {};
    this.databaseName = props.databaseName ?? 'tickvault';
    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: Stack.of(this).account,
      databaseInput: {
        name: this.databaseName,
        description: 'tickvault market data: warm_* tables read warm/, cold_* tables read cold/',
      },
    });
    for (const spec of props.tables ?? DEFAULT_TABLES) this.addTable(spec.dataset, spec.tier);
  }

  /** Adds the table of `dataset` in `tier` (named `<tier>_<dataset>`); each pair may be added once. */
  addTable(dataset: DatasetName, tier: Tier): DatasetTable {
    const name = `${tier}_${dataset}`;
    const existing = this.tableMap.get(name);
    if (existing !== undefined) throw new InfraConfigError(`catalog ${this.node.path}: table ${name} is already defined`);
    const table = new DatasetTable(this, tableId(dataset, tier), {
      ...this.projectionRange,
      database: this.database,
      bucket: this.bucket,
      dataset,
      tier,
      tableName: name,
    });
    this.tableMap.set(name, table);
    return table;
  }

  /** The tables defined so far, keyed by table name. */
  get tables(): ReadonlyMap<string, DatasetTable> {
    return this.tableMap;
  }
}

/** `ColdTrades`, `WarmBars1m`: stable construct ids, so logical ids do not move when tables are added. */
function tableId(dataset: DatasetName, tier: Tier): string {
  const camel = (s: string) => s.split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
  return camel(`${tier}_${dataset}`);
}

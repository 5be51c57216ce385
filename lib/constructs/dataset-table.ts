/**
 * One Glue table over one dataset in one tier, with Athena partition projection so no crawler or
 * MSCK REPAIR is ever needed: the partition layout is computed from core/layout.ts, not discovered.
 */
import { Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { type CatalogColumn, glueColumns } from '../../core/catalog-columns.ts';
import type { DatasetName } from '../../core/datasets.ts';
import { COLD_PREFIX, WARM_PREFIX, datasetRoot } from '../../core/layout.ts';

export const TIERS = ['warm', 'cold'] as const;
export type Tier = (typeof TIERS)[number];

const TIER_PREFIX: Record<Tier, string> = { warm: WARM_PREFIX, cold: COLD_PREFIX };

/** The range of partitions Athena projects; queries outside it find nothing. */
export interface ProjectionRange {
  /**
   * First day of the warm `date` projection (yyyy-MM-dd); the range ends at NOW.
   * @default '2020-01-01'
   */
  readonly warmFirstDate?: string;
  /**
   * First year of the cold `year` projection.
   * @default 2000
   */
  readonly coldFirstYear?: number;
  /**
   * Last year of the cold `year` projection.
   * @default 2100
   */
  readonly coldLastYear?: number;
}

export interface DatasetTableProps extends ProjectionRange {
  /** The Glue database the table belongs to. */
  readonly database: glue.CfnDatabase;
  /** The bucket holding the tier's objects. */
  readonly bucket: s3.IBucket;
  readonly dataset: DatasetName;
  readonly tier: Tier;
  /**
   * Glue table name.
   * @default `${tier}_${dataset}`, e.g. cold_trades
   */
  readonly tableName?: string;
}

/** Partition keys, projection parameters and location template (relative to the dataset's location). */
export interface Partitioning {
  readonly keys: readonly CatalogColumn[];
  readonly projection: Readonly<Record<string, string>>;
  readonly template: string;
}

const PARTITION_COMMENTS = {
  date: 'trading day, UTC, yyyy-MM-dd (partition)',
  symbol: "symbol in path form: '/' is written %2F, e.g. BTC%2FUSD (partition; every query must name it)",
  year: 'year, yyyy (partition)',
  month: 'month, MM (partition)',
} as const;

const key = (name: keyof typeof PARTITION_COMMENTS): CatalogColumn => ({ name, type: 'string', comment: PARTITION_COMMENTS[name] });

/** The partition scheme of a dataset in a tier, mirroring warmPartitionPath / coldPeriodPrefix in core/layout.ts. */
export function partitioning(dataset: DatasetName, tier: Tier, range: ProjectionRange = {}): Partitioning {
  if (tier === 'warm') {
    return {
      keys: [key('date'), key('symbol')],
      projection: {
        'projection.date.type': 'date',
        'projection.date.format': 'yyyy-MM-dd',
        'projection.date.range': `${range.warmFirstDate ?? '2020-01-01'},NOW`,
        'projection.date.interval': '1',
        'projection.date.interval.unit': 'DAYS',
        // The symbol set is open-ended, so it cannot be enumerated; 'injected' makes Athena take it from the
        // query's WHERE clause instead (and refuse queries that do not pin it).
        'projection.symbol.type': 'injected',
      },
      template: 'date=${date}/symbol=${symbol}/',
    };
  }
  const years = {
    'projection.year.type': 'integer',
    'projection.year.range': `${range.coldFirstYear ?? 2000},${range.coldLastYear ?? 2100}`,
  };
  // Daily bars are kept one file per symbol per year: no month level.
  if (dataset === 'bars_1d') return { keys: [key('year')], projection: years, template: 'year=${year}/' };
  return {
    keys: [key('year'), key('month')],
    projection: {
      ...years,
      'projection.month.type': 'integer',
      'projection.month.range': '1,12',
      'projection.month.digits': '2',
    },
    template: 'year=${year}/month=${month}/',
  };
}

/** The data columns of a table: the dataset's columns minus any that are also partition keys. */
export function dataColumns(dataset: DatasetName, partitionKeys: readonly CatalogColumn[]): CatalogColumn[] {
  // Warm files carry `symbol` as a data column and in their path (symbol=SYM). Athena rejects a table whose
  // data column shares a name with a partition key, so the warm table drops the data column and reads the
  // partition value instead. They agree up to the path encoding: the partition holds the path form (BTC%2FUSD).
  const keyNames = new Set(partitionKeys.map((k) => k.name));
  return glueColumns(dataset).filter((c) => !keyNames.has(c.name));
}

export class DatasetTable extends Construct {
  readonly table: glue.CfnTable;
  readonly tableName: string;
  /** `s3://bucket/<tier>/<dataset-root>/` */
  readonly location: string;
  readonly dataset: DatasetName;
  readonly tier: Tier;

  constructor(scope: Construct, id: string, props: DatasetTableProps) {
    super(scope, id);
    this.dataset = props.dataset;
    this.tier = props.tier;
    this.tableName = props.tableName ?? `${props.tier}_${props.dataset}`;
    this.location = `s3://${props.bucket.bucketName}/${TIER_PREFIX[props.tier]}${datasetRoot(props.dataset)}/`;

    const parts = partitioning(props.dataset, props.tier, props);
    this.table = new glue.CfnTable(this, 'Table', {
      catalogId: Stack.of(this).account,
      // Ref of a Glue database is its name; it also orders the table after the database.
      databaseName: props.database.ref,
      tableInput: {
        name: this.tableName,
        description: `${props.dataset}, ${props.tier} tier (${this.location})`,
        tableType: 'EXTERNAL_TABLE',
        partitionKeys: parts.keys.map(toGlueColumn),
        parameters: {
          classification: 'parquet',
          EXTERNAL: 'TRUE',
          'projection.enabled': 'true',
          ...parts.projection,
          'storage.location.template': `${this.location}${parts.template}`,
        },
        storageDescriptor: {
          location: this.location,
          columns: dataColumns(props.dataset, parts.keys).map(toGlueColumn),
          inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
          serdeInfo: { serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
        },
      },
    });
  }
}

function toGlueColumn(c: CatalogColumn): glue.CfnTable.ColumnProperty {
  return { name: c.name, type: c.type, comment: c.comment };
}

/** The tickvault stack: the data bucket, the Glue catalog over it, and the compactor. */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { asIBucket } from './bucket-interface.ts';
import { Catalog, type CatalogProps } from './constructs/catalog.ts';
import { Compaction, type CompactionProps } from './constructs/compaction.ts';
import { DataBucket, type DataBucketProps } from './constructs/data-bucket.ts';

export interface TickvaultStackProps extends StackProps {
  /**
   * Data bucket settings (lifecycle durations, access-log prefix).
   * @default {} (the DataBucketProps defaults)
   */
  readonly dataBucket?: DataBucketProps;
  /**
   * Catalog settings (database name, tables, projection ranges).
   * @default {} (the CatalogProps defaults: database 'tickvault', cold and warm trades)
   */
  readonly catalog?: Omit<CatalogProps, 'bucket'>;
  /**
   * Compactor settings (entry, memory, timeout, /tmp size, log retention).
   * @default {} (the CompactionProps defaults)
   */
  readonly compaction?: Omit<CompactionProps, 'data'>;
}

export class TickvaultStack extends Stack {
  readonly data: DataBucket;
  readonly catalog: Catalog;
  readonly compaction: Compaction;

  constructor(scope: Construct, id: string, props: TickvaultStackProps = {}) {
    super(scope, id, props);
    this.data = new DataBucket(this, 'Data', props.dataBucket ?? {});
    this.catalog = new Catalog(this, 'Catalog', { ...props.catalog, bucket: asIBucket(this.data.bucket) });
    this.compaction = new Compaction(this, 'Compaction', { ...props.compaction, data: this.data });

    new CfnOutput(this, 'BucketName', { value: this.data.bucket.bucketName, description: 'bucket holding warm/ and cold/' });
    new CfnOutput(this, 'GlueDatabaseName', { value: this.catalog.databaseName, description: 'Glue database for Athena' });
    new CfnOutput(this, 'CompactorFunctionName', { value: this.compaction.function.functionName, description: 'compactor Lambda' });
  }
}

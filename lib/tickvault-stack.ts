/**
 * The tickvault stack: the whole cloud side.
 *
 *   DataBucket       warm/ and cold/ tiers, the data key, query results, access logs (all retained)
 *   Catalog          Glue database and one projected table per (tier, dataset)
 *   QueryWorkgroup   Athena engine v3 workgroup with encrypted results, a scan cutoff and saved queries
 *   Planner, Compaction, ArchivalWorkflow   the daily plan-then-compact run and its dead-letter queue
 *   Retention        the daily warm retention run
 *   EdgeAccess       one role per edge agent (and Roles Anywhere when a CA is configured)
 *   Monitoring       alarms to an encrypted SNS topic, and a dashboard
 */
import { Aws, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { WARM_PREFIX } from '../core/layout.ts';
import { asIBucket } from './bucket-interface.ts';
import { ArchivalWorkflow, type ArchivalWorkflowProps } from './constructs/archival-workflow.ts';
import { Catalog, type CatalogProps } from './constructs/catalog.ts';
import { Compaction, type CompactionProps } from './constructs/compaction.ts';
import { DataBucket, type DataBucketProps } from './constructs/data-bucket.ts';
import { EdgeAccess, type EdgeAccessProps } from './constructs/edge-access.ts';
import { Monitoring, type MonitoringProps } from './constructs/monitoring.ts';
import { Planner, type PlannerProps } from './constructs/planner.ts';
import { QueryWorkgroup, type QueryWorkgroupProps } from './constructs/query-workgroup.ts';
import { Retention, type RetentionProps } from './constructs/retention.ts';

export interface TickvaultStackProps extends StackProps {
  /**
   * Data bucket settings (lifecycle durations, cold storage class).
   * @default {} (the DataBucketProps defaults)
   */
  readonly dataBucket?: DataBucketProps;
  /**
   * Catalog settings (database name, tables, projection ranges).
   * @default {} (the CatalogProps defaults: database 'tickvault', every warm and cold table)
   */
  readonly catalog?: Omit<CatalogProps, 'bucket'>;
  /**
   * Athena workgroup settings (name, scan cutoff, saved queries).
   * @default {} (the QueryWorkgroupProps defaults)
   */
  readonly queries?: Omit<QueryWorkgroupProps, 'data' | 'database'>;
  /**
   * Compactor settings (architecture, memory, timeout, /tmp size, log retention).
   * @default {} (the CompactionProps defaults)
   */
  readonly compaction?: Omit<CompactionProps, 'data'>;
  /**
   * Planner settings.
   * @default {} (the PlannerProps defaults)
   */
  readonly planner?: Omit<PlannerProps, 'data'>;
  /**
   * Retention settings (schedule; its expiry is `dataBucket.warmExpiryAfterCompaction`).
   * @default {} (the RetentionProps defaults)
   */
  readonly retention?: Omit<RetentionProps, 'data' | 'deadLetterQueue'>;
  /**
   * Archival run settings (schedule, concurrency, retries).
   * @default {} (the ArchivalWorkflowProps defaults)
   */
  readonly archival?: Omit<ArchivalWorkflowProps, 'planner' | 'compactor'>;
  /**
   * Edge agents and their trust (agent ids, Roles Anywhere CA).
   * @default {} (the EdgeAccessProps defaults: agent 'edge-1', no Roles Anywhere)
   */
  readonly edgeAccess?: Omit<EdgeAccessProps, 'data'>;
  /**
   * Alarm thresholds and subscription (agent ids default to `edgeAccess.agentIds`).
   * @default {} (the MonitoringProps defaults)
   */
  readonly monitoring?: Omit<MonitoringProps, 'functions' | 'stateMachine' | 'deadLetterQueue'>;
}

export class TickvaultStack extends Stack {
  readonly data: DataBucket;
  readonly catalog: Catalog;
  readonly queries: QueryWorkgroup;
  readonly planner: Planner;
  readonly compaction: Compaction;
  readonly archival: ArchivalWorkflow;
  readonly retention: Retention;
  readonly edgeAccess: EdgeAccess;
  readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: TickvaultStackProps = {}) {
    super(scope, id, props);
    this.data = new DataBucket(this, 'Data', props.dataBucket ?? {});
    this.catalog = new Catalog(this, 'Catalog', { ...props.catalog, bucket: asIBucket(this.data.bucket) });
    this.queries = new QueryWorkgroup(this, 'Queries', { ...props.queries, data: this.data, database: this.catalog.database });

    this.planner = new Planner(this, 'Planner', { ...props.planner, data: this.data });
    this.compaction = new Compaction(this, 'Compaction', { ...props.compaction, data: this.data });
    this.archival = new ArchivalWorkflow(this, 'Archival', {
      ...props.archival,
      planner: this.planner.function,
      compactor: this.compaction.function,
    });
    this.retention = new Retention(this, 'Retention', { ...props.retention, data: this.data, deadLetterQueue: this.archival.deadLetterQueue });

    this.edgeAccess = new EdgeAccess(this, 'EdgeAccess', { ...props.edgeAccess, data: this.data });
    // The planner and the compactor read each agent's warm manifests by name: they need the agent ids.
    const agentIds = [...this.edgeAccess.roles.keys()].join(',');
    this.planner.function.addEnvironment('AGENT_IDS', agentIds);
    this.compaction.function.addEnvironment('AGENT_IDS', agentIds);
    this.monitoring = new Monitoring(this, 'Monitoring', {
      agentIds: [...this.edgeAccess.roles.keys()],
      ...props.monitoring,
      functions: [
        { name: 'planner', function: this.planner.function },
        { name: 'compactor', function: this.compaction.function },
        { name: 'retention', function: this.retention.function },
      ],
      stateMachine: this.archival.stateMachine,
      deadLetterQueue: this.archival.deadLetterQueue,
    });

    this.addOutputs();
  }

  /** What an agent's configuration and an operator need from the deployed stack. */
  private addOutputs(): void {
    const output = (id: string, value: string, description: string) => new CfnOutput(this, id, { value, description });
    output('BucketName', this.data.bucket.bucketName, 'bucket holding warm/ and cold/ (agent: --store s3://BUCKET/)');
    output('Region', Aws.REGION, 'region of the bucket (agent: AWS_REGION)');
    output('WarmPrefix', WARM_PREFIX, 'prefix agents upload under');
    output('DataKeyArn', this.data.key.keyArn, 'KMS key of the data and query-results buckets');
    output('QueryResultsBucketName', this.data.queryResultsBucket.bucketName, 'bucket Athena writes query results to');
    output('GlueDatabaseName', this.catalog.databaseName, 'Glue database for Athena');
    output('AthenaWorkgroup', this.queries.workgroupName, 'Athena workgroup to run queries in');
    for (const [agentId, role] of this.edgeAccess.roles) {
      output(`AgentRoleArn-${agentId}`, role.roleArn, `IAM role of edge agent ${agentId}`);
    }
    if (this.edgeAccess.trustAnchor !== undefined && this.edgeAccess.profile !== undefined) {
      output('TrustAnchorArn', this.edgeAccess.trustAnchor.attrTrustAnchorArn, 'IAM Roles Anywhere trust anchor (credential helper: --trust-anchor-arn)');
      output('ProfileArn', this.edgeAccess.profile.attrProfileArn, 'IAM Roles Anywhere profile (credential helper: --profile-arn)');
    }
    output('CompactorFunctionName', this.compaction.function.functionName, 'compactor Lambda');
    output('ArchivalStateMachineArn', this.archival.stateMachine.stateMachineArn, 'daily archival state machine');
    output('DeadLetterQueueUrl', this.archival.deadLetterQueue.queueUrl, 'failed compaction units and undelivered scheduled runs');
    output('AlarmTopicArn', this.monitoring.topic.topicArn, 'SNS topic every alarm notifies');
  }
}

/**
 * The planner: a Lambda that lists warm/, reads the agents' per-day manifests, and returns the compaction units
 * due (`{ units: [{ dataset, symbol, month }] }`) for the archival workflow's Map. It also publishes the
 * compaction lag metric the monitoring alarms on.
 */
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambdaNodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { COLD_PREFIX, WARM_PREFIX } from '../../core/layout.ts';
import { COMPACTION_LAG_METRIC, METRIC_NAMESPACE } from '../metrics.ts';
import { STAR_RESOURCE_FINDING, acknowledge, wildcardArnFinding } from '../nag-findings.ts';
import { BundledFunction } from './bundled-function.ts';
import type { DataBucket } from './data-bucket.ts';

/** Default handler source, relative to the repository root. */
export const PLANNER_ENTRY = 'lambdas/planner/handler.ts';

/** Manifest objects of every agent and day: `warm/<root>/date=…/_manifest-<agentId>.json`. */
export const MANIFEST_OBJECTS = `${WARM_PREFIX}*/_manifest-*.json`;
/** Cold manifests and plan markers (core/cold-manifest.ts), beside each cold period's data files. */
export const COLD_MANIFEST_OBJECTS = `${COLD_PREFIX}*/_manifest-*.json`;
export const PLAN_MARKER_OBJECTS = `${COLD_PREFIX}*/_plan-*.json`;

export interface PlannerProps {
  /** The data bucket whose warm/ the planner lists. */
  readonly data: DataBucket;
  /**
   * Handler source file (exporting `handler`), absolute or relative to the repository root.
   * @default 'lambdas/planner/handler.ts'
   */
  readonly entry?: string;
  /**
   * Memory in MiB.
   * @default 512
   */
  readonly memoryMiB?: number;
  /**
   * Longest a planning run may take.
   * @default Duration.minutes(5)
   */
  readonly timeout?: Duration;
  /**
   * How long the function's logs are kept.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
}

export class Planner extends Construct {
  readonly function: lambdaNodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: PlannerProps) {
    super(scope, id);
    const { bucket, key } = props.data;
    const fn = new BundledFunction(this, 'Planner', {
      entry: props.entry ?? PLANNER_ENTRY,
      description: 'tickvault planner: lists warm/ and its manifests, returns the compaction units due',
      roleDescription: 'tickvault planner: lists warm/, reads warm manifests, publishes the compaction lag metric',
      memoryMiB: props.memoryMiB ?? 512,
      timeout: props.timeout ?? Duration.minutes(5),
      ...(props.logRetention !== undefined && { logRetention: props.logRetention }),
      environment: {
        BUCKET: bucket.bucketName,
        WARM_PREFIX,
        COLD_PREFIX,
        METRIC_NAMESPACE,
        COMPACTION_LAG_METRIC,
      },
    });
    this.function = fn.function;
    this.role = fn.role;
    this.logGroup = fn.logGroup;

    const statements = [
      // Unconditioned ListBucket: without it S3 answers 403 instead of 404 for a manifest that does not exist yet,
      // and the planner GETs manifests by name, most of which are absent on a given day.
      new iam.PolicyStatement({ sid: 'ListBucket', actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }),
      new iam.PolicyStatement({ sid: 'ReadManifests', actions: ['s3:GetObject'], resources: [bucket.arnForObjects(MANIFEST_OBJECTS)] }),
      // Cold manifests tell what is compacted already; plan markers keep a second run from planning a unit twice.
      new iam.PolicyStatement({
        sid: 'ReadColdMarkers',
        actions: ['s3:GetObject'],
        resources: [bucket.arnForObjects(COLD_MANIFEST_OBJECTS), bucket.arnForObjects(PLAN_MARKER_OBJECTS)],
      }),
      new iam.PolicyStatement({ sid: 'WritePlanMarkers', actions: ['s3:PutObject'], resources: [bucket.arnForObjects(PLAN_MARKER_OBJECTS)] }),
      new iam.PolicyStatement({ sid: 'UseDataKey', actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [key.keyArn] }),
      // PutMetricData has no resource-level permissions; the namespace condition confines it to tickvault's metrics.
      new iam.PolicyStatement({
        sid: 'PublishLag',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': METRIC_NAMESPACE } },
      }),
    ];
    for (const statement of statements) this.role.addToPrincipalPolicy(statement);

    acknowledge(this.role, wildcardArnFinding(bucket.node.defaultChild as s3.CfnBucket, `/${MANIFEST_OBJECTS}`),
      'The planner reads the manifests of every agent and day, which it finds by listing; the pattern admits manifest objects only.');
    acknowledge(this.role, wildcardArnFinding(bucket.node.defaultChild as s3.CfnBucket, `/${COLD_MANIFEST_OBJECTS}`),
      'The planner reads the cold manifest of every unit it considers; the pattern admits cold manifest objects only.');
    acknowledge(this.role, wildcardArnFinding(bucket.node.defaultChild as s3.CfnBucket, `/${PLAN_MARKER_OBJECTS}`),
      'The planner reads and writes the plan marker of every unit it plans; the pattern admits plan markers only, never data.');
    acknowledge(this.role, STAR_RESOURCE_FINDING,
      `cloudwatch:PutMetricData supports no resource-level permissions; the statement is confined to the ${METRIC_NAMESPACE} namespace by condition.`);
  }
}

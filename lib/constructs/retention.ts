/**
 * Warm retention: a Lambda, run daily by EventBridge Scheduler, that deletes warm objects a given number of days
 * after they were compacted (the compactor tags them `tickvault:compacted=true`). The bucket's lifecycle rule is
 * the backstop; this is the exact rule (see data-bucket.ts for the difference).
 */
import { Duration, Stack, TimeZone } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as lambdaNodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { COLD_PREFIX, WARM_PREFIX } from '../../core/layout.ts';
import { acknowledge, wildcardArnFinding } from '../nag-findings.ts';
import { BundledFunction } from './bundled-function.ts';
import { COMPACTED_TAG, type DataBucket } from './data-bucket.ts';

/** Default handler source, relative to the repository root. */
export const RETENTION_ENTRY = 'lambdas/retention/handler.ts';

export interface RetentionProps {
  /** The data bucket whose warm/ objects are deleted once compacted and old enough. */
  readonly data: DataBucket;
  /** Receives the scheduler's invocations that could not be delivered after its retries. */
  readonly deadLetterQueue: sqs.IQueue;
  /**
   * Handler source file (exporting `handler`), absolute or relative to the repository root.
   * @default 'lambdas/retention/handler.ts'
   */
  readonly entry?: string;
  /**
   * When it runs: an EventBridge Scheduler expression, `cron(…)` or `rate(…)`.
   * @default 'cron(45 3 * * ? *)' (daily at 03:45)
   */
  readonly schedule?: string;
  /**
   * The time zone of `schedule`.
   * @default TimeZone.ETC_UTC
   */
  readonly scheduleTimeZone?: TimeZone;
  /**
   * Memory in MiB.
   * @default 512
   */
  readonly memoryMiB?: number;
  /**
   * Longest a run may take (it resumes where it stopped on the next run).
   * @default Duration.minutes(15)
   */
  readonly timeout?: Duration;
  /**
   * How long the function's logs are kept.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
}

export class Retention extends Construct {
  readonly function: lambdaNodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: RetentionProps) {
    super(scope, id);
    const { bucket } = props.data;
    const fn = new BundledFunction(this, 'Retention', {
      entry: props.entry ?? RETENTION_ENTRY,
      description: 'tickvault retention: deletes warm objects a set number of days after their compaction',
      roleDescription: 'tickvault retention: lists warm/, reads warm object tags, deletes warm objects',
      memoryMiB: props.memoryMiB ?? 512,
      timeout: props.timeout ?? Duration.minutes(15),
      ...(props.logRetention !== undefined && { logRetention: props.logRetention }),
      environment: {
        BUCKET: bucket.bucketName,
        WARM_PREFIX,
        WARM_EXPIRY_DAYS_AFTER_COMPACTION: String(props.data.warmExpiryAfterCompaction.toDays()),
        COMPACTED_TAG_KEY: COMPACTED_TAG.key,
        COMPACTED_TAG_VALUE: COMPACTED_TAG.value,
      },
    });
    this.function = fn.function;
    this.role = fn.role;
    this.logGroup = fn.logGroup;

    const warmObjects = bucket.arnForObjects(`${WARM_PREFIX}*`);
    const statements = [
      // Unconditioned: a prefix condition turns 404 into 403 for objects already gone.
      new iam.PolicyStatement({ sid: 'ListBucket', actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }),
      // Deleting in a versioned bucket leaves a delete marker; the noncurrent-version rule removes the data later.
      // GetObject is for the HEAD that checks an object is the one the cold manifest names before it goes.
      new iam.PolicyStatement({ sid: 'ExpireWarm', actions: ['s3:GetObject', 's3:GetObjectTagging', 's3:DeleteObject'], resources: [warmObjects] }),
      // The cold manifests say what was compacted, and when: retention counts from there.
      new iam.PolicyStatement({ sid: 'ReadColdManifests', actions: ['s3:GetObject'], resources: [bucket.arnForObjects(`${COLD_PREFIX}*/_manifest-*.json`)] }),
      new iam.PolicyStatement({ sid: 'UseDataKey', actions: ['kms:Decrypt'], resources: [props.data.key.keyArn] }),
    ];
    for (const statement of statements) this.role.addToPrincipalPolicy(statement);
    acknowledge(this.role, wildcardArnFinding(bucket.node.defaultChild as s3.CfnBucket, `/${COLD_PREFIX}*/_manifest-*.json`),
      'Retention reads the cold manifest of every compacted unit in its window; the pattern admits cold manifests only.');
    acknowledge(this.role, wildcardArnFinding(bucket.node.defaultChild as s3.CfnBucket, `/${WARM_PREFIX}*`),
      'Retention deletes warm objects it finds by listing, so it is scoped to the warm/ prefix rather than to keys known at deploy time; it cannot touch cold/.');

    // An explicit role: the target's default is a role shared at stack level, out of reach of a narrow acknowledgement.
    const scheduleRole = new iam.Role(this, 'ScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com').withConditions({
        StringEquals: { 'aws:SourceAccount': Stack.of(this).account },
      }),
      description: 'tickvault: lets EventBridge Scheduler invoke the retention Lambda',
    });
    acknowledge(scheduleRole, `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.function.node.defaultChild as lambda.CfnFunction)}.Arn>:*]`,
      "The invoke grant includes the function's versions and aliases (ARN:*), as CDK's LambdaInvoke target grants it; it names one function.");
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: 'tickvault: daily warm retention',
      schedule: scheduler.ScheduleExpression.expression(props.schedule ?? 'cron(45 3 * * ? *)', props.scheduleTimeZone ?? TimeZone.ETC_UTC),
      target: new targets.LambdaInvoke(this.function, {
        role: scheduleRole,
        input: scheduler.ScheduleTargetInput.fromObject({}),
        deadLetterQueue: props.deadLetterQueue,
        retryAttempts: 2,
        maxEventAge: Duration.hours(1),
      }),
    });
  }
}

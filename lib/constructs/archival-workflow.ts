/**
 * The daily archival run: EventBridge Scheduler starts a Step Functions state machine that asks the planner for
 * the compaction units due, then compacts them in a Map, a bounded number at a time. A unit that still fails
 * after its retries is written to the dead-letter queue (with its error) and the run goes on with the others;
 * the queue's depth is alarmed on. Compaction is idempotent, so a unit can be re-run from its message.
 *
 *   Plan ─▶ CompactEachUnit (Map, maxConcurrency) ─▶ Done
 *              └─ Compact ──(retries exhausted)──▶ RecordFailure (SQS)
 */
import { Duration, RemovalPolicy, Stack, TimeZone } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { InfraConfigError } from '../errors.ts';
import { STAR_RESOURCE_FINDING, acknowledge } from '../nag-findings.ts';

export interface CompactionRetry {
  /**
   * Attempts after the first.
   * @default 3
   */
  readonly maxAttempts?: number;
  /**
   * Wait before the first retry.
   * @default Duration.seconds(30)
   */
  readonly interval?: Duration;
  /**
   * Factor the wait grows by with each retry.
   * @default 2
   */
  readonly backoffRate?: number;
}

export interface ArchivalWorkflowProps {
  /** Returns `{ units: [{ dataset, symbol, month }] }`. */
  readonly planner: lambda.IFunction;
  /** Compacts one `{ dataset, symbol, month }`. */
  readonly compactor: lambda.IFunction;
  /**
   * When the run starts: an EventBridge Scheduler expression, `cron(…)` or `rate(…)`.
   * @default 'cron(15 2 * * ? *)' (daily at 02:15)
   */
  readonly schedule?: string;
  /**
   * The time zone of `schedule`.
   * @default TimeZone.ETC_UTC
   */
  readonly scheduleTimeZone?: TimeZone;
  /**
   * Most units compacted at once (each is one compactor invocation).
   * @default 8
   */
  readonly maxConcurrency?: number;
  /**
   * Retries of a failed compaction, with exponential backoff and full jitter.
   * @default { maxAttempts: 3, interval: Duration.seconds(30), backoffRate: 2 }
   */
  readonly compactionRetry?: CompactionRetry;
  /**
   * Longest a run may take; under a day, so a run never overlaps the next one.
   * @default Duration.hours(23)
   */
  readonly timeout?: Duration;
  /**
   * How long the state machine's execution logs are kept.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
}

export class ArchivalWorkflow extends Construct {
  readonly stateMachine: sfn.StateMachine;
  /** Units that failed after their retries, and scheduler invocations that could not be delivered. */
  readonly deadLetterQueue: sqs.Queue;
  readonly schedule: scheduler.Schedule;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ArchivalWorkflowProps) {
    super(scope, id);
    const maxConcurrency = props.maxConcurrency ?? 8;
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
      throw new InfraConfigError(`${this.node.path}: maxConcurrency must be a positive integer, got ${maxConcurrency}`);
    }

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledge(this.deadLetterQueue, 'AwsSolutions-SQS3',
      'This queue is itself the dead-letter destination of the archival workflow and its schedules; messages in it are alarmed on and replayed by hand.');

    const plan = new tasks.LambdaInvoke(this, 'Plan', {
      lambdaFunction: props.planner,
      comment: 'List warm/ and the manifests; return the units due',
      payloadResponseOnly: true,
      retryOnServiceExceptions: true,
    });
    plan.addRetry({ errors: [sfn.Errors.TASKS_FAILED], maxAttempts: 2, interval: Duration.minutes(1), backoffRate: 2 });

    const compact = new tasks.LambdaInvoke(this, 'Compact', {
      lambdaFunction: props.compactor,
      comment: 'Compact one (dataset, symbol, month)',
      payloadResponseOnly: true,
      // The retrier below covers every error, the Lambda service's included.
      retryOnServiceExceptions: false,
      // Keep the item as the state's output: results of thousands of units would outgrow the 256 KiB state limit.
      resultPath: sfn.JsonPath.DISCARD,
    });
    const retry = props.compactionRetry ?? {};
    compact.addRetry({
      errors: [sfn.Errors.ALL],
      maxAttempts: retry.maxAttempts ?? 3,
      interval: retry.interval ?? Duration.seconds(30),
      backoffRate: retry.backoffRate ?? 2,
      jitterStrategy: sfn.JitterType.FULL,
    });
    const recordFailure = new tasks.SqsSendMessage(this, 'RecordFailure', {
      queue: this.deadLetterQueue,
      comment: 'Keep the failed unit and its error for a later re-run',
      messageBody: sfn.TaskInput.fromObject({
        dataset: sfn.JsonPath.stringAt('$.dataset'),
        symbol: sfn.JsonPath.stringAt('$.symbol'),
        month: sfn.JsonPath.stringAt('$.month'),
        error: sfn.JsonPath.stringAt('$.failure.Error'),
        cause: sfn.JsonPath.stringAt('$.failure.Cause'),
        execution: sfn.JsonPath.executionId,
      }),
      resultPath: sfn.JsonPath.DISCARD,
    });
    compact.addCatch(recordFailure, { errors: [sfn.Errors.ALL], resultPath: '$.failure' });

    const compactEach = new sfn.Map(this, 'CompactEachUnit', {
      comment: 'Compact every unit the planner returned',
      itemsPath: sfn.JsonPath.stringAt('$.units'),
      // Exactly the compactor's event, whatever else the planner puts in a unit (the compactor rejects extra keys).
      itemSelector: {
        dataset: sfn.JsonPath.stringAt('$$.Map.Item.Value.dataset'),
        symbol: sfn.JsonPath.stringAt('$$.Map.Item.Value.symbol'),
        month: sfn.JsonPath.stringAt('$$.Map.Item.Value.month'),
      },
      maxConcurrency,
      resultPath: sfn.JsonPath.DISCARD,
    });
    compactEach.itemProcessor(compact);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      // Step Functions' log delivery needs a resource policy per log group; the vendedlogs prefix shares one.
      logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-archival`,
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      comment: 'tickvault daily archival: plan, then compact each unit',
      definitionBody: sfn.DefinitionBody.fromChainable(plan.next(compactEach).next(new sfn.Succeed(this, 'Done'))),
      stateMachineType: sfn.StateMachineType.STANDARD,
      timeout: props.timeout ?? Duration.hours(23),
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
    });
    const role = this.stateMachine.role;
    acknowledge(role, STAR_RESOURCE_FINDING,
      'Step Functions log delivery (logs:CreateLogDelivery and related) and X-Ray (PutTraceSegments, PutTelemetryRecords) support no resource-level permissions.');
    for (const fn of [props.planner, props.compactor]) {
      acknowledge(role, `AwsSolutions-IAM5[Resource::<${Stack.of(fn).getLogicalId(fn.node.defaultChild as lambda.CfnFunction)}.Arn>:*]`,
        'The invoke grant includes the function\'s versions and aliases (ARN:*), as CDK\'s LambdaInvoke task grants it; it names one function.');
    }

    // An explicit role rather than the target's stack-level default, so it is owned (and reviewed) here.
    const scheduleRole = new iam.Role(this, 'ScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com').withConditions({
        StringEquals: { 'aws:SourceAccount': Stack.of(this).account },
      }),
      description: 'tickvault: lets EventBridge Scheduler start the archival state machine',
    });
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: 'tickvault: daily archival run (plan, compact)',
      schedule: scheduler.ScheduleExpression.expression(props.schedule ?? 'cron(15 2 * * ? *)', props.scheduleTimeZone ?? TimeZone.ETC_UTC),
      target: new targets.StepFunctionsStartExecution(this.stateMachine, {
        role: scheduleRole,
        input: scheduler.ScheduleTargetInput.fromObject({}),
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 2,
        maxEventAge: Duration.hours(1),
      }),
    });
  }
}

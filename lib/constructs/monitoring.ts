/**
 * Alarms and a dashboard over the cloud side, all alarms notifying one encrypted SNS topic:
 *  - errors of each Lambda;
 *  - failed or timed-out archival runs;
 *  - anything in the dead-letter queue;
 *  - compaction lag (tickvault/CompactionLagDays, published by the planner) above a threshold, or not published;
 *  - an agent heartbeat (tickvault/AgentHeartbeat, AgentId=<id>) missing for a while.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { InfraConfigError } from '../errors.ts';
import { AGENT_HEARTBEAT_METRIC, AGENT_ID_DIMENSION, COMPACTION_LAG_METRIC, METRIC_NAMESPACE, PLANNER_SERVICE } from '../metrics.ts';

export interface MonitoredFunction {
  /** Short name for alarm and widget titles, e.g. 'compactor'. */
  readonly name: string;
  readonly function: lambda.IFunction;
}

export interface MonitoringProps {
  readonly functions: readonly MonitoredFunction[];
  readonly stateMachine: sfn.IStateMachine;
  readonly deadLetterQueue: sqs.IQueue;
  /**
   * Agents whose heartbeat is watched.
   * @default ['edge-1']
   */
  readonly agentIds?: readonly string[];
  /**
   * Compaction lag, in days, above which the lag alarm fires.
   * @default 3
   */
  readonly maxCompactionLagDays?: number;
  /**
   * How long an agent's heartbeat may be missing before its alarm fires (1 minute to 1 day, whole minutes).
   * @default Duration.minutes(15)
   */
  readonly heartbeatTimeout?: Duration;
  /**
   * An address subscribed to the alarm topic (it must confirm the subscription).
   * @default no subscription
   */
  readonly alarmEmail?: string;
}

export class Monitoring extends Construct {
  readonly topic: sns.Topic;
  readonly topicKey: kms.Key;
  readonly alarms: readonly cloudwatch.Alarm[];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const agentIds = props.agentIds ?? ['edge-1'];
    const maxLagDays = props.maxCompactionLagDays ?? 3;
    const heartbeatMinutes = (props.heartbeatTimeout ?? Duration.minutes(15)).toMinutes();
    if (!Number.isInteger(heartbeatMinutes) || heartbeatMinutes < 1 || heartbeatMinutes > 1440) {
      throw new InfraConfigError(`${this.node.path}: heartbeatTimeout must be whole minutes from 1 to 1440, got ${heartbeatMinutes}`);
    }

    // A customer-managed key: CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed SNS key.
    this.topicKey = new kms.Key(this, 'TopicKey', {
      description: 'tickvault alarm notifications',
      enableKeyRotation: true,
      // Notifications, not market data: the key goes with the stack (after KMS's waiting period).
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(30),
    });
    this.topicKey.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
    }));
    this.topic = new sns.Topic(this, 'Alarms', {
      displayName: 'tickvault alarms',
      masterKey: this.topicKey,
      enforceSSL: true,
    });
    if (props.alarmEmail !== undefined) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));

    const fiveMinutes = Duration.minutes(5);
    const alarms: cloudwatch.Alarm[] = [];
    const notify = (alarm: cloudwatch.Alarm) => {
      alarm.addAlarmAction(new actions.SnsAction(this.topic));
      alarm.addOkAction(new actions.SnsAction(this.topic));
      alarms.push(alarm);
      return alarm;
    };

    for (const { name, function: fn } of props.functions) {
      notify(new cloudwatch.Alarm(this, `${title(name)}Errors`, {
        alarmDescription: `tickvault ${name} Lambda reported errors`,
        metric: fn.metricErrors({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }));
    }

    const failedRuns = new cloudwatch.MathExpression({
      label: 'failed or timed-out runs',
      expression: 'failed + timedOut',
      usingMetrics: {
        failed: props.stateMachine.metricFailed({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM }),
        timedOut: props.stateMachine.metricTimedOut({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM }),
      },
      period: fiveMinutes,
    });
    notify(new cloudwatch.Alarm(this, 'ArchivalRunFailed', {
      alarmDescription: 'tickvault archival run failed or timed out (the planner failed, or a failure could not be queued)',
      metric: failedRuns,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }));

    const dlqDepth = props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: fiveMinutes, statistic: cloudwatch.Stats.MAXIMUM });
    notify(new cloudwatch.Alarm(this, 'DeadLetters', {
      alarmDescription: 'tickvault dead-letter queue holds failed compaction units or undelivered scheduled runs',
      metric: dlqDepth,
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }));

    const lag = new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName: COMPACTION_LAG_METRIC,
      dimensionsMap: { service: PLANNER_SERVICE },
      statistic: cloudwatch.Stats.MAXIMUM,
      period: Duration.days(1),
    });
    notify(new cloudwatch.Alarm(this, 'CompactionLag', {
      alarmDescription: `tickvault compaction is more than ${maxLagDays} days behind, or the planner published no lag for a day`,
      metric: lag,
      threshold: maxLagDays,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // No lag published for a day means no planner run: as bad as a lag over the threshold.
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    }));

    const heartbeats = agentIds.map((agentId) => {
      const metric = new cloudwatch.Metric({
        namespace: METRIC_NAMESPACE,
        metricName: AGENT_HEARTBEAT_METRIC,
        dimensionsMap: { [AGENT_ID_DIMENSION]: agentId },
        statistic: cloudwatch.Stats.SAMPLE_COUNT,
        period: Duration.minutes(1),
      });
      notify(new cloudwatch.Alarm(this, `Heartbeat-${agentId}`, {
        alarmDescription: `tickvault agent ${agentId} sent no heartbeat for ${heartbeatMinutes} minutes`,
        metric,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        // Every minute of the window must be empty (missing counts as breaching) before it fires.
        evaluationPeriods: heartbeatMinutes,
        datapointsToAlarm: heartbeatMinutes,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }));
      // A label turns an alarm's metric into a metric-math query; it is for the dashboard only.
      return metric.with({ label: agentId });
    });
    this.alarms = alarms;

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(7),
      widgets: [
        [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms, width: 24 })],
        props.functions.map(({ name, function: fn }) => new cloudwatch.GraphWidget({
          title: `${name} Lambda`,
          left: [fn.metricInvocations({ period: fiveMinutes }), fn.metricErrors({ period: fiveMinutes })],
          right: [fn.metricDuration({ period: fiveMinutes, statistic: cloudwatch.Stats.MAXIMUM })],
          width: Math.floor(24 / Math.max(1, props.functions.length)),
        })),
        [
          new cloudwatch.GraphWidget({
            title: 'Archival runs',
            left: [
              props.stateMachine.metricStarted({ period: Duration.hours(1) }),
              props.stateMachine.metricSucceeded({ period: Duration.hours(1) }),
              props.stateMachine.metricFailed({ period: Duration.hours(1) }),
            ],
            width: 8,
          }),
          new cloudwatch.GraphWidget({ title: 'Dead-letter queue depth', left: [dlqDepth], width: 8 }),
          new cloudwatch.GraphWidget({
            title: 'Compaction lag (days)',
            left: [lag.with({ label: 'compaction lag (days)' })],
            leftAnnotations: [{ value: maxLagDays, label: 'alarm threshold' }],
            width: 8,
          }),
        ],
        [new cloudwatch.GraphWidget({ title: 'Agent heartbeats (per minute)', left: heartbeats, width: 24 })],
      ],
    });
  }
}

function title(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

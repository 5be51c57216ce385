/**
 * The custom CloudWatch metrics tickvault publishes and alarms on. The planner Lambda and the edge agent publish
 * them under these names; the monitoring construct reads them.
 *
 *   tickvault / CompactionLagDays                  planner, once per run: days between the oldest warm day not yet
 *                                                  compacted and today (0 when nothing is behind); dimension
 *                                                  service=tickvault-planner (Powertools Metrics adds it)
 *   tickvault / AgentHeartbeat  (AgentId=<id>)     each agent, at least once a minute while it runs; value 1
 */
export const METRIC_NAMESPACE = 'tickvault';
export const COMPACTION_LAG_METRIC = 'CompactionLagDays';
/** The planner's Powertools service name: its logs' `service` and its metrics' `service` dimension. */
export const PLANNER_SERVICE = 'tickvault-planner';
export const AGENT_HEARTBEAT_METRIC = 'AgentHeartbeat';
export const AGENT_ID_DIMENSION = 'AgentId';

/**
 * What an edge agent may do in AWS: one IAM role per configured agent id, allowed to write, read back and clean
 * up only its own warm objects, to list warm/, to use the data key through S3, and to publish its heartbeat.
 *
 * Keys carry the agent id at their end (core/layout.ts):
 *   warm/<root>/date=D/symbol=S/part-NNNNN-<agentId>.parquet     warm/<root>/date=D/_manifest-<agentId>.json
 * so the role's object ARNs are `warm/*\/part-?????-<agentId>.parquet` and `warm/*\/_manifest-<agentId>.json`.
 * The `/part-?????-` anchor matters: a bare `warm/*-<agentId>.parquet` would let agent `1` write `…-edge-1.parquet`.
 * The lead-in `/` and the fixed-width part number make one agent's pattern match another's real keys only if the
 * two ids are equal (test/cdk-edge-access.test.ts checks pairs of ids that end alike).
 *
 * Agents outside AWS assume their role through IAM Roles Anywhere when a CA certificate is configured: the trust
 * anchor holds the CA, the profile lists the roles, and each role trusts only sessions whose certificate CN is its
 * agent id. Without a CA the roles trust the account, so an administrator can hand an agent credentials that may
 * do nothing but assume its role (see docs/deploy.md); no IAM user or access key is created here.
 */
import { X509Certificate } from 'node:crypto';
import { Aws, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as rolesanywhere from 'aws-cdk-lib/aws-rolesanywhere';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { WARM_PREFIX, validateAgentId } from '../../core/layout.ts';
import { InfraConfigError } from '../errors.ts';
import { METRIC_NAMESPACE } from '../metrics.ts';
import { STAR_RESOURCE_FINDING, acknowledge, wildcardArnFinding } from '../nag-findings.ts';
import type { DataBucket } from './data-bucket.ts';

/** Object-key patterns (relative to the bucket) an agent may write and read back. */
export function agentObjectPatterns(agentId: string): { parts: string; manifests: string } {
  const id = validateAgentId(agentId);
  return { parts: `${WARM_PREFIX}*/part-?????-${id}.parquet`, manifests: `${WARM_PREFIX}*/_manifest-${id}.json` };
}

export interface EdgeAccessProps {
  /** The bucket the agents upload to and its key. */
  readonly data: DataBucket;
  /**
   * The agents that may upload: one role each.
   * @default ['edge-1']
   */
  readonly agentIds?: readonly string[];
  /**
   * PEM of the CA certificate that issues the agents' certificates. When given, an IAM Roles Anywhere trust anchor
   * and profile are created and the roles trust only Roles Anywhere sessions with CN = agent id.
   * @default no Roles Anywhere; the roles trust the account
   */
  readonly caCertificatePem?: string;
  /**
   * Lifetime of the credentials Roles Anywhere hands out.
   * @default Duration.hours(1)
   */
  readonly sessionDuration?: Duration;
}

export class EdgeAccess extends Construct {
  /** The role of each agent id. */
  readonly roles: ReadonlyMap<string, iam.Role>;
  readonly trustAnchor: rolesanywhere.CfnTrustAnchor | undefined;
  readonly profile: rolesanywhere.CfnProfile | undefined;

  constructor(scope: Construct, id: string, props: EdgeAccessProps) {
    super(scope, id);
    const agentIds = props.agentIds ?? ['edge-1'];
    checkAgentIds(agentIds, this.node.path);
    const stackName = Stack.of(this).stackName;

    if (props.caCertificatePem !== undefined) {
      checkCaCertificate(props.caCertificatePem, `${this.node.path}: caCertificatePem`);
      this.trustAnchor = new rolesanywhere.CfnTrustAnchor(this, 'TrustAnchor', {
        name: `${stackName}-edge-agents`,
        enabled: true,
        source: { sourceType: 'CERTIFICATE_BUNDLE', sourceData: { x509CertificateData: props.caCertificatePem } },
      });
    }
    const trustAnchor = this.trustAnchor;

    const roles = new Map<string, iam.Role>();
    for (const agentId of agentIds) {
      const role = new iam.Role(this, `Agent-${agentId}`, {
        description: `tickvault edge agent ${agentId}: uploads its own warm objects`,
        assumedBy: trustAnchor === undefined
          ? new iam.AccountRootPrincipal()
          : new RolesAnywherePrincipal({
            StringEquals: { 'aws:PrincipalTag/x509Subject/CN': agentId },
            ArnEquals: { 'aws:SourceArn': trustAnchor.attrTrustAnchorArn },
          }),
      });
      grantAgentAccess(role, props.data, agentId);
      roles.set(agentId, role);
    }
    this.roles = roles;

    if (trustAnchor !== undefined) {
      this.profile = new rolesanywhere.CfnProfile(this, 'Profile', {
        name: `${stackName}-edge-agents`,
        enabled: true,
        roleArns: [...roles.values()].map((r) => r.roleArn),
        durationSeconds: (props.sessionDuration ?? Duration.hours(1)).toSeconds(),
      });
    }
  }
}

/** The statements of one agent's role. */
function grantAgentAccess(role: iam.Role, data: DataBucket, agentId: string): void {
  const { bucket, key } = data;
  const patterns = agentObjectPatterns(agentId);
  const statements = [
    new iam.PolicyStatement({
      sid: 'OwnWarmObjects',
      // PutObject covers CreateMultipartUpload, UploadPart and CompleteMultipartUpload; GetObject covers HEAD.
      actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      resources: [bucket.arnForObjects(patterns.parts), bucket.arnForObjects(patterns.manifests)],
    }),
    new iam.PolicyStatement({
      sid: 'ListWarm',
      actions: ['s3:ListBucket'],
      resources: [bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${WARM_PREFIX}*`] } },
    }),
    // The uploader's janitor lists unfinished multipart uploads to abort its own leftovers. S3 offers no prefix
    // condition for this action; it reveals the keys of uploads in progress, never their contents.
    new iam.PolicyStatement({ sid: 'ListUnfinishedUploads', actions: ['s3:ListBucketMultipartUploads'], resources: [bucket.bucketArn] }),
    new iam.PolicyStatement({
      sid: 'DataKeyThroughS3',
      actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
      resources: [key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
    }),
    new iam.PolicyStatement({
      sid: 'Heartbeat',
      actions: ['cloudwatch:PutMetricData'],
      resources: ['*'],
      conditions: { StringEquals: { 'cloudwatch:namespace': METRIC_NAMESPACE } },
    }),
  ];
  for (const statement of statements) role.addToPrincipalPolicy(statement);

  const bucketResource = bucket.node.defaultChild as s3.CfnBucket;
  acknowledge(role, wildcardArnFinding(bucketResource, `/${patterns.parts}`),
    `Agent ${agentId} writes one object per sealed file, named at run time; the pattern admits only part files ending in its own agent id.`);
  acknowledge(role, wildcardArnFinding(bucketResource, `/${patterns.manifests}`),
    `Agent ${agentId} writes one manifest per dataset and day, named at run time; the pattern admits only manifests of its own agent id.`);
  acknowledge(role, STAR_RESOURCE_FINDING,
    `cloudwatch:PutMetricData supports no resource-level permissions; the heartbeat statement is confined to the ${METRIC_NAMESPACE} namespace by condition.`);
}

/** Trusts IAM Roles Anywhere with the three actions it needs (it tags sessions and sets their source identity). */
class RolesAnywherePrincipal extends iam.ServicePrincipal {
  constructor(private readonly trustConditions: iam.Conditions) {
    super('rolesanywhere.amazonaws.com');
  }

  override addToAssumeRolePolicy(document: iam.PolicyDocument): void {
    document.addStatements(new iam.PolicyStatement({
      principals: [new iam.ServicePrincipal(this.service)],
      actions: ['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity'],
      conditions: this.trustConditions,
    }));
  }
}

/** Valid, distinct agent ids whose construct and output ids do not collide. */
export function checkAgentIds(agentIds: readonly string[], where: string): void {
  if (agentIds.length === 0) throw new InfraConfigError(`${where}: at least one agent id is needed`);
  const seen = new Map<string, string>();
  for (const agentId of agentIds) {
    try {
      validateAgentId(agentId);
    } catch (cause) {
      throw new InfraConfigError(`${where}: ${(cause as Error).message}`, { cause });
    }
    // Output ids keep letters and digits only, so edge-1 and edge1 would share one.
    const compact = agentId.replaceAll('-', '');
    const other = seen.get(compact);
    if (other !== undefined) throw new InfraConfigError(`${where}: agent ids ${JSON.stringify(other)} and ${JSON.stringify(agentId)} differ only in '-'`);
    seen.set(compact, agentId);
  }
}

/** Throws unless `pem` is exactly one parseable, unexpired CA certificate. */
export function checkCaCertificate(pem: string, what: string): void {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length !== 1) throw new InfraConfigError(`${what}: expected one PEM certificate (-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----), found ${blocks.length}`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(blocks[0] ?? '');
  } catch (cause) {
    throw new InfraConfigError(`${what}: not a readable X.509 certificate (${(cause as Error).message})`, { cause });
  }
  if (!cert.ca) throw new InfraConfigError(`${what}: certificate ${cert.subject.replaceAll('\n', ', ')} is not a CA (basicConstraints CA:TRUE)`);
  if (Date.parse(cert.validTo) <= Date.now()) throw new InfraConfigError(`${what}: CA certificate expired on ${cert.validTo}`);
}

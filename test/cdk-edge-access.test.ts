/**
 * The edge agents' roles, evaluated rather than pattern-matched: the synthesized policy statements are resolved
 * to concrete ARNs and a small IAM evaluator (wildcard Resource matching with * and ?, the condition operators the
 * policies use, explicit deny over allow over implicit deny) decides sample requests built with core/layout.ts.
 * Agent ids are chosen to end alike ('1', 'edge-1', 'west-edge-1', '00001-edge-1'), the case where a bare
 * `warm/*-<id>.parquet` pattern would let one agent write another's keys.
 */
import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { DATASET_NAMES } from '../core/datasets.ts';
import { COLD_PREFIX, coldFilePath, warmManifestKey, warmObjectKey } from '../core/layout.ts';
import { readConfig, stackProps } from '../lib/config.ts';
import { agentObjectPatterns } from '../lib/constructs/edge-access.ts';
import { TickvaultStack } from '../lib/tickvault-stack.ts';

const CDK_CONTEXT = (JSON.parse(readFileSync(new URL('../cdk.json', import.meta.url), 'utf8')) as { context: Record<string, unknown> }).context;

/** A throwaway CA (EC P-256, CA:TRUE, valid to 2126); its private key was discarded. */
const TEST_CA_PEM = `-----BEGIN CERTIFICATE-----
MIIBnjCCAUWgAwIBAgIUI6VWKXjVSiyYZOOvZ7aP24MKRA4wCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRdGlja3ZhdWx0IHRlc3QgQ0EwIBcNMjYxMTI2MDgyNTI2WhgP
MjEyNjExMDIwODI1MjZaMBwxGjAYBgNVBAMMEXRpY2t2YXVsdCB0ZXN0IENBMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEtSEf0K+dhwb6q0CJy2Y+hJCu1x6aEwML
IW0cbMnYu7zcF1PxYhEZiBMYXL7WZb3RIWDLveLbjNBLZsYyY6nTnaNjMGEwHQYD
VR0OBBYEFLygA6lBpOAZQt8yqW3fJ6jnp7ntMB8GA1UdIwQYMBaAFLygA6lBpOAZ
Qt8yqW3fJ6jnp7ntMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMAoG
CCqGSM49BAMCA0cAMEQCIG0RSbfKsPWVz3+awxaHtg3Zw8MIcN/bdVo64B8L3XgP
AiB6ibJgO7qcUo+Xs2/lnYk+CPN1XJULGTqp4UBBb0ayNA==
-----END CERTIFICATE-----`;

const AGENTS = ['edge-1', '1', 'west-edge-1', '00001-edge-1', 'edge-10'] as const;
const REGION = 'eu-west-1';
const ACCOUNT = '111122223333';
const BUCKET_ARN = 'arn:aws:s3:::tickvault-data-bucket';
const KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT}:key/0000-data`;
const ANCHOR_ARN = `arn:aws:rolesanywhere:${REGION}:${ACCOUNT}:trust-anchor/anchor`;

type Json = Record<string, unknown>;
interface Statement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | string[];
  readonly Resource?: string | string[];
  readonly Principal?: Json;
  readonly Condition?: Record<string, Record<string, string | string[]>>;
  readonly NotAction?: unknown;
  readonly NotResource?: unknown;
}
interface Request {
  readonly action: string;
  readonly resource?: string;
  readonly context?: Readonly<Record<string, string>>;
  readonly service?: string;
}

// ---- A small IAM evaluator -----------------------------------------------------------------------------------------

/** IAM wildcard matching: `*` any run of characters (slashes included), `?` exactly one. */
function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const source = [...pattern].map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${source}$`, ignoreCase ? 'is' : 's').test(value);
}

const list = (x: string | string[] | undefined): string[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

function conditionHolds(operator: string, key: string, expected: string[], context: Readonly<Record<string, string>>): boolean {
  const actual = Object.entries(context).find(([k]) => k.toLowerCase() === key.toLowerCase())?.[1];
  // Without IfExists, a condition on a key the request does not carry is false.
  if (actual === undefined) return false;
  switch (operator) {
    case 'StringEquals':
    case 'ArnEquals':
      return expected.includes(actual);
    case 'StringLike':
    case 'ArnLike':
      return expected.some((p) => wildcardMatch(p, actual));
    default:
      throw new Error(`the evaluator does not implement condition operator ${operator}`);
  }
}

function statementMatches(s: Statement, request: Request): boolean {
  if (s.NotAction !== undefined || s.NotResource !== undefined) throw new Error('the evaluator does not implement NotAction/NotResource');
  if (!list(s.Action).some((a) => wildcardMatch(a, request.action, true))) return false;
  if (request.resource !== undefined && !list(s.Resource).some((r) => wildcardMatch(r, request.resource ?? ''))) return false;
  if (request.service !== undefined && !list(s.Principal?.['Service'] as string | string[] | undefined).includes(request.service)) return false;
  return Object.entries(s.Condition ?? {}).every(([operator, entries]) =>
    Object.entries(entries).every(([key, values]) => conditionHolds(operator, key, list(values), request.context ?? {})));
}

/** 'allow' only when an Allow statement matches and no Deny does. */
function evaluate(statements: readonly Statement[], request: Request): 'allow' | 'deny' {
  if (statements.some((s) => s.Effect === 'Deny' && statementMatches(s, request))) return 'deny';
  return statements.some((s) => s.Effect === 'Allow' && statementMatches(s, request)) ? 'allow' : 'deny';
}

// ---- The synthesized stack, resolved ---------------------------------------------------------------------------------

describe('edge agent roles (Roles Anywhere configured, five agents)', () => {
  let template: Template;
  let stack: TickvaultStack;
  const policies = new Map<string, Statement[]>();
  const trusts = new Map<string, Statement[]>();

  beforeAll(() => {
    // Bundling skipped: only the roles matter here.
    const app = new App({
      context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [], agentIds: AGENTS.join(','), rolesAnywhereCaCertificatePem: TEST_CA_PEM },
    });
    stack = new TickvaultStack(app, 'Edge', stackProps(readConfig(app.node)));
    template = Template.fromStack(stack);
    const ids = {
      [stack.getLogicalId(stack.data.bucket.node.defaultChild as never)]: BUCKET_ARN,
      [stack.getLogicalId(stack.data.key.node.defaultChild as never)]: KEY_ARN,
      [stack.getLogicalId(stack.edgeAccess.trustAnchor as never)]: ANCHOR_ARN,
    };
    const resolve = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(resolve);
      if (typeof value !== 'object' || value === null) return value;
      const v = value as Json;
      if ('Fn::Join' in v) {
        const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
        return parts.map(resolve).join(sep);
      }
      if ('Ref' in v) {
        const refs: Record<string, string> = { 'AWS::Region': REGION, 'AWS::Partition': 'aws', 'AWS::AccountId': ACCOUNT, 'AWS::URLSuffix': 'amazonaws.com' };
        const ref = refs[String(v['Ref'])];
        if (ref === undefined) throw new Error(`unresolved Ref ${String(v['Ref'])}`);
        return ref;
      }
      if ('Fn::GetAtt' in v) {
        const [logicalId, attribute] = v['Fn::GetAtt'] as [string, string];
        const arn = ids[logicalId];
        if (arn === undefined || !['Arn', 'TrustAnchorArn'].includes(attribute)) throw new Error(`unresolved GetAtt ${logicalId}.${attribute}`);
        return arn;
      }
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
    };
    const resources = template.toJSON()['Resources'] as Record<string, { Type: string; Properties: Json }>;
    for (const agentId of AGENTS) {
      const roleId = stack.getLogicalId(stack.edgeAccess.roles.get(agentId)?.node.defaultChild as never);
      const attached = Object.values(resources).filter((r) => r.Type === 'AWS::IAM::Policy'
        && (r.Properties['Roles'] as Json[]).some((ref) => ref['Ref'] === roleId));
      policies.set(agentId, attached.flatMap((p) => (resolve(p.Properties['PolicyDocument']) as { Statement: Statement[] }).Statement));
      trusts.set(agentId, (resolve(resources[roleId]?.Properties['AssumeRolePolicyDocument']) as { Statement: Statement[] }).Statement);
      expect(resources[roleId]?.Properties['Policies'], 'no inline policies beside the attached one').toBeUndefined();
    }
  });

  const can = (agentId: string, action: string, resource?: string, context: Record<string, string> = {}) =>
    evaluate(policies.get(agentId) ?? [], { action, ...(resource !== undefined && { resource }), context });
  const objectArn = (key: string) => `${BUCKET_ARN}/${key}`;
  /** Keys an agent writes: a part of every warm dataset (first, odd and last part numbers) and its manifests. */
  const keysOf = (agentId: string): string[] => DATASET_NAMES.flatMap((dataset) => [
    ...[0, 1, 99_999].map((part) => warmObjectKey({ dataset, date: '2024-07-01', symbol: 'BTC/USD', part }, agentId)),
    warmObjectKey({ dataset, date: '2025-12-31', symbol: 'AAPL', part: 3 }, agentId),
    warmManifestKey(dataset, '2024-07-01', agentId),
  ]);
  const OBJECT_ACTIONS = ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'];

  it('lets each agent put, read back and clean up the uploads of its own part files and manifests', () => {
    for (const agentId of AGENTS) {
      for (const key of keysOf(agentId)) {
        for (const action of OBJECT_ACTIONS) expect([agentId, action, key, can(agentId, action, objectArn(key))]).toEqual([agentId, action, key, 'allow']);
      }
    }
  });

  it("denies every agent every object action on every other agent's keys", () => {
    for (const agentId of AGENTS) {
      for (const other of AGENTS.filter((a) => a !== agentId)) {
        for (const key of keysOf(other)) {
          for (const action of OBJECT_ACTIONS) expect([agentId, action, key, can(agentId, action, objectArn(key))]).toEqual([agentId, action, key, 'deny']);
        }
      }
    }
  });

  it('shows why the part-number anchor is there: a bare suffix pattern would admit another agent', () => {
    const theirs = warmObjectKey({ dataset: 'trades', date: '2024-07-01', symbol: 'AAPL', part: 1 }, 'edge-1');
    expect(wildcardMatch('warm/*-1.parquet', theirs)).toBe(true);
    expect(wildcardMatch(agentObjectPatterns('1').parts, theirs)).toBe(false);
    expect(wildcardMatch(agentObjectPatterns('edge-1').parts, theirs)).toBe(true);
  });

  it('denies any access to cold/ data, whatever the dataset or action', () => {
    const coldKeys = DATASET_NAMES.map((dataset) => `${COLD_PREFIX}${coldFilePath({ dataset, period: dataset === 'bars_1d' ? '2024' : '2024-07', symbol: 'AAPL' })}`);
    for (const agentId of AGENTS) {
      for (const key of coldKeys) {
        for (const action of [...OBJECT_ACTIONS, 's3:DeleteObject', 's3:GetObjectTagging']) expect([agentId, action, key, can(agentId, action, objectArn(key))]).toEqual([agentId, action, key, 'deny']);
      }
    }
  });

  it('denies deleting, tagging or re-permissioning anything, its own objects included', () => {
    for (const agentId of AGENTS) {
      for (const key of [...keysOf(agentId), 'warm/trades/other.parquet', 'cold/trades/year=2024/month=07/AAPL.parquet']) {
        for (const action of ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:PutObjectTagging', 's3:PutObjectAcl', 's3:PutObjectRetention', 's3:GetObjectVersion']) {
          expect([agentId, action, key, can(agentId, action, objectArn(key))]).toEqual([agentId, action, key, 'deny']);
        }
      }
      for (const action of ['s3:DeleteBucket', 's3:PutBucketPolicy', 's3:PutLifecycleConfiguration', 's3:ListBucketVersions', 's3:PutBucketTagging']) {
        expect([agentId, action, can(agentId, action, BUCKET_ARN)]).toEqual([agentId, action, 'deny']);
      }
    }
  });

  it('lets each agent list warm/ and nothing outside it', () => {
    for (const agentId of AGENTS) {
      for (const prefix of ['warm/', 'warm/trades/date=2024-07-01/', 'warm/bars/timeframe=1m/']) expect([prefix, can(agentId, 's3:ListBucket', BUCKET_ARN, { 's3:prefix': prefix })]).toEqual([prefix, 'allow']);
      for (const prefix of ['cold/', 'cold/trades/', '', 'warmer/', 'war', 'Warm/']) expect([prefix, can(agentId, 's3:ListBucket', BUCKET_ARN, { 's3:prefix': prefix })]).toEqual([prefix, 'deny']);
      expect(can(agentId, 's3:ListBucket', BUCKET_ARN)).toBe('deny');
      expect(can(agentId, 's3:ListBucket', 'arn:aws:s3:::another-bucket', { 's3:prefix': 'warm/' })).toBe('deny');
    }
  });

  it('lets each agent use the data key only through S3 in its region, and only to encrypt and decrypt objects', () => {
    const viaS3 = { 'kms:ViaService': `s3.${REGION}.amazonaws.com` };
    for (const agentId of AGENTS) {
      expect(can(agentId, 'kms:GenerateDataKey', KEY_ARN, viaS3)).toBe('allow');
      expect(can(agentId, 'kms:Decrypt', KEY_ARN, viaS3)).toBe('allow');
      expect(can(agentId, 'kms:Decrypt', KEY_ARN)).toBe('deny');
      expect(can(agentId, 'kms:Decrypt', KEY_ARN, { 'kms:ViaService': `sqs.${REGION}.amazonaws.com` })).toBe('deny');
      expect(can(agentId, 'kms:Decrypt', `arn:aws:kms:${REGION}:${ACCOUNT}:key/other`, viaS3)).toBe('deny');
      for (const action of ['kms:Encrypt', 'kms:ScheduleKeyDeletion', 'kms:PutKeyPolicy', 'kms:CreateGrant']) expect(can(agentId, action, KEY_ARN, viaS3)).toBe('deny');
    }
  });

  it('lets each agent publish metrics in the tickvault namespace only', () => {
    for (const agentId of AGENTS) {
      expect(can(agentId, 'cloudwatch:PutMetricData', '*', { 'cloudwatch:namespace': 'tickvault' })).toBe('allow');
      expect(can(agentId, 'cloudwatch:PutMetricData', '*', { 'cloudwatch:namespace': 'AWS/Lambda' })).toBe('deny');
      expect(can(agentId, 'cloudwatch:PutMetricData', '*')).toBe('deny');
    }
  });

  it('grants nothing beyond S3 object and list actions, the data key and metrics', () => {
    const actions = new Set([...policies.values()].flatMap((statements) => statements.flatMap((s) => list(s.Action))));
    expect([...actions].sort()).toEqual([
      'cloudwatch:PutMetricData', 'kms:Decrypt', 'kms:GenerateDataKey', 's3:AbortMultipartUpload', 's3:GetObject',
      's3:ListBucket', 's3:ListBucketMultipartUploads', 's3:ListMultipartUploadParts', 's3:PutObject',
    ]);
    for (const agentId of AGENTS) {
      for (const action of ['iam:PassRole', 'sts:AssumeRole', 's3:CreateBucket', 'lambda:InvokeFunction', 'states:StartExecution']) expect(can(agentId, action, '*')).toBe('deny');
    }
  });

  it('lets Roles Anywhere assume each role only for a certificate whose CN is that agent id, from this trust anchor', () => {
    for (const agentId of AGENTS) {
      const trust = trusts.get(agentId) ?? [];
      expect(trust).toHaveLength(1);
      expect(list(trust[0]?.Action).sort()).toEqual(['sts:AssumeRole', 'sts:SetSourceIdentity', 'sts:TagSession']);
      for (const action of ['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity']) {
        for (const cn of AGENTS) {
          const request = { action, service: 'rolesanywhere.amazonaws.com', context: { 'aws:PrincipalTag/x509Subject/CN': cn, 'aws:SourceArn': ANCHOR_ARN } };
          expect([agentId, cn, action, evaluate(trust, request)]).toEqual([agentId, cn, action, cn === agentId ? 'allow' : 'deny']);
        }
        const otherAnchor = { 'aws:PrincipalTag/x509Subject/CN': agentId, 'aws:SourceArn': `${ANCHOR_ARN}-other` };
        expect(evaluate(trust, { action, service: 'rolesanywhere.amazonaws.com', context: otherAnchor })).toBe('deny');
        expect(evaluate(trust, { action, service: 'ec2.amazonaws.com', context: { 'aws:PrincipalTag/x509Subject/CN': agentId, 'aws:SourceArn': ANCHOR_ARN } })).toBe('deny');
      }
    }
  });

  it('creates the trust anchor from the CA and a profile listing every agent role, and outputs both', () => {
    template.hasResourceProperties('AWS::RolesAnywhere::TrustAnchor', {
      Enabled: true, Name: 'Tickvault-edge-agents',
      Source: { SourceType: 'CERTIFICATE_BUNDLE', SourceData: { X509CertificateData: TEST_CA_PEM } },
    });
    const profile = Object.values(template.findResources('AWS::RolesAnywhere::Profile'))[0] as { Properties: Json } | undefined;
    expect(profile?.Properties).toMatchObject({ Enabled: true, DurationSeconds: 3600, Name: 'Tickvault-edge-agents' });
    expect(profile?.Properties['RoleArns']).toEqual(AGENTS.map((a) => ({ 'Fn::GetAtt': [stack.getLogicalId(stack.edgeAccess.roles.get(a)?.node.defaultChild as never), 'Arn'] })));
    const outputs = template.toJSON()['Outputs'] as Record<string, unknown>;
    expect(Object.keys(outputs)).toEqual(expect.arrayContaining(['TrustAnchorArn', 'ProfileArn', ...AGENTS.map((a) => `AgentRoleArn${a.replaceAll('-', '')}`)]));
    template.resourceCountIs('AWS::CloudWatch::Alarm', 3 + 2 + 1 + AGENTS.length);
  });
});

/**
 * The CDK app: one assertion block per construct over the synthesized template, the compactor bundle loaded for
 * real (DuckDB from the bundle's own node_modules), and the AWS Solutions checks with nothing unacknowledged.
 * Bundling runs esbuild from node_modules; CDK_DOCKER points nowhere so any attempt to use Docker fails loudly.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { App, type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { glueColumns } from '../core/catalog-columns.ts';
import { DATASET_NAMES } from '../core/datasets.ts';
import { coldFilePath, coldPeriodOf, warmFilePath } from '../core/layout.ts';
import { symbolToPath } from '../core/symbols.ts';
import { asIBucket } from '../lib/bucket-interface.ts';
import { Catalog } from '../lib/constructs/catalog.ts';
import { NATIVE_PACKAGES_X86_64 } from '../lib/constructs/compaction.ts';
import { TIERS, partitioning } from '../lib/constructs/dataset-table.ts';
import { InfraConfigError } from '../lib/errors.ts';
import { TickvaultStack } from '../lib/tickvault-stack.ts';

const REPO = new URL('../', import.meta.url);
const CDK_CONTEXT = (JSON.parse(readFileSync(new URL('cdk.json', REPO), 'utf8')) as { context: Record<string, unknown> }).context;
const SYNTH_TIMEOUT_MS = 120_000;

process.env['CDK_DOCKER'] = '/nonexistent/docker-is-not-used-for-bundling';

type Json = Record<string, unknown>;
interface Statement { Effect: string; Action: string | string[]; Resource: unknown; Condition?: Json; Sid?: string }

/** An app configured like cdk.json's, so feature flags match what `cdk synth` uses. */
function newApp(): App {
  return new App({ context: CDK_CONTEXT });
}

/** The logical id of an L2 construct's CloudFormation resource. */
function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

const asArray = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);

describe('TickvaultStack', () => {
  let app: App;
  let stack: TickvaultStack;
  let template: Template;
  let bucketId: string;
  let logsBucketId: string;
  let keyId: string;

  beforeAll(() => {
    app = newApp();
    stack = new TickvaultStack(app, 'Test');
    template = Template.fromStack(stack);
    bucketId = logicalId(stack, stack.data.bucket);
    logsBucketId = logicalId(stack, stack.data.accessLogsBucket);
    keyId = logicalId(stack, stack.data.key);
  }, SYNTH_TIMEOUT_MS);

  describe('DataBucket', () => {
    it('blocks all public access on both buckets and names neither', () => {
      const buckets = template.findResources('AWS::S3::Bucket');
      expect(Object.keys(buckets).sort()).toEqual([bucketId, logsBucketId].sort());
      for (const bucket of Object.values(buckets) as Json[]) {
        expect((bucket['Properties'] as Json)['PublicAccessBlockConfiguration']).toEqual({
          BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true,
        });
        expect((bucket['Properties'] as Json)['BucketName']).toBeUndefined();
      }
    });

    it('denies every request made without TLS, on both buckets', () => {
      for (const id of [bucketId, logsBucketId]) {
        template.hasResourceProperties('AWS::S3::BucketPolicy', {
          Bucket: { Ref: id },
          PolicyDocument: {
            Statement: Match.arrayWith([Match.objectLike({
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Action: 's3:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            })]),
          },
        });
      }
    });

    it('encrypts data with a rotating customer-managed key, logs with S3-managed keys', () => {
      template.hasResource('AWS::KMS::Key', {
        Properties: { EnableKeyRotation: true },
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
      template.hasResourceProperties('AWS::S3::Bucket', {
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] } },
          }],
        },
      });
      const logs = template.toJSON()['Resources'][logsBucketId] as Json;
      expect((logs['Properties'] as Json)['BucketEncryption']).toEqual({
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      });
    });

    it('versions the data bucket, logs access to the logs bucket, and cleans up uploads and old versions', () => {
      const props = (template.toJSON()['Resources'][bucketId] as Json)['Properties'] as Json;
      expect(props['VersioningConfiguration']).toEqual({ Status: 'Enabled' });
      expect(props['LoggingConfiguration']).toEqual({ DestinationBucketName: { Ref: logsBucketId }, LogFilePrefix: 'data-bucket/' });
      expect(props['LifecycleConfiguration']).toEqual({
        Rules: [
          { Id: 'abort-incomplete-multipart-uploads', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } },
          { Id: 'expire-noncurrent-versions', Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 30 } },
        ],
      });
    });

    it('delivers access logs under a bucket policy, not an ACL', () => {
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: logsBucketId },
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'logging.s3.amazonaws.com' },
            Action: 's3:PutObject',
            Condition: Match.objectLike({ ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [bucketId, 'Arn'] } } }),
          })]),
        },
      });
      for (const bucket of Object.values(template.findResources('AWS::S3::Bucket')) as Json[]) {
        expect((bucket['Properties'] as Json)['AccessControl']).toBeUndefined();
        expect((bucket['Properties'] as Json)['OwnershipControls']).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
      }
    });

    it('retains both buckets and the key on delete and on replacement', () => {
      for (const id of [bucketId, logsBucketId, keyId]) {
        const resource = template.toJSON()['Resources'][id] as Json;
        expect([id, resource['DeletionPolicy'], resource['UpdateReplacePolicy']]).toEqual([id, 'Retain', 'Retain']);
      }
    });
  });

  describe('Catalog', () => {
    const tableNamed = (name: string): Json => {
      const tables = Object.values(template.findResources('AWS::Glue::Table')) as Json[];
      const table = tables.find((t) => ((t['Properties'] as Json)['TableInput'] as Json)['Name'] === name);
      if (table === undefined) throw new Error(`no Glue table named ${name}`);
      return (table['Properties'] as Json)['TableInput'] as Json;
    };
    const s3Path = (suffix: string) => ({ 'Fn::Join': ['', ['s3://', { Ref: bucketId }, suffix]] });
    const asGlue = (cols: ReturnType<typeof glueColumns>) => cols.map((c) => ({ Name: c.name, Type: c.type, Comment: c.comment }));

    it('defines the tickvault database', () => {
      template.hasResourceProperties('AWS::Glue::Database', { DatabaseInput: Match.objectLike({ Name: 'tickvault' }) });
    });

    it('reads cold trades with exactly the dataset columns, partitioned and projected by year and month', () => {
      const table = tableNamed('cold_trades');
      const sd = table['StorageDescriptor'] as Json;
      expect(sd['Columns']).toEqual(asGlue(glueColumns('trades')));
      expect(sd['Location']).toEqual(s3Path('/cold/trades/'));
      expect(sd['InputFormat']).toBe('org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat');
      expect(sd['OutputFormat']).toBe('org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat');
      expect(sd['SerdeInfo']).toEqual({ SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' });
      expect((table['PartitionKeys'] as Json[]).map((k) => [k['Name'], k['Type']])).toEqual([['year', 'string'], ['month', 'string']]);
      expect(table['TableType']).toBe('EXTERNAL_TABLE');
      expect(table['Parameters']).toEqual({
        classification: 'parquet',
        EXTERNAL: 'TRUE',
        'projection.enabled': 'true',
        'projection.year.type': 'integer',
        'projection.year.range': '2000,2100',
        'projection.month.type': 'integer',
        'projection.month.range': '1,12',
        'projection.month.digits': '2',
        'storage.location.template': s3Path('/cold/trades/year=${year}/month=${month}/'),
      });
    });

    it('reads warm trades by date and injected symbol, without the symbol data column', () => {
      const table = tableNamed('warm_trades');
      const sd = table['StorageDescriptor'] as Json;
      expect(sd['Columns']).toEqual(asGlue(glueColumns('trades').filter((c) => c.name !== 'symbol')));
      expect(sd['Location']).toEqual(s3Path('/warm/trades/'));
      expect((table['PartitionKeys'] as Json[]).map((k) => [k['Name'], k['Type']])).toEqual([['date', 'string'], ['symbol', 'string']]);
      expect(table['Parameters']).toEqual({
        classification: 'parquet',
        EXTERNAL: 'TRUE',
        'projection.enabled': 'true',
        'projection.date.type': 'date',
        'projection.date.format': 'yyyy-MM-dd',
        'projection.date.range': '2020-01-01,NOW',
        'projection.date.interval': '1',
        'projection.date.interval.unit': 'DAYS',
        'projection.symbol.type': 'injected',
        'storage.location.template': s3Path('/warm/trades/date=${date}/symbol=${symbol}/'),
      });
    });
  });

  describe('Compaction', () => {
    let fnId: string;
    beforeAll(() => {
      fnId = logicalId(stack, stack.compaction.function);
    });

    it('runs Node 24 on x86_64 with 3008 MB, 15 minutes, 10 GiB of /tmp and the bucket layout in its environment', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs24.x',
        Architectures: ['x86_64'],
        Handler: 'index.handler',
        MemorySize: 3008,
        Timeout: 900,
        EphemeralStorage: { Size: 10240 },
        Environment: {
          Variables: Match.objectLike({ BUCKET: { Ref: bucketId }, WARM_PREFIX: 'warm/', COLD_PREFIX: 'cold/' }),
        },
      });
      expect(Object.keys(template.findResources('AWS::Lambda::Function'))).toEqual([fnId]);
    });

    it('grants least privilege: scoped S3 objects and prefixes, two KMS actions on one key, its own log group', () => {
      const roles = template.findResources('AWS::IAM::Role');
      for (const role of Object.values(roles) as Json[]) {
        expect((role['Properties'] as Json)['ManagedPolicyArns']).toBeUndefined();
      }
      const statements = Object.values(template.findResources('AWS::IAM::Policy'))
        .flatMap((p) => (((p as Json)['Properties'] as Json)['PolicyDocument'] as { Statement: Statement[] }).Statement);
      for (const s of statements) {
        expect(s.Effect).toBe('Allow');
        expect(s.Resource).not.toBe('*');
        expect(asArray(s.Resource)).not.toContain('*');
        for (const action of asArray(s.Action)) expect(action).not.toContain('*');
      }
      const objects = (prefix: string) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/${prefix}*`]] });
      const grants = statements.map((s) => ({ actions: asArray(s.Action).sort(), resource: s.Resource, condition: s.Condition }));
      expect(grants).toEqual(expect.arrayContaining([
        { actions: ['s3:GetObject'], resource: objects('warm/'), condition: undefined },
        { actions: ['s3:GetObjectTagging', 's3:PutObjectTagging'], resource: objects('warm/'), condition: undefined },
        { actions: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'], resource: objects('cold/'), condition: undefined },
        {
          actions: ['s3:ListBucket'],
          resource: { 'Fn::GetAtt': [bucketId, 'Arn'] },
          condition: { StringLike: { 's3:prefix': ['warm/*', 'cold/*'] } },
        },
        { actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resource: { 'Fn::GetAtt': [keyId, 'Arn'] }, condition: undefined },
      ]));
      const s3Actions = statements.flatMap((s) => asArray(s.Action)).filter((a) => a.startsWith('s3:'));
      expect(new Set(s3Actions)).toEqual(new Set([
        's3:GetObject', 's3:GetObjectTagging', 's3:PutObjectTagging', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListBucket',
      ]));
      const logStatement = statements.find((s) => asArray(s.Action).includes('logs:PutLogEvents'));
      expect(logStatement?.Resource).toEqual({ 'Fn::GetAtt': [logicalId(stack, stack.compaction.logGroup), 'Arn'] });
    });

    it('bundles an ES module whose DuckDB loads from the bundle itself', () => {
      const assembly = app.synth();
      const assets = readdirSync(assembly.directory).filter((f) => f.startsWith('asset.'));
      expect(assets).toHaveLength(1);
      const bundle = join(assembly.directory, assets[0] ?? '');
      expect(readFileSync(join(bundle, 'index.mjs'), 'utf8')).toMatch(/^import \{ createRequire as __tickvaultCreateRequire \}/);
      for (const pkg of NATIVE_PACKAGES_X86_64) {
        const shipped = JSON.parse(readFileSync(join(bundle, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string };
        const installed = JSON.parse(readFileSync(new URL(`node_modules/${pkg}/package.json`, REPO), 'utf8')) as { version: string };
        expect([pkg, shipped.version]).toEqual([pkg, installed.version]);
      }
      expect(existsSync(join(bundle, 'node_modules/@duckdb/node-bindings-linux-x64/duckdb.node'))).toBe(true);
      // Resolve DuckDB the way the bundle will in Lambda: from the bundle directory, whose ancestors hold no node_modules.
      expect(existsSync(join(assembly.directory, '..', 'node_modules'))).toBe(false);
      const script = [
        "const { createRequire } = require('node:module');",
        "const req = createRequire(require('node:path').join(process.cwd(), 'index.mjs'));",
        "const { DuckDBInstance } = req('@duckdb/node-api');",
        'DuckDBInstance.create(":memory:").then((db) => db.connect()).then((c) => c.runAndReadAll("select 6 * 7 as answer"))',
        '  .then((r) => console.log(JSON.stringify(r.getRowObjectsJson())));',
      ].join('\n');
      const out = execFileSync(process.execPath, ['-e', script], { cwd: bundle, env: { PATH: process.env['PATH'] ?? '', HOME: tmpdir() } });
      expect(JSON.parse(out.toString())).toEqual([{ answer: 42 }]);
    }, SYNTH_TIMEOUT_MS);
  });

  it('outputs the bucket, database and compactor names', () => {
    template.hasOutput('BucketName', { Value: { Ref: bucketId } });
    template.hasOutput('GlueDatabaseName', { Value: 'tickvault' });
    template.hasOutput('CompactorFunctionName', { Value: { Ref: logicalId(stack, stack.compaction.function) } });
  });

  it('raises no CDK warnings or errors', () => {
    expect(Annotations.fromStack(stack).findError('*', Match.anyValue())).toEqual([]);
    expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
  });
});

describe('Catalog over every dataset and tier', () => {
  const stack = new Stack(newApp(), 'CatalogOnly');
  const bucket = new s3.Bucket(stack, 'Bucket');
  const catalog = new Catalog(stack, 'Catalog', { bucket: asIBucket(bucket), tables: [] });
  const tables = DATASET_NAMES.flatMap((dataset) => TIERS.map((tier) => catalog.addTable(dataset, tier)));

  it('adds one table per dataset and tier with the dataset columns minus partition keys', () => {
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Glue::Table', DATASET_NAMES.length * TIERS.length);
    for (const t of tables) {
      const keys = partitioning(t.dataset, t.tier).keys.map((k) => k.name);
      template.hasResourceProperties('AWS::Glue::Table', {
        TableInput: Match.objectLike({
          Name: `${t.tier}_${t.dataset}`,
          StorageDescriptor: Match.objectLike({
            Columns: glueColumns(t.dataset).filter((c) => !keys.includes(c.name)).map((c) => ({ Name: c.name, Type: c.type, Comment: c.comment })),
          }),
        }),
      });
    }
  });

  it('projects partitions onto exactly the directories core/layout.ts writes', () => {
    const symbol = 'BTC/USD';
    for (const t of tables) {
      const parts = partitioning(t.dataset, t.tier);
      const values: Record<string, string> = { date: '2024-07-01', symbol: symbolToPath(symbol), year: '2024', month: '07' };
      const dir = parts.template.replaceAll(/\$\{(\w+)\}/g, (_, name: string) => values[name] ?? `?${name}`);
      // t.location resolves to Fn::Join ['', ['s3://', {Ref: bucket}, '/<tier>/<dataset-root>/']].
      const location = stack.resolve(t.location) as { 'Fn::Join': [string, unknown[]] };
      const prefix = String(location['Fn::Join'][1].at(-1)).slice(1);
      const file = t.tier === 'warm'
        ? warmFilePath({ dataset: t.dataset, date: '2024-07-01', symbol, part: 0 })
        : coldFilePath({ dataset: t.dataset, period: coldPeriodOf(t.dataset, '2024-07'), symbol });
      expect(`${t.tier}/${posix.dirname(file)}/`).toBe(`${prefix}${dir}`);
    }
  });

  it('refuses to define a table twice', () => {
    expect(() => catalog.addTable('trades', 'cold')).toThrow(InfraConfigError);
  });
});

describe('AWS Solutions checks (cdk-nag)', () => {
  let app: App;
  beforeAll(() => {
    app = newApp();
    new TickvaultStack(app, 'Nag');
    // As bin/cdk-app.ts does. Synthesis itself throws on any unacknowledged error (in-memory app mode).
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    app.synth();
  }, SYNTH_TIMEOUT_MS);

  const describeFindings = (pack: AwsSolutionsChecks) => pack.validateScope(app).violations
    .flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} (${v.severity}) at ${r.constructPath ?? '?'}`));

  it('leaves no unacknowledged errors or warnings', () => {
    expect(describeFindings(new AwsSolutionsChecks())).toEqual([]);
  });

  it('acknowledges only findings that exist, each with a reason', () => {
    const acknowledged = app.node.findAll().flatMap((c) => c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) => Object.entries(m.data as Record<string, string>))
      .map(([id, reason]) => ({ id: id.replace(/^annotation::/i, ''), at: c.node.path, reason })));
    expect(acknowledged.length).toBeGreaterThan(0);
    // The same pack with acknowledgements ignored (isAcknowledged is private in cdk-nag 3, hence the cast).
    const raw = new AwsSolutionsChecks();
    const patchable = raw as unknown as { isAcknowledged: unknown };
    expect(typeof patchable.isAcknowledged).toBe('function');
    patchable.isAcknowledged = () => false;
    const findings = describeFindings(raw);
    for (const ack of acknowledged) {
      expect(ack.reason.length, ack.id).toBeGreaterThan(40);
      const under = (f: string) => f.endsWith(` at ${ack.at}`) || f.includes(` at ${ack.at}/`);
      expect(findings.some((f) => f.startsWith(`${ack.id} (`) && under(f)), `${ack.id} at ${ack.at} matches no finding`).toBe(true);
    }
  });
});

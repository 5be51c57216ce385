/**
 * The compactor: a Lambda that reads a month of warm files of one (dataset, symbol), writes the cold monthly file,
 * and tags the warm files it has folded in. It runs DuckDB, a native module, so the bundle ships DuckDB's prebuilt
 * binary for the function's architecture (see native-packages.ts for how the arm64 one gets here from an x64 host).
 */
import { Duration, Size } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as lambdaNodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { COLD_PREFIX, WARM_PREFIX } from '../../core/layout.ts';
import { asIBucket } from '../bucket-interface.ts';
import { InfraConfigError } from '../errors.ts';
import { acknowledge, wildcardArnFinding } from '../nag-findings.ts';
import { type LinuxArchitecture, duckdbPackages } from '../native-packages.ts';
import { BundledFunction, REPO_ROOT } from './bundled-function.ts';
import { COMPACTED_TAG, type DataBucket } from './data-bucket.ts';

/** Default handler source, relative to the repository root. */
export const COMPACTOR_ENTRY = 'lambdas/compactor/handler.ts';

export interface CompactionProps {
  /** The data bucket the compactor reads `warm/` from and writes `cold/` to. */
  readonly data: DataBucket;
  /**
   * Handler source file (exporting `handler`), absolute or relative to the repository root.
   * @default 'lambdas/compactor/handler.ts'
   */
  readonly entry?: string;
  /**
   * Instruction set. arm64 costs about 20% less per GB-second; its DuckDB binary is fetched at synth time when the
   * host's npm did not install it (see native-packages.ts). x86_64 ships the binary installed on an x64 host.
   * @default 'arm64'
   */
  readonly architecture?: LinuxArchitecture;
  /**
   * Memory in MiB; Lambda's CPU share grows with it, and DuckDB uses both (its memory limit is two thirds of this).
   * @default 3008
   */
  readonly memoryMiB?: number;
  /**
   * Longest a single compaction may run.
   * @default Duration.minutes(15)
   */
  readonly timeout?: Duration;
  /**
   * /tmp size, where DuckDB spills and stages the monthly files before upload.
   * @default Size.gibibytes(10)
   */
  readonly ephemeralStorage?: Size;
  /**
   * How long the function's logs are kept.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Where fetched DuckDB platform packages are cached.
   * @default `<repo>/node_modules/.cache/tickvault-native`
   */
  readonly nativePackageCacheDir?: string;
}

export class Compaction extends Construct {
  readonly function: lambdaNodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly architecture: LinuxArchitecture;

  constructor(scope: Construct, id: string, props: CompactionProps) {
    super(scope, id);
    const { bucket, key } = props.data;
    this.architecture = props.architecture ?? 'arm64';
    const memoryMiB = props.memoryMiB ?? 3008;
    if (!Number.isInteger(memoryMiB) || memoryMiB < 1024 || memoryMiB > 10240) {
      throw new InfraConfigError(`${this.node.path}: compactor memory must be an integer from 1024 to 10240 MiB (DuckDB needs room), got ${memoryMiB}`);
    }
    const cacheDir = props.nativePackageCacheDir;

    const fn = new BundledFunction(this, 'Compactor', {
      entry: props.entry ?? COMPACTOR_ENTRY,
      description: 'tickvault compactor: folds a month of warm Parquet files into a cold monthly file',
      roleDescription: 'tickvault compactor: reads warm/, writes cold/, tags compacted warm files',
      architecture: this.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64,
      memoryMiB,
      timeout: props.timeout ?? Duration.minutes(15),
      ephemeralStorage: props.ephemeralStorage ?? Size.gibibytes(10),
      ...(props.logRetention !== undefined && { logRetention: props.logRetention }),
      environment: {
        BUCKET: bucket.bucketName,
        WARM_PREFIX,
        COLD_PREFIX,
        COMPACTED_TAG_KEY: COMPACTED_TAG.key,
        COMPACTED_TAG_VALUE: COMPACTED_TAG.value,
        DUCKDB_MEMORY_LIMIT: `${Math.floor((memoryMiB * 2) / 3)}MB`,
        // DuckDB keeps its extensions and secrets under $HOME, which Lambda leaves unset; /tmp is the writable place.
        HOME: '/tmp',
      },
      // DuckDB is a .node addon plus libduckdb.so that esbuild cannot inline: it stays external and ships as a package.
      externalModules: ['@duckdb/*'],
      nativePackages: () => duckdbPackages(this.architecture, { repoRoot: REPO_ROOT, ...(cacheDir !== undefined && { cacheDir }) }),
    });
    this.function = fn.function;
    this.role = fn.role;
    this.logGroup = fn.logGroup;

    grantTierAccess(this.role, asIBucket(bucket));
    // Reading SSE-KMS objects needs Decrypt; writing them (including multipart parts) needs GenerateDataKey.
    key.grant(this.role, 'kms:Decrypt', 'kms:GenerateDataKey');

    for (const prefix of [WARM_PREFIX, COLD_PREFIX]) {
      acknowledge(this.role, wildcardArnFinding(bucket.node.defaultChild as s3.CfnBucket, `/${prefix}*`),
        `The compactor works on objects it discovers by listing, so it is scoped to the ${prefix} prefix rather than to object keys known at deploy time.`);
    }
  }
}

/** Least-privilege S3 access: read warm/, read and write cold/, tag warm/, list only under those prefixes. */
function grantTierAccess(role: iam.IGrantable, bucket: s3.IBucket): void {
  const warmObjects = bucket.arnForObjects(`${WARM_PREFIX}*`);
  const coldObjects = bucket.arnForObjects(`${COLD_PREFIX}*`);
  const statements = [
    new iam.PolicyStatement({ sid: 'ReadWarm', actions: ['s3:GetObject'], resources: [warmObjects] }),
    new iam.PolicyStatement({ sid: 'TagWarm', actions: ['s3:GetObjectTagging', 's3:PutObjectTagging'], resources: [warmObjects] }),
    new iam.PolicyStatement({
      sid: 'ReadWriteCold',
      actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'],
      resources: [coldObjects],
    }),
    // A list request without a matching s3:prefix is denied, so listing is confined to the two tiers. Side effect:
    // S3 answers 404 for a missing key only to callers it would let list the bucket, so a GET/HEAD of a key that
    // does not exist yet may come back 403 here; the handler should list a prefix to test for existence.
    new iam.PolicyStatement({
      sid: 'ListTiers',
      // Unconditioned: with a prefix condition S3 answers 403, not 404, for a key that is absent (a source that
      // retention already removed), which the compactor must tell apart from a real refusal.
      actions: ['s3:ListBucket'],
      resources: [bucket.bucketArn],
    }),
  ];
  for (const statement of statements) role.grantPrincipal.addToPrincipalPolicy(statement);
}

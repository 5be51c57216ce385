/**
 * The compactor: a Lambda that reads a month of warm files, writes the cold monthly files, and tags the warm
 * files it has folded in. It runs DuckDB, a native module, so the bundle ships DuckDB's prebuilt binary.
 */
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, Size, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as lambdaNodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { COLD_PREFIX, WARM_PREFIX } from '../../core/layout.ts';
import { asIBucket } from '../bucket-interface.ts';
import type { DataBucket } from './data-bucket.ts';

/** The repository root: NodejsFunction's project root, whose node_modules and package-lock.json bundling uses. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Default handler source, relative to the repository root. */
export const COMPACTOR_ENTRY = 'lambdas/compactor/handler.ts';

/**
 * Packages copied verbatim into the bundle's node_modules. DuckDB is a native module (a .node addon plus
 * libduckdb.so) that esbuild cannot inline, so it stays external and ships as installed. The platform
 * package must match the function's architecture; detect-libc is node-bindings' one runtime dependency
 * (it picks glibc vs musl; without it the binding assumes glibc, but we ship it so nothing is guessed).
 */
export const NATIVE_PACKAGES_X86_64 = [
  '@duckdb/node-api',
  '@duckdb/node-bindings',
  '@duckdb/node-bindings-linux-x64',
  'detect-libc',
] as const;

export interface CompactionProps {
  /** The data bucket the compactor reads `warm/` from and writes `cold/` to. */
  readonly data: DataBucket;
  /**
   * Handler source file (exporting `handler`), absolute or relative to the repository root.
   * @default 'lambdas/compactor/handler.ts'
   */
  readonly entry?: string;
  /**
   * Memory in MiB; Lambda's CPU share grows with it, and DuckDB uses both.
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
}

export class Compaction extends Construct {
  readonly function: lambdaNodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: CompactionProps) {
    super(scope, id);
    const { bucket, key } = props.data;

    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS });

    // An explicit role instead of the default one: the default attaches AWSLambdaBasicExecutionRole, which may
    // write to every log group in the account; this one may write only to its own.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'tickvault compactor: reads warm/, writes cold/, tags compacted warm files',
    });
    this.logGroup.grantWrite(this.role);
    grantTierAccess(this.role, asIBucket(bucket));
    // Reading SSE-KMS objects needs Decrypt; writing them (including multipart parts) needs GenerateDataKey.
    key.grant(this.role, 'kms:Decrypt', 'kms:GenerateDataKey');

    const bucketId = Stack.of(this).getLogicalId(bucket.node.defaultChild as s3.CfnBucket);
    for (const prefix of [WARM_PREFIX, COLD_PREFIX]) {
      Validations.of(this.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${prefix}*]`,
        reason: `The compactor works on objects it discovers by listing, so it is scoped to the ${prefix} prefix rather than to object keys known at deploy time.`,
      });
    }

    this.function = new lambdaNodejs.NodejsFunction(this, 'Function', {
      description: 'tickvault compactor: folds a month of warm Parquet files into cold monthly files',
      entry: posix.resolve(REPO_ROOT, props.entry ?? COMPACTOR_ENTRY),
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: posix.join(REPO_ROOT, 'package-lock.json'),
      // The newest Lambda runtime: the code needs Node 20+, and DuckDB's binding is N-API, so it is not tied to one Node version.
      runtime: lambda.Runtime.NODEJS_24_X,
      // x86_64 for now: arm64 comes with shipping DuckDB's arm64 binary (@duckdb/node-bindings-linux-arm64).
      architecture: lambda.Architecture.X86_64,
      memorySize: props.memoryMiB ?? 3008,
      timeout: props.timeout ?? Duration.minutes(15),
      ephemeralStorageSize: props.ephemeralStorage ?? Size.gibibytes(10),
      role: this.role,
      logGroup: this.logGroup,
      environment: {
        BUCKET: bucket.bucketName,
        WARM_PREFIX,
        COLD_PREFIX,
        NODE_OPTIONS: '--enable-source-maps',
        // DuckDB keeps its extensions and secrets under $HOME, which Lambda leaves unset; /tmp is the writable place.
        HOME: '/tmp',
      },
      bundling: {
        // Bundle with the esbuild in node_modules; never fall back to Docker (there is none in CI or here).
        forceDockerBundling: false,
        format: lambdaNodejs.OutputFormat.ESM,
        mainFields: ['module', 'main'],
        // CommonJS dependencies inlined into an ES module still call require(); give them one.
        banner: "import { createRequire as __tickvaultCreateRequire } from 'node:module'; const require = __tickvaultCreateRequire(import.meta.url);",
        sourceMap: true,
        // Replaces the default ['@aws-sdk/*']: the SDK is bundled, so the function runs the version package-lock.json pins.
        externalModules: ['@duckdb/*'],
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (inputDir, outputDir) => copyPackagesCommands(inputDir, outputDir, NATIVE_PACKAGES_X86_64),
        },
      },
    });
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
      actions: ['s3:ListBucket'],
      resources: [bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${WARM_PREFIX}*`, `${COLD_PREFIX}*`] } },
    }),
  ];
  for (const statement of statements) role.grantPrincipal.addToPrincipalPolicy(statement);
}

/** Shell commands that copy installed packages from the project's node_modules into the bundle's. */
export function copyPackagesCommands(inputDir: string, outputDir: string, packages: readonly string[]): string[] {
  return packages.flatMap((pkg) => {
    const target = posix.join(outputDir, 'node_modules', posix.dirname(pkg));
    // -L: copy what a symlinked (workspace, pnpm) install points at, not the link.
    return [`mkdir -p ${shellQuote(target)}`, `cp -RL ${shellQuote(posix.join(inputDir, 'node_modules', pkg))} ${shellQuote(target)}/`];
  });
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * A tickvault Lambda: one TypeScript handler bundled by the local esbuild into an ES module, with its own role
 * (no managed policies) and its own log group. Native packages, when given, are copied beside the bundle.
 */
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as lambdaNodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { NativePackage } from '../native-packages.ts';

/** The repository root: NodejsFunction's project root, whose node_modules and package-lock.json bundling uses. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** CommonJS dependencies inlined into an ES module still call require(); the banner gives them one. */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __tickvaultCreateRequire } from 'node:module'; const require = __tickvaultCreateRequire(import.meta.url);";

export interface BundledFunctionProps {
  /** Handler source file (exporting `handler`), absolute or relative to the repository root. */
  readonly entry: string;
  /** What the function does, for the console. */
  readonly description: string;
  /** What the role may do, for the console. */
  readonly roleDescription: string;
  /**
   * Instruction set: arm64 (Graviton) costs less per GB-second than x86_64.
   * @default lambda.Architecture.ARM_64
   */
  readonly architecture?: lambda.Architecture;
  /**
   * Memory in MiB (the CPU share grows with it).
   * @default 512
   */
  readonly memoryMiB?: number;
  /**
   * Longest a single invocation may run.
   * @default Duration.minutes(5)
   */
  readonly timeout?: Duration;
  /**
   * /tmp size.
   * @default Size.mebibytes(512)
   */
  readonly ephemeralStorage?: Size;
  /**
   * Environment variables (NODE_OPTIONS is set here).
   * @default {}
   */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * How long the function's logs are kept.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Packages esbuild leaves out (module specifiers, `*` allowed); each one imported must be in `nativePackages`.
   * @default [] (everything, the AWS SDK included, is bundled, so the function runs the versions package-lock.json pins)
   */
  readonly externalModules?: readonly string[];
  /**
   * The packages to copy into the bundle's node_modules, resolved only when this stack is bundled (so a stack whose
   * bundling is skipped, as with `cdk deploy OtherStack` or `-c aws:cdk:bundling-stacks=[]`, never fetches them).
   * @default no packages
   */
  readonly nativePackages?: () => readonly NativePackage[];
}

export class BundledFunction extends Construct {
  readonly function: lambdaNodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: BundledFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      // Operational logs, not market data: they go with the stack.
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // An explicit role instead of the default one: the default attaches AWSLambdaBasicExecutionRole, which may
    // write to every log group in the account; this one may write only to its own.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: props.roleDescription,
    });
    this.logGroup.grantWrite(this.role);

    // NodejsFunction calls its hooks while it is constructed (for a Docker command it never runs), bundled or not;
    // the packages are resolved only when this stack is bundled, and once.
    let resolved: readonly NativePackage[] | undefined;
    const nativePackages = props.nativePackages;
    const packagesToCopy = (): readonly NativePackage[] => {
      if (nativePackages === undefined || !Stack.of(this).bundlingRequired) return [];
      resolved ??= nativePackages();
      return resolved;
    };
    this.function = new lambdaNodejs.NodejsFunction(this, 'Function', {
      description: props.description,
      entry: posix.resolve(REPO_ROOT, props.entry),
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: posix.join(REPO_ROOT, 'package-lock.json'),
      // The newest Lambda runtime: the code needs Node 20+; DuckDB's binding is N-API, so not tied to one Node version.
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: props.architecture ?? lambda.Architecture.ARM_64,
      memorySize: props.memoryMiB ?? 512,
      timeout: props.timeout ?? Duration.minutes(5),
      ephemeralStorageSize: props.ephemeralStorage ?? Size.mebibytes(512),
      role: this.role,
      logGroup: this.logGroup,
      environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' },
      bundling: {
        // Bundle with the esbuild in node_modules; never fall back to Docker (there is none in CI or here).
        forceDockerBundling: false,
        format: lambdaNodejs.OutputFormat.ESM,
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        sourceMap: true,
        // Replaces the default ['@aws-sdk/*'].
        externalModules: [...(props.externalModules ?? [])],
        ...(nativePackages !== undefined && {
          commandHooks: {
            beforeBundling: () => [],
            beforeInstall: () => [],
            afterBundling: (_inputDir: string, outputDir: string) => copyPackagesCommands(outputDir, packagesToCopy()),
          },
        }),
      },
    });
  }
}

/** Shell commands that copy each package's directory to `<outputDir>/node_modules/<name>`. */
export function copyPackagesCommands(outputDir: string, packages: readonly NativePackage[]): string[] {
  return packages.flatMap(({ name, directory }) => {
    const target = posix.join(outputDir, 'node_modules', name);
    // -L: copy what a symlinked (workspace, pnpm) install points at, not the link.
    return [`mkdir -p ${shellQuote(target)}`, `cp -RL ${shellQuote(`${directory}/.`)} ${shellQuote(`${target}/`)}`];
  });
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * Shipping DuckDB's native binding (lib/native-packages.ts): the arm64 package fetched and verified against
 * package-lock.json, served from the cache without npm afterwards (synth offline), a clear error when it can be
 * neither fetched nor found, and a compactor bundle built for x86_64 that runs DuckDB for real from the bundle.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { BundledFunction } from '../lib/constructs/bundled-function.ts';
import { Compaction } from '../lib/constructs/compaction.ts';
import { DataBucket } from '../lib/constructs/data-bucket.ts';
import { NativePackageError } from '../lib/errors.ts';
import {
  DUCKDB_BINDING_PACKAGES, DUCKDB_JS_PACKAGES, checkNativeFiles, duckdbPackages, elfMachine, fetchPlatformPackage, lockedIntegrity,
} from '../lib/native-packages.ts';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const CDK_CONTEXT = (JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules/@duckdb/node-bindings/package.json'), 'utf8')) as { version: string }).version;
const ARM64 = DUCKDB_BINDING_PACKAGES.arm64;
const scratch = mkdtempSync(join(tmpdir(), 'tv-native-'));

process.env['CDK_DOCKER'] = '/nonexistent/docker-is-not-used-for-bundling';

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('DuckDB packages for a Lambda architecture', () => {
  it('uses the installed binding for x86_64 on this x64 host', () => {
    const packages = duckdbPackages('x86_64', { repoRoot: REPO_ROOT });
    expect(packages).toEqual([...DUCKDB_JS_PACKAGES, DUCKDB_BINDING_PACKAGES.x86_64].map((name) => ({ name, directory: join(REPO_ROOT, 'node_modules', name) })));
  });

  it('fetches the arm64 binding once, verified against package-lock.json, and serves it from the cache after', () => {
    const packages = duckdbPackages('arm64', { repoRoot: REPO_ROOT });
    const binding = packages.at(-1);
    expect(binding?.name).toBe(ARM64);
    expect(binding?.directory).toBe(join(REPO_ROOT, 'node_modules/.cache/tickvault-native', `${ARM64.replace('/', '+')}@${VERSION}`, 'package'));
    expect(elfMachine(join(binding?.directory ?? '', 'libduckdb.so'))).toBe(183);
    expect(readFileSync(join(binding?.directory ?? '', '..', 'integrity'), 'utf8')).toBe(lockedIntegrity(REPO_ROOT, ARM64, VERSION));
    // Offline: with no npm on PATH, the cached, verified entry is all it needs.
    const offline = fetchPlatformPackage({
      name: ARM64, version: VERSION, integrity: lockedIntegrity(REPO_ROOT, ARM64, VERSION),
      cacheDir: join(REPO_ROOT, 'node_modules/.cache/tickvault-native'), cwd: REPO_ROOT, env: { PATH: '' },
    });
    expect(offline).toBe(binding?.directory);
  }, 120_000);

  it('says what failed and what to do when the registry is unreachable and nothing is cached', () => {
    const cacheDir = join(scratch, 'empty-cache');
    const fetch = () => fetchPlatformPackage({
      name: ARM64, version: VERSION, integrity: lockedIntegrity(REPO_ROOT, ARM64, VERSION), cacheDir, cwd: REPO_ROOT,
      env: { ...process.env, npm_config_registry: 'http://127.0.0.1:9/', npm_config_cache: join(scratch, 'empty-npm-cache'), npm_config_fetch_retries: '0' },
    });
    expect(fetch).toThrow(NativePackageError);
    expect(fetch).toThrow(new RegExp(`^npm pack ${ARM64}@${VERSION.replaceAll('.', '\\.')} failed: .*ECONNREFUSED.*`
      + 'fetched once from the npm registry and cached in .*empty-cache. Run the synth once where the registry is reachable, '
      + 'or build the compactor for x86_64 \\(cdk -c compactorArchitecture=x86_64\\)\\.$'));
    expect(existsSync(join(cacheDir, `${ARM64.replace('/', '+')}@${VERSION}`))).toBe(false);
  }, 120_000);

  it('refuses a tarball whose integrity differs from the lockfile', () => {
    const fetch = () => fetchPlatformPackage({
      name: ARM64, version: VERSION, integrity: 'sha512-AAAA', cacheDir: join(scratch, 'mismatch-cache'), cwd: REPO_ROOT,
    });
    expect(fetch).toThrow(/tarball integrity sha512-\S+ does not match package-lock.json \(sha512-AAAA\); refusing to ship it/);
  }, 120_000);

  it('refuses a binding version the lockfile does not lock, and a binding built for the wrong machine', () => {
    expect(() => lockedIntegrity(REPO_ROOT, ARM64, '0.0.1')).toThrow(new RegExp(`locks ${ARM64} at ${VERSION.replaceAll('.', '\\.')}, where the installed @duckdb/node-bindings needs 0\\.0\\.1`));
    expect(() => checkNativeFiles(join(REPO_ROOT, 'node_modules', DUCKDB_BINDING_PACKAGES.x86_64), DUCKDB_BINDING_PACKAGES.x86_64, 'arm64'))
      .toThrow(/duckdb\.node is built for ELF machine 62, not arm64/);
    expect(elfMachine(join(REPO_ROOT, 'package.json'))).toBeUndefined();
  });
});

describe('when native packages are resolved', () => {
  const build = (context: Record<string, unknown>) => {
    let calls = 0;
    const app = new App({ context: { ...CDK_CONTEXT, ...context } });
    const stack = new Stack(app, 'Hooks');
    new BundledFunction(stack, 'Fn', {
      entry: 'lambdas/retention/handler.ts', description: 'hook probe', roleDescription: 'hook probe',
      nativePackages: () => {
        calls++;
        return [];
      },
    });
    app.synth();
    return calls;
  };

  it('never, when the stack is not bundled (NodejsFunction calls its hooks while constructed, bundled or not)', () => {
    expect(build({ 'aws:cdk:bundling-stacks': [] })).toBe(0);
  });

  it('once, when it is', () => {
    expect(build({})).toBe(1);
  }, 60_000);
});

describe('the compactor bundled for x86_64', () => {
  it('ships the installed x64 binding, and DuckDB loads and answers from the bundle itself', () => {
    const app = new App({ context: CDK_CONTEXT });
    const stack = new Stack(app, 'CompactorX64');
    const compaction = new Compaction(stack, 'Compaction', { data: new DataBucket(stack, 'Data'), architecture: 'x86_64' });
    const assembly = app.synth();
    const fn = Template.fromStack(stack).toJSON()['Resources'][stack.getLogicalId(compaction.function.node.defaultChild as never)] as { Properties: { Code: { S3Key: string }; Architectures: string[] } };
    expect(fn.Properties.Architectures).toEqual(['x86_64']);
    const bundle = join(assembly.directory, `asset.${fn.Properties.Code.S3Key.replace(/\.zip$/, '')}`);
    expect(elfMachine(join(bundle, 'node_modules', DUCKDB_BINDING_PACKAGES.x86_64, 'libduckdb.so'))).toBe(62);
    expect(existsSync(join(bundle, 'node_modules', ARM64))).toBe(false);
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
  }, 120_000);
});

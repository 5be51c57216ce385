/**
 * Operator commands: `tickvault status`, `verify`, `repair` (bin/cli.ts dispatches here). Arguments are validated
 * here, at the edge: a bad one throws OpsUsageError (name 'UsageError', exit 2) naming it.
 *
 *   status  [--data-dir DIR] [--store DIR|s3://B/P] [--agent URL] [--format table|json]
 *   verify  [--data-dir DIR] [--store DIR|s3://B/P] [--quick] [--format table|json]     exit 1 on any mismatch
 *   repair  [--data-dir DIR] [--store DIR|s3://B/P] [--quick] [--dry-run] [--format table|json]
 *                                                                   exit 1 when something could not be repaired
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ObjectStore } from '../../core/object-store/object-store.ts';
import { type DataDirPaths, dataDirPaths } from './data-dir.ts';

export class OpsUsageError extends Error {
  override readonly name = 'UsageError';
}

export class OpsError extends Error {
  override readonly name = 'OpsError';
}

const COMMON = {
  'data-dir': { type: 'string' },
  store: { type: 'string' },
  format: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const USAGE = {
  status: `tickvault status [--data-dir DIR] [--store DIR|s3://BUCKET/PREFIX] [--agent URL] [--format table|json]
  A summary of every tier: hot (from the running agent at URL, e.g. http://127.0.0.1:8080), warm files by dataset
  and date, the upload backlog, the store's warm/ and cold/ objects, the write-ahead log, snapshots, quarantine, disk.
  Read-only; safe while the agent runs.`,
  verify: `tickvault verify [--data-dir DIR] [--store DIR|s3://BUCKET/PREFIX] [--quick] [--format table|json]
  Checks the ledger against the warm files on this host, the store's objects and manifests, and row counts against
  the Parquet footers. Reports each mismatch with the file or key and why; exit 1 when there is any, 0 when clean.
  --quick compares sizes and metadata without reading the objects. Read-only; safe while the agent runs.`,
  repair: `tickvault repair [--data-dir DIR] [--store DIR|s3://BUCKET/PREFIX] [--dry-run] [--quick] [--format table|json]
  Quarantines warm files that fail validation, uploads again files whose store copy is missing or differs, rewrites
  manifests that lack or misdescribe uploaded files, and rebuilds from the write-ahead log files lost before upload.
  Exit 1 when something could not be repaired. The agent must be stopped.`,
} as const;

type Command = keyof typeof USAGE;

function parse<T extends NonNullable<Parameters<typeof parseArgs>[0]>['options']>(command: Command, argv: string[], extra: T) {
  try {
    return parseArgs({ args: argv, options: { ...COMMON, ...extra }, strict: true, allowPositionals: false });
  } catch (error) {
    throw new OpsUsageError(`${command}: ${(error as Error).message}`);
  }
}

function formatOf(command: Command, value: string | undefined): 'table' | 'json' {
  if (value === undefined || value === 'table' || value === 'json') return value ?? 'table';
  throw new OpsUsageError(`${command}: --format ${JSON.stringify(value)}: expected table or json`);
}

async function target(command: Command, values: { 'data-dir'?: string | undefined; store?: string | undefined }): Promise<{ paths: DataDirPaths; store: ObjectStore }> {
  const paths = dataDirPaths(values['data-dir'] ?? './data');
  if (!existsSync(paths.dataDir)) throw new OpsError(`${command}: data directory ${paths.dataDir} does not exist (give --data-dir DIR)`);
  const { openStore } = await import('../../core/object-store/open-store.ts');
  try {
    return { paths, store: openStore(values.store ?? paths.defaultStore) };
  } catch (error) {
    throw new OpsUsageError(`${command}: --store: ${(error as Error).message}`);
  }
}

function help(command: Command): number {
  process.stdout.write(`${USAGE[command]}\n`);
  return 0;
}

export async function runStatusCommand(argv: string[]): Promise<number> {
  const { values } = parse('status', argv, { agent: { type: 'string' } });
  if (values.help === true) return help('status');
  const format = formatOf('status', values.format);
  if (values.agent !== undefined && !/^https?:\/\/[^/]+/.test(values.agent)) {
    throw new OpsUsageError(`status: --agent ${JSON.stringify(values.agent)}: expected the agent's read API URL, e.g. http://127.0.0.1:8080`);
  }
  const { paths, store } = await target('status', values);
  const { collectTierStatus, renderTierStatus } = await import('./tier-status.ts');
  const status = await collectTierStatus({ paths, store, ...(values.agent === undefined ? {} : { agentUrl: values.agent }) });
  process.stdout.write(format === 'json' ? `${JSON.stringify(status, null, 1)}\n` : renderTierStatus(status));
  return 0;
}

export async function runVerifyCommand(argv: string[]): Promise<number> {
  const { values } = parse('verify', argv, { quick: { type: 'boolean' } });
  if (values.help === true) return help('verify');
  const format = formatOf('verify', values.format);
  const { paths, store } = await target('verify', values);
  const { verifyTiers } = await import('./verify.ts');
  const result = await verifyTiers({ paths, store, quick: values.quick === true });
  const mismatches = result.findings.filter((f) => f.severity === 'mismatch').length;
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify({ ...result, mismatches, store: store.description, dataDir: paths.dataDir }, null, 1)}\n`);
  } else {
    for (const f of result.findings) process.stdout.write(`${f.severity === 'mismatch' ? 'MISMATCH' : 'WARNING '} [${f.kind}] ${f.subject}: ${f.problem}\n`);
    const c = result.checked;
    process.stdout.write(
      `checked ${c.localFiles} warm files on this host, ${c.uploadedFiles} uploaded objects` +
      `${c.absorbedByColdTier > 0 ? ` (${c.absorbedByColdTier} since absorbed by the cold tier)` : ''}, ${c.warmManifests} warm manifests ` +
      `naming ${c.warmManifestObjects} objects, ${c.coldManifests} cold manifests in ${store.description}` +
      `${values.quick === true ? ' (quick: sizes and metadata only)' : ''}: ` +
      `${mismatches === 0 ? 'no mismatches' : `${mismatches} mismatch${mismatches === 1 ? '' : 'es'}`}` +
      `${result.findings.length > mismatches ? `, ${result.findings.length - mismatches} warning(s)` : ''}\n`,
    );
  }
  return mismatches === 0 ? 0 : 1;
}

/** How each repair reads in the report: done, and (with --dry-run) to do. */
const ACTION_VERBS = {
  quarantined: ['QUARANTINED', 'QUARANTINE'],
  're-uploaded': ['RE-UPLOADED', 'RE-UPLOAD'],
  'manifest-rewritten': ['REWROTE MANIFEST', 'REWRITE MANIFEST'],
  'rebuilt-from-log': ['REBUILT FROM LOG', 'REBUILD FROM LOG'],
} as const;

export async function runRepairCommand(argv: string[]): Promise<number> {
  const { values } = parse('repair', argv, { 'dry-run': { type: 'boolean' }, quick: { type: 'boolean' } });
  if (values.help === true) return help('repair');
  const format = formatOf('repair', values.format);
  const { paths, store } = await target('repair', values);
  const { repairTiers } = await import('./repair.ts');
  const dryRun = values['dry-run'] === true;
  const result = await repairTiers({ paths, store, dryRun, quick: values.quick === true });
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify({ ...result, dryRun, store: store.description, dataDir: paths.dataDir }, null, 1)}\n`);
  } else {
    for (const a of result.actions) process.stdout.write(`${dryRun ? `WOULD ${ACTION_VERBS[a.action][1]}` : ACTION_VERBS[a.action][0]} ${a.subject}: ${a.detail}\n`);
    for (const u of result.unrepaired) process.stdout.write(`NOT REPAIRED ${u.subject}: ${u.problem}\n`);
    process.stdout.write(`${result.actions.length} ${dryRun ? 'repair(s) to make' : 'repair(s) made'}, ${result.unrepaired.length} problem(s) left${result.actions.length + result.unrepaired.length === 0 ? ': nothing to repair' : ''}\n`);
  }
  return result.unrepaired.length === 0 ? 0 : 1;
}

/**
 * `tickvault validate`: checks warm files — footer readable, a tickvault file of the expected schema version, every
 * page decodes, row count and checksum equal to the ledger's manifest entry — and moves bad ones to the quarantine
 * folder, recorded in the ledger, so they are never uploaded or compacted.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { decodeParquet, inspectParquet } from '../../core/codec/parquet-file.ts';
import { WarmLedger } from './warm-ledger.ts';

export interface ValidationFinding {
  readonly file: string;
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly rows?: number;
  /** Where the file went, when it was quarantined. */
  readonly quarantinedTo?: string;
}

export interface ValidateOptions {
  readonly dataDir: string;
  readonly paths: readonly string[];
  /** Move bad files to `<dataDir>/quarantine` and record it in the ledger. @default true */
  readonly quarantine?: boolean;
}

function parquetFilesUnder(path: string): string[] {
  if (!existsSync(path)) return [path]; // reported as missing
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.parquet'))
    .map((f) => join(path, f))
    .sort();
}

export async function validateWarmFiles(options: ValidateOptions): Promise<ValidationFinding[]> {
  const warmDir = resolve(options.dataDir, 'warm');
  const ledgerPath = join(options.dataDir, 'state', 'warm-ledger.jsonl');
  const ledger = existsSync(ledgerPath) ? WarmLedger.open(ledgerPath) : undefined;
  const findings: ValidationFinding[] = [];
  try {
    for (const file of options.paths.flatMap((p) => parquetFilesUnder(resolve(p)))) {
      const problems: string[] = [];
      let rows: number | undefined;
      if (!existsSync(file)) {
        findings.push({ file, ok: false, problems: ['missing'] });
        continue;
      }
      const bytes = readFileSync(file);
      const rel = relative(warmDir, file);
      const entry = rel.startsWith('..') ? undefined : ledger?.get(rel);
      try {
        const info = inspectParquet(bytes, file);
        rows = info.rows;
        const decoded = await decodeParquet(bytes, info.dataset, file);
        if (decoded.length !== info.rows) problems.push(`footer says ${info.rows} rows, pages hold ${decoded.length}`);
      } catch (error) {
        problems.push((error as Error).message.replace(`${file}: `, ''));
      }
      if (entry !== undefined) {
        const sha256 = createHash('sha256').update(bytes).digest('base64');
        if (sha256 !== entry.sealed.sha256) problems.push(`checksum ${sha256} differs from the manifest's ${entry.sealed.sha256}`);
        if (bytes.byteLength !== entry.sealed.bytes) problems.push(`${bytes.byteLength} bytes where the manifest says ${entry.sealed.bytes}`);
        if (rows !== undefined && rows !== entry.sealed.rows) problems.push(`${rows} rows where the manifest says ${entry.sealed.rows}`);
      } else if (ledger !== undefined && !rel.startsWith('..')) {
        problems.push('not in the warm manifest (ledger)');
      }
      if (problems.length === 0) {
        findings.push({ file, ok: true, problems, ...(rows === undefined ? {} : { rows }) });
        continue;
      }
      let quarantinedTo: string | undefined;
      if (options.quarantine ?? true) {
        quarantinedTo = join(options.dataDir, 'quarantine', rel.startsWith('..') ? file.replace(/^\//, '') : rel);
        mkdirSync(dirname(quarantinedTo), { recursive: true });
        renameSync(file, quarantinedTo);
        if (entry !== undefined && entry.removed === undefined) {
          ledger?.record({ type: 'quarantined', path: rel, reason: problems.join('; '), atMs: Date.now() });
        }
      }
      findings.push({ file, ok: false, problems, ...(rows === undefined ? {} : { rows }), ...(quarantinedTo === undefined ? {} : { quarantinedTo }) });
    }
  } finally {
    ledger?.close();
  }
  return findings;
}

/**
 * Compaction of one unit (dataset, symbol, month; or daily bars of a year): the source objects the manifests name,
 * merged, deduplicated, sorted, written as one cold Parquet file, verified, then published.
 *
 * DuckDB does the merge: it sorts and deduplicates out of core, spilling to the scratch directory under a memory
 * limit, so one symbol-month never has to fit in memory.
 *
 * Publication order, so that a run killed at any point leaves nothing half-made visible and a rerun converges:
 *   1. the cold object, only after verification (the store's put is atomic);
 *   2. the cold manifest (data first, manifest second): a manifest never names a cold file that is not there;
 *   3. the tags on the warm sources (`tickvault:compacted`), only after both.
 *
 * Modes:
 *   full    every source is in the store: the cold file is rebuilt from them (reruns give identical bytes).
 *   merge   some sources the previous cold manifest names have since been deleted by retention (or are no longer
 *           named by any warm manifest): the previous cold file stands in for them, and the sources it does not
 *           hold yet are merged into it. Every trade event still in the store is applied, and trades are
 *           deduplicated again after the events, so merging what the previous file already holds changes nothing.
 *           Limitation: a copy of a trade that arrives after its cancel or correction has expired from the warm tier
 *           is kept as it came (nothing in the store says any more that it was cancelled).
 *   rollup  daily bars: rebuilt from the year's 1m monthly cold files and the feed's daily bars (plus the previous
 *           file for feed bars that have expired).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import {
  COMPACTED_AT_TAG,
  COMPACTED_TAG,
  COMPACTED_TAG_VALUE,
  type ColdManifest,
  type ColdSource,
  MANIFEST_CONTENT_TYPE,
  coldManifestKey,
  encodeColdManifest,
  readColdManifest,
  sourceId,
} from '../../core/cold-manifest.ts';
import { inspectParquet } from '../../core/codec/parquet-file.ts';
import { type DatasetName, SCHEMA_VERSION } from '../../core/datasets.ts';
import { COLD_PREFIX, WARM_PREFIX, parseColdFilePath, parseWarmObjectKey } from '../../core/layout.ts';
import { ObjectNotFoundError, type ObjectStore, TaggingNotSupportedError } from '../../core/object-store/object-store.ts';
import { type Logger, messageOf, silentLogger } from '../shared/log.ts';
import { mapLimit } from '../shared/pool.ts';
import {
  type CompactionUnit,
  type SourceObject,
  describeUnit,
  isHomeSource,
  unitColdKey,
  unitPeriod,
  validateUnit,
} from '../shared/compaction-units.ts';
import {
  appliedEventsSelect,
  compactionSelect,
  distinctTradeIdsSelect,
  duplicateIdentitiesSelect,
  inputCountsSelect,
  lostIdentitiesSelect,
  rollupSelect,
  parquetRelation,
  rowCountSelect,
  sqlString,
  tradeInputSelect,
} from './compaction-sql.ts';

export type { CompactionUnit, SourceObject } from '../shared/compaction-units.ts';
export { compactionSelect } from './compaction-sql.ts';
export { validateUnit } from '../shared/compaction-units.ts';

export const PARQUET_CONTENT_TYPE = 'application/vnd.apache.parquet';
/**
 * Source downloads and tag requests in flight at once. S3 answers each in tens of milliseconds and tags one object
 * a request, so a month's thousand-odd objects need many in flight; the SDK's default agent keeps 50 sockets.
 */
const IO_CONCURRENCY = 32;
/** Rows per row group of cold files: large enough for Athena, small enough for a reader to decode one in memory. */
const COLD_ROW_GROUP_ROWS = 1_000_000;

export type CompactionMode = 'full' | 'merge' | 'rollup';

export interface CompactionResult {
  readonly unit: CompactionUnit;
  readonly status: 'compacted' | 'no-input';
  readonly mode: CompactionMode | undefined;
  /** Source objects read from the store for this run. */
  readonly sourceKeys: readonly string[];
  /** Sources the previous cold manifest named that are no longer in the store (the previous file stood in). */
  readonly expiredSources: number;
  readonly rowsIn: number;
  readonly rowsOut: number;
  readonly duplicatesRemoved: number;
  /** Trades removed by a cancel or error event (trades only). */
  readonly cancelsApplied: number;
  /** Trades replaced by a correction event (trades only). */
  readonly correctionsApplied: number;
  readonly coldKey: string | undefined;
  readonly manifestKey: string | undefined;
  readonly bytes: number;
  readonly sha256: string | undefined;
  readonly compactedAt: string | undefined;
  /** Whether every warm source of the unit's own is tagged compacted (true when there is none); false when the store cannot tag (Swift). */
  readonly tagged: boolean;
  readonly taggedObjects: number;
  /** Where the time went, in milliseconds (undefined when there was no input). */
  readonly phaseMs: CompactionPhases | undefined;
}

export interface CompactionPhases {
  /** Reading the sources (and the previous cold file), checking their SHA-256 and footers, writing them to scratch. */
  readonly stageMs: number;
  /** DuckDB: counting the input, deduplicating, sorting, writing the cold file, verifying it. */
  readonly queryMs: number;
  /** Reading the cold file's footer independently and hashing it. */
  readonly checkMs: number;
  /** Putting the cold file and its manifest. */
  readonly publishMs: number;
  /** Tagging the warm sources. */
  readonly tagMs: number;
}

export interface CompactionOptions {
  readonly store: ObjectStore;
  /** Scratch space for inputs, output and DuckDB's spill files; the caller removes it afterwards. */
  readonly workDir: string;
  /** The unit's sources, as the manifests name them (sourcesOfUnit). */
  readonly sources: readonly SourceObject[];
  /** DuckDB memory limit, e.g. '1GB'. @default '1GB' */
  readonly memoryLimit?: string;
  /** DuckDB worker threads. @default 2 */
  readonly threads?: number;
  /** @default () => Date.now() */
  readonly nowMs?: () => number;
  /** @default silentLogger */
  readonly log?: Logger;
}

export class CompactionError extends Error {
  override readonly name = 'CompactionError';
}

/** Datasets a unit's sources may hold. */
function inputDatasets(dataset: DatasetName): readonly DatasetName[] {
  if (dataset === 'trades') return ['trades', 'trade_events'];
  if (dataset === 'bars_1d') return ['bars_1m', 'bars_1d'];
  return [dataset];
}

interface StagedSource {
  readonly source: SourceObject;
  readonly dataset: DatasetName;
  readonly path: string;
}

export async function compactUnit(unitInput: CompactionUnit, options: CompactionOptions): Promise<CompactionResult> {
  const unit = validateUnit(unitInput);
  const { store, workDir } = options;
  const log = options.log ?? silentLogger;
  const what = describeUnit(unit);
  const period = unitPeriod(unit);
  const coldKey = unitColdKey(unit);
  const manifestKey = coldManifestKey(unit.dataset, period, unit.symbol);
  const noInput: CompactionResult = {
    unit, status: 'no-input', mode: undefined, sourceKeys: [], expiredSources: 0, rowsIn: 0, rowsOut: 0, duplicatesRemoved: 0,
    cancelsApplied: 0, correctionsApplied: 0, coldKey: undefined, manifestKey: undefined, bytes: 0, sha256: undefined,
    compactedAt: undefined, tagged: false, taggedObjects: 0, phaseMs: undefined,
  };
  const mainDataset: DatasetName = unit.dataset === 'bars_1d' ? 'bars_1m' : unit.dataset;
  if (!options.sources.some((s) => datasetOfKey(s.key) === mainDataset || (unit.dataset === 'bars_1d' && datasetOfKey(s.key) === 'bars_1d'))) {
    return noInput;
  }

  const phases: Record<string, number> = {};
  let phaseStart = Date.now();
  const phase = (name: keyof CompactionPhases): void => {
    const now = Date.now();
    phases[name] = now - phaseStart;
    phaseStart = now;
  };
  const previous = await readColdManifest(store, unit.dataset, period, unit.symbol);
  const inDir = join(workDir, 'in');
  await mkdir(inDir, { recursive: true });
  await mkdir(join(workDir, 'spill'), { recursive: true });

  // 1. Stage every source that is still in the store, checked against the manifest's SHA-256 and the schema.
  const allowed = inputDatasets(unit.dataset);
  const staged = (await mapLimit(options.sources, IO_CONCURRENCY, async (source, i): Promise<StagedSource | undefined> => {
    let bytes: Uint8Array;
    try {
      bytes = await store.get(source.key);
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined;
      throw err;
    }
    const sha256 = createHash('sha256').update(bytes).digest('base64');
    if (sha256 !== source.sha256) {
      throw new CompactionError(`${what}: source ${source.key} has SHA-256 ${sha256} where its manifest says ${source.sha256}`);
    }
    const info = inspectParquet(footerOf(bytes), `${store.description}/${source.key}`);
    if (!allowed.includes(info.dataset)) throw new CompactionError(`${what}: source ${source.key} holds ${info.dataset}, not ${allowed.join(' or ')}`);
    if (info.rows !== source.rows) {
      throw new CompactionError(`${what}: source ${source.key} has ${info.rows} rows where its manifest says ${source.rows}`);
    }
    const path = join(inDir, `${String(i).padStart(6, '0')}.parquet`);
    await writeFile(path, bytes);
    return { source, dataset: info.dataset, path };
  })).filter((s): s is StagedSource => s !== undefined);

  // 2. What is gone: compacted earlier and expired since (the previous cold file holds it), or lost.
  const presentKeys = new Set(staged.map((s) => s.source.key));
  const previousByKey = new Map((previous?.sources ?? []).map((s) => [s.key, s]));
  const absent = options.sources.filter((s) => !presentKeys.has(s.key));
  const expired = absent.filter((s) => previousByKey.has(s.key));
  const missing = absent.filter((s) => !previousByKey.has(s.key));
  if (missing.length > 0) {
    throw new CompactionError(
      `${what}: ${missing.length} source object(s) named by a manifest are not in the store and no cold file holds them, ` +
      `first ${missing[0]?.key}; find out what deleted them (or remove them from the manifest) before compacting`,
    );
  }
  const namedKeys = new Set(options.sources.map((s) => s.key));
  const uncovered = (previous?.sources ?? []).filter((s) => !namedKeys.has(s.key));
  const needsPrevious = previous !== undefined && (expired.length > 0 || uncovered.length > 0);
  const mode: CompactionMode = unit.dataset === 'bars_1d' ? 'rollup' : needsPrevious ? 'merge' : 'full';
  if (needsPrevious) {
    log.info('previous cold file stands in for sources no longer in the warm tier', {
      unit: what, expired: expired.length, noLongerNamed: uncovered.length, previousCompactedAt: previous.compactedAt,
    });
  }

  // 3. The previous cold file, when it must stand in for sources that are gone.
  let basePath: string | undefined;
  if (needsPrevious) {
    let bytes: Uint8Array;
    try {
      bytes = await store.get(coldKey);
    } catch (err) {
      if (err instanceof ObjectNotFoundError) {
        throw new CompactionError(`${what}: ${coldKey} is missing, yet its manifest names ${expired.length + uncovered.length} source(s) no longer in the warm tier: rebuilding would lose their rows`, { cause: err });
      }
      throw err;
    }
    const sha256 = createHash('sha256').update(bytes).digest('base64');
    if (sha256 !== previous.sha256) {
      // A run stopped between the cold file and its manifest: the file is newer than the manifest and holds at
      // least what the manifest says (files are published only after verification), and merging is idempotent.
      log.warn('cold file is newer than its manifest (an earlier run stopped between the two); merging onto it', { unit: what, coldKey });
    }
    const info = inspectParquet(footerOf(bytes), `${store.description}/${coldKey}`);
    if (info.dataset !== unit.dataset) throw new CompactionError(`${coldKey}: holds ${info.dataset}, not ${unit.dataset}`);
    basePath = join(inDir, 'previous.parquet');
    await writeFile(basePath, bytes);
  }

  phase('stageMs');

  // 4. Inputs of the query: the staged files, read in place (two narrow passes for the counts and one for the COPY
  // cost less than loading them into a table once).
  const previousIds = new Set((previous?.sources ?? []).map(sourceId));
  const isNew = (s: StagedSource): boolean => !previousIds.has(sourceId(s.source));
  const main = staged.filter((s) => s.dataset === mainDataset && (mode !== 'merge' || isNew(s))).map((s) => s.path);
  const events = staged.filter((s) => unit.dataset === 'trades' && s.dataset === 'trade_events').map((s) => s.path);
  const daily = staged.filter((s) => unit.dataset === 'bars_1d' && s.dataset === 'bars_1d').map((s) => s.path);
  const inputFiles = mode === 'merge' && basePath !== undefined ? [basePath, ...main] : main;

  const outPath = join(workDir, 'out.parquet');
  const output = parquetRelation([outPath]);
  const nowMs = options.nowMs ?? (() => Date.now());
  const instance = await DuckDBInstance.create(':memory:', {
    memory_limit: options.memoryLimit ?? '1GB',
    temp_directory: join(workDir, 'spill'),
    threads: String(options.threads ?? 2),
    preserve_insertion_order: 'false',
  });
  const connection = await instance.connect();
  const one = async <T>(sql: string): Promise<T> => (await connection.runAndReadAll(sql)).getRowObjectsJS()[0] as T;
  const relation = (paths: readonly string[]): string | undefined => (paths.length === 0 ? undefined : parquetRelation(paths));
  let rowsIn: number;
  let distinctIn: number;
  let rowsOut: number;
  let cancelsApplied = 0;
  let correctionsApplied = 0;
  try {
    const kv = `KV_METADATA {'tickvault.dataset': ${sqlString(unit.dataset)}, 'tickvault.schema_version': '${SCHEMA_VERSION}'}`;
    const copyOptions = `FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${COLD_ROW_GROUP_ROWS}, ${kv}`;
    if (mode === 'rollup') {
      const minute = relation(main);
      const dailyBars = relation(daily);
      const previousBars = basePath === undefined ? undefined : relation([basePath]);
      const present = [minute, dailyBars, previousBars].filter((t): t is string => t !== undefined);
      const all = `(${present.map((t) => `SELECT symbol, ts_ns FROM ${t}`).join(' UNION ALL ')})`;
      const counts = await one<{ rows_in: bigint; foreign_rows: bigint }>(
        `SELECT count(*) AS rows_in, count(*) FILTER (WHERE symbol <> ${sqlString(unit.symbol)}) AS foreign_rows FROM ${all}`);
      if (counts.foreign_rows !== 0n) throw new CompactionError(`${what}: ${counts.foreign_rows} input rows belong to another symbol`);
      rowsIn = Number(counts.rows_in);
      await connection.run(`COPY (${rollupSelect({
        ...(minute !== undefined && { minute }),
        ...(dailyBars !== undefined && { daily: dailyBars }),
        ...(previousBars !== undefined && { previous: previousBars }),
      })}) TO ${sqlString(outPath)} (${copyOptions})`);
      rowsOut = Number((await one<{ n: bigint }>(rowCountSelect(output))).n);
      distinctIn = rowsOut;
      await verifyComplete(one, unit.dataset, all, output, undefined, what);
    } else {
      const input = relation(inputFiles) ?? '';
      const eventRelation = relation(events);
      if (unit.dataset === 'trades') {
        const c = await one<{ rows_in: bigint; min_id: bigint | null; max_id: bigint | null; foreign_rows: bigint }>(tradeInputSelect(input, unit.symbol));
        if (c.foreign_rows !== 0n) throw new CompactionError(`${what}: ${c.foreign_rows} input rows belong to another symbol`);
        rowsIn = Number(c.rows_in);
        const range = c.min_id === null || c.max_id === null ? undefined : { min: c.min_id, max: c.max_id };
        distinctIn = Number((await one<{ distinct_in: bigint | null }>(distinctTradeIdsSelect(input, range))).distinct_in ?? 0n);
      } else {
        const c = await one<{ rows_in: bigint; distinct_in: bigint; foreign_rows: bigint }>(inputCountsSelect(unit.dataset, input, unit.symbol));
        if (c.foreign_rows !== 0n) throw new CompactionError(`${what}: ${c.foreign_rows} input rows belong to another symbol`);
        rowsIn = Number(c.rows_in);
        distinctIn = Number(c.distinct_in);
      }
      if (eventRelation !== undefined) {
        // How many of the distinct trades the events remove or replace: the verification's arithmetic.
        const applied = await one<{ cancels: bigint; corrections: bigint }>(appliedEventsSelect(input, eventRelation));
        cancelsApplied = Number(applied.cancels);
        correctionsApplied = Number(applied.corrections);
      }
      // Trades: copies of a trade are nearly always identical rows of the same day, so the cheap way is tried first
      // (distinct rows, day by day); a trade whose copies differ, or span two days, would be left twice, which the
      // arithmetic below sees, and then the exact way is run.
      const fast = unit.dataset === 'trades' && mode === 'full';
      const parts = fast ? byDay(staged.filter((s) => s.dataset === mainDataset)).map((paths) => parquetRelation(paths)) : [];
      const write = async (dedupe: 'identity' | 'distinct-rows'): Promise<number> => {
        const select = compactionSelect(unit.dataset, input, eventRelation, { dedupe, parts, dedupeAfterEvents: mode === 'merge' });
        await connection.run(`COPY (${select}) TO ${sqlString(outPath)} (${copyOptions})`);
        return Number((await one<{ n: bigint }>(rowCountSelect(output))).n);
      };
      rowsOut = await write(fast ? 'distinct-rows' : 'identity');
      if (fast && rowsOut !== distinctIn - cancelsApplied) {
        log.info('copies of a trade differ (or span days): deduplicating on (symbol, trade_id)', { unit: what, rowsOut, expected: distinctIn - cancelsApplied });
        rowsOut = await write('identity');
      }
      if (mode === 'full') {
        if (rowsOut !== distinctIn - cancelsApplied) {
          throw new CompactionError(`${what}: wrote ${rowsOut} rows where ${distinctIn} distinct rows came in and ${cancelsApplied} were cancelled`);
        }
      } else {
        await verifyComplete(one, unit.dataset, input, output, eventRelation, what);
      }
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }

  phase('queryMs');

  // 5. The file as a reader will see it: footer (read by hyparquet, not DuckDB), size, checksum.
  const { bytes, sha256 } = await checkOutput(outPath, rowsOut, unit.dataset);
  phase('checkMs');
  const compactedAt = new Date(nowMs()).toISOString();

  // 6. Publish: data, then manifest, then tags.
  const sources = manifestSources(staged.map((s) => s.source), previous, needsPrevious, compactedAt);
  await store.putFile(coldKey, outPath, {
    metadata: { rows: String(rowsOut), 'source-objects': String(sources.length), 'schema-version': String(SCHEMA_VERSION), sha256 },
    contentType: PARQUET_CONTENT_TYPE,
  });
  const manifest = encodeColdManifest({
    dataset: unit.dataset, symbol: unit.symbol, period, coldKey, rows: rowsOut, bytes, sha256, schemaVersion: SCHEMA_VERSION,
    compactedAt, mode, sources,
    stats: { rowsIn, duplicatesRemoved: Math.max(0, rowsIn - distinctIn), cancelsApplied, correctionsApplied },
  });
  await store.put(manifestKey, manifest, { contentType: MANIFEST_CONTENT_TYPE });
  phase('publishMs');
  const tagging = await tagSources(store, unit, sources.filter((s) => presentKeys.has(s.key)), log);
  phase('tagMs');
  const phaseMs = phases as unknown as CompactionPhases;
  log.debug('compaction phases', { unit: what, ...phaseMs });

  return {
    unit, status: 'compacted', mode, sourceKeys: staged.map((s) => s.source.key), expiredSources: expired.length,
    rowsIn, rowsOut, duplicatesRemoved: Math.max(0, rowsIn - distinctIn), cancelsApplied, correctionsApplied,
    coldKey, manifestKey, bytes, sha256, compactedAt, ...tagging, phaseMs,
  };
}

/** Staged files grouped by the day of their warm key (anything else in a group of its own), days in order. */
function byDay(staged: readonly StagedSource[]): string[][] {
  const days = new Map<string, string[]>();
  for (const s of staged) {
    const day = dayOfKey(s.source.key);
    const paths = days.get(day) ?? [];
    paths.push(s.path);
    days.set(day, paths);
  }
  return [...days.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, paths]) => paths);
}

function dayOfKey(key: string): string {
  try {
    return key.startsWith(WARM_PREFIX) ? parseWarmObjectKey(key).ref.date : '';
  } catch {
    return '';
  }
}

/** The dataset of a warm object key or a cold file key, or undefined for anything else. */
function datasetOfKey(key: string): DatasetName | undefined {
  try {
    if (key.startsWith(WARM_PREFIX)) return parseWarmObjectKey(key).ref.dataset;
    if (key.startsWith(COLD_PREFIX)) return parseColdFilePath(key.slice(COLD_PREFIX.length)).dataset;
  } catch {
    return undefined;
  }
  return undefined;
}

/** No identity twice in the output, and every input identity (bar those an event names) in it. */
async function verifyComplete(
  one: <T>(sql: string) => Promise<T>,
  dataset: DatasetName,
  input: string,
  output: string,
  events: string | undefined,
  what: string,
): Promise<void> {
  const { duplicates } = await one<{ duplicates: bigint }>(duplicateIdentitiesSelect(dataset, output));
  if (duplicates !== 0n) throw new CompactionError(`${what}: the output holds ${duplicates} duplicate row(s)`);
  const { lost } = await one<{ lost: bigint }>(lostIdentitiesSelect(dataset, input, output, events));
  if (lost !== 0n) throw new CompactionError(`${what}: ${lost} input row(s) are missing from the output`);
}

/**
 * The footer of a Parquet file and the 8 bytes after it, all inspectParquet reads (it would copy the whole file);
 * the whole file when it does not end like Parquet, so that the error names its real size.
 */
function footerOf(bytes: Uint8Array): Uint8Array {
  const size = bytes.byteLength;
  if (size < 12 || Buffer.from(bytes.buffer, bytes.byteOffset + size - 4, 4).toString('latin1') !== 'PAR1') return bytes;
  const footerLength = new DataView(bytes.buffer, bytes.byteOffset + size - 8, 4).getUint32(0, true);
  return footerLength + 12 <= size ? bytes.subarray(size - footerLength - 8) : bytes;
}

/** Checks the written file's footer with an independent reader, and hashes it without holding it in memory. */
async function checkOutput(path: string, rows: number, dataset: DatasetName): Promise<{ bytes: number; sha256: string }> {
  const size = (await stat(path)).size;
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(4);
    await handle.read(head, 0, 4, 0);
    const tailLength = Buffer.alloc(8);
    await handle.read(tailLength, 0, 8, size - 8);
    const footerLength = tailLength.readUInt32LE(0);
    if (head.toString('latin1') !== 'PAR1' || footerLength + 12 > size) {
      throw new CompactionError(`${path}: not a complete Parquet file (${size} bytes)`);
    }
    // The footer is all inspectParquet reads; the tail of the file holds it.
    const tail = Buffer.alloc(footerLength + 8);
    await handle.read(tail, 0, tail.length, size - tail.length);
    const info = inspectParquet(new Uint8Array(tail.buffer, tail.byteOffset, tail.byteLength), path);
    if (info.dataset !== dataset) throw new CompactionError(`${path}: footer says ${info.dataset}, not ${dataset}`);
    if (info.rows !== rows) throw new CompactionError(`${path}: footer says ${info.rows} rows, the query counted ${rows}`);
  } finally {
    await handle.close();
  }
  const hash = createHash('sha256');
  // 1 MiB reads: the default 64 KiB costs three times the CPU in stream overhead.
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return { bytes: size, sha256: hash.digest('base64') };
}

/**
 * The sources the new manifest names: every source read (keeping the time it was first compacted when the previous
 * manifest had it with the same bytes), and, when the previous file stood in, the previous sources not read again.
 */
function manifestSources(read: readonly SourceObject[], previous: ColdManifest | undefined, keepPrevious: boolean, compactedAt: string): ColdSource[] {
  const previousById = new Map((previous?.sources ?? []).map((s) => [sourceId(s), s]));
  const sources = new Map<string, ColdSource>();
  if (keepPrevious) for (const s of previous?.sources ?? []) sources.set(s.key, s);
  for (const s of read) {
    sources.set(s.key, { key: s.key, sha256: s.sha256, rows: s.rows, compactedAt: previousById.get(sourceId(s))?.compactedAt ?? compactedAt });
  }
  return [...sources.values()];
}

/**
 * Tags the unit's own warm sources compacted. A store that cannot tag (Swift) is reported, not failed: retention
 * judges by the cold manifests, and the tag only drives the bucket's lifecycle backstop.
 */
async function tagSources(store: ObjectStore, unit: CompactionUnit, sources: readonly ColdSource[], log: Logger): Promise<{ tagged: boolean; taggedObjects: number }> {
  const own = sources.filter((s) => isHomeSource(unit, s.key));
  if (own.length === 0) return { tagged: true, taggedObjects: 0 };
  let taggedObjects = 0;
  try {
    // The first on its own: when the store cannot tag, one request finds out.
    const [first, ...rest] = own;
    const tag = async (s: ColdSource): Promise<void> => {
      await store.putTags(s.key, { [COMPACTED_TAG]: COMPACTED_TAG_VALUE, [COMPACTED_AT_TAG]: s.compactedAt });
      taggedObjects++;
    };
    if (first !== undefined) await tag(first);
    await mapLimit(rest, IO_CONCURRENCY, tag);
    return { tagged: true, taggedObjects };
  } catch (err) {
    if (err instanceof TaggingNotSupportedError) {
      log.info('store cannot tag objects; warm sources left untagged (retention judges by the cold manifests)', { unit: describeUnit(unit), store: store.description, error: messageOf(err) });
      return { tagged: false, taggedObjects };
    }
    throw err;
  }
}

/**
 * The object layout: the one place that knows where each tier keeps each dataset.
 *
 *   warm  <dataset>/date=YYYY-MM-DD/symbol=SYM/part-NNNNN.parquet        (bars: bars/timeframe=1m/date=…)
 *   cold  <dataset>/year=YYYY/month=MM/SYM.parquet                       (bars: bars/timeframe=1m/year=…/month=…)
 *   daily bars, cold  bars/timeframe=1d/year=YYYY/SYM.parquet
 *
 * Paths are relative; the warm directory on the host and the store's `warm/` and `cold/` prefixes sit in front.
 * SYM is the symbol's path form (symbols.ts), so every path is built from validated parts only.
 */
import { createHash } from 'node:crypto';
import { DATASETS, type DatasetName, isDatasetName } from './datasets.ts';
import { symbolFromPath, symbolToPath } from './symbols.ts';
import { type IsoDate, type IsoMonth, parseIsoDate, parseIsoMonth } from './time.ts';

export const WARM_PREFIX = 'warm/';
export const COLD_PREFIX = 'cold/';
export const PART_DIGITS = 5;
export const MAX_PART_NUMBER = 10 ** PART_DIGITS - 1;

export class LayoutError extends Error {
  override readonly name = 'LayoutError';
}

/** The path of a dataset's root: `trades`, `quotes`, `bars/timeframe=1m`. */
export function datasetRoot(dataset: DatasetName): string {
  const def = DATASETS[dataset];
  return 'timeframe' in def ? `bars/timeframe=${def.timeframe}` : def.name;
}

const ROOT_TO_DATASET = new Map<string, DatasetName>(
  (Object.keys(DATASETS) as DatasetName[]).map((d) => [datasetRoot(d), d]),
);

export interface WarmFileRef {
  readonly dataset: DatasetName;
  readonly date: IsoDate;
  readonly symbol: string;
  readonly part: number;
}

export interface ColdFileRef {
  readonly dataset: DatasetName;
  /** 'YYYY-MM' for monthly files; 'YYYY' for daily bars, which are kept one file per year. */
  readonly period: string;
  readonly symbol: string;
}

/** `trades/date=2024-07-01/symbol=ESU4` */
export function warmPartitionPath(dataset: DatasetName, date: IsoDate, symbol: string): string {
  return `${datasetRoot(dataset)}/date=${parseIsoDate(date)}/symbol=${symbolToPath(symbol)}`;
}

export function warmPartName(part: number): string {
  if (!Number.isInteger(part) || part < 0 || part > MAX_PART_NUMBER) {
    throw new LayoutError(`part number ${part} outside 0..${MAX_PART_NUMBER}`);
  }
  return `part-${String(part).padStart(PART_DIGITS, '0')}.parquet`;
}

/** `trades/date=2024-07-01/symbol=ESU4/part-00003.parquet` */
export function warmFilePath(ref: WarmFileRef): string {
  return `${warmPartitionPath(ref.dataset, ref.date, ref.symbol)}/${warmPartName(ref.part)}`;
}

const WARM_TAIL = /^date=(\d{4}-\d{2}-\d{2})\/symbol=([^/]+)\/part-(\d{5})\.parquet$/;

/** Inverse of warmFilePath; throws a LayoutError naming the path when it is not a warm file path. */
export function parseWarmFilePath(path: string): WarmFileRef {
  for (const [root, dataset] of ROOT_TO_DATASET) {
    if (!path.startsWith(`${root}/date=`)) continue;
    const m = WARM_TAIL.exec(path.slice(root.length + 1));
    if (!m) break;
    return { dataset, date: parseIsoDate(m[1] ?? ''), symbol: symbolFromPath(m[2] ?? ''), part: Number(m[3]) };
  }
  throw new LayoutError(`not a warm file path: ${JSON.stringify(path)}`);
}

/** Prefix of every warm file of one dataset in one month, e.g. `trades/date=2024-07-`. */
export function warmMonthPrefix(dataset: DatasetName, month: IsoMonth): string {
  return `${datasetRoot(dataset)}/date=${parseIsoMonth(month)}-`;
}

/** Cold period of a dataset for a given month: the month, or the year for daily bars. */
export function coldPeriodOf(dataset: DatasetName, month: IsoMonth): string {
  return dataset === 'bars_1d' ? parseIsoMonth(month).slice(0, 4) : parseIsoMonth(month);
}

/** `trades/year=2024/month=07/ESU4.parquet`, or `bars/timeframe=1d/year=2024/ESU4.parquet` for daily bars. */
export function coldFilePath(ref: ColdFileRef): string {
  const sym = symbolToPath(ref.symbol);
  if (ref.dataset === 'bars_1d') {
    if (!/^\d{4}$/.test(ref.period)) throw new LayoutError(`daily bars are kept per year, got period ${JSON.stringify(ref.period)}`);
    return `${datasetRoot(ref.dataset)}/year=${ref.period}/${sym}.parquet`;
  }
  const month = parseIsoMonth(ref.period);
  return `${datasetRoot(ref.dataset)}/year=${month.slice(0, 4)}/month=${month.slice(5, 7)}/${sym}.parquet`;
}

/** Inverse of coldFilePath. */
export function parseColdFilePath(path: string): ColdFileRef {
  for (const [root, dataset] of ROOT_TO_DATASET) {
    if (!path.startsWith(`${root}/year=`)) continue;
    const tail = path.slice(root.length + 1);
    const m = dataset === 'bars_1d'
      ? /^year=(\d{4})\/([^/]+)\.parquet$/.exec(tail)
      : /^year=(\d{4})\/month=(\d{2})\/([^/]+)\.parquet$/.exec(tail);
    if (!m) break;
    const period = dataset === 'bars_1d' ? (m[1] ?? '') : parseIsoMonth(`${m[1]}-${m[2]}`);
    const symbol = symbolFromPath((dataset === 'bars_1d' ? m[2] : m[3]) ?? '');
    return { dataset, period, symbol };
  }
  throw new LayoutError(`not a cold file path: ${JSON.stringify(path)}`);
}

/** The cold prefix holding every symbol of a dataset for one period. */
export function coldPeriodPrefix(dataset: DatasetName, period: string): string {
  if (dataset === 'bars_1d') return `${datasetRoot(dataset)}/year=${period}/`;
  const month = parseIsoMonth(period);
  return `${datasetRoot(dataset)}/year=${month.slice(0, 4)}/month=${month.slice(5, 7)}/`;
}

export function parseDatasetRoot(root: string): DatasetName {
  const dataset = ROOT_TO_DATASET.get(root);
  if (dataset === undefined || !isDatasetName(dataset)) throw new LayoutError(`unknown dataset root ${JSON.stringify(root)}`);
  return dataset;
}

// ---- Store keys of warm objects ------------------------------------------------------------------------------------
//
//   warm/<dataset-root>/date=YYYY-MM-DD/symbol=SYM/part-NNNNN-<agentId>.parquet   a sealed file, as uploaded
//   warm/<dataset-root>/date=YYYY-MM-DD/_manifest-<agentId>.json                   what one agent uploaded that day
//
// The key is a function of the file and the agent only, so a retry rewrites the same object (never a second copy)
// and two agents writing the same partition never collide. The manifest's leading '_' keeps Athena and Hive from
// reading it as data.

export const AGENT_ID_MAX_LENGTH = 32;
const AGENT_ID = /^[a-z0-9][a-z0-9-]*$/;
const AGENT_ID_SOURCE = '[a-z0-9][a-z0-9-]{0,31}';
const AGENT_ID_FALLBACK = 'agent';
/** When a hostname must be shortened, this many hex digits of its SHA-256 go at the end, so long names stay apart. */
const AGENT_ID_HASH_DIGITS = 8;

/** Returns the agent id unchanged when it is 1 to 32 characters of [a-z0-9-] starting with a letter or digit. */
export function validateAgentId(id: string): string {
  const problem =
    id.length === 0 ? 'empty'
    : id.length > AGENT_ID_MAX_LENGTH ? `${id.length} characters, over the ${AGENT_ID_MAX_LENGTH}-character limit`
    : !AGENT_ID.test(id) ? "must be lower-case letters, digits and '-', starting with a letter or digit"
    : undefined;
  if (problem !== undefined) {
    const shown = JSON.stringify(id.length > 48 ? `${id.slice(0, 48)}…` : id);
    throw new LayoutError(`invalid agent id ${shown}: ${problem}`);
  }
  return id;
}

/**
 * An agent id made from a hostname: lower-cased, every run of other characters turned into one '-', trimmed of
 * '-' at both ends; names over 32 characters keep their first 23 and end in '-' and 8 hex digits of the hostname's
 * SHA-256. Never empty ('agent' when nothing usable is left). Hostnames that differ only in case or punctuation
 * map to the same id: give such agents an explicit id.
 */
export function defaultAgentId(hostname: string): string {
  const cleaned = hostname.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  if (cleaned === '') return AGENT_ID_FALLBACK;
  if (cleaned.length <= AGENT_ID_MAX_LENGTH) return cleaned;
  const hash = createHash('sha256').update(hostname).digest('hex').slice(0, AGENT_ID_HASH_DIGITS);
  const head = cleaned.slice(0, AGENT_ID_MAX_LENGTH - AGENT_ID_HASH_DIGITS - 1).replace(/-+$/, '');
  return `${head}-${hash}`;
}

/** `warm/trades/date=2024-07-01/symbol=ESU4/part-00003-edge-1.parquet` */
export function warmObjectKey(ref: WarmFileRef, agentId: string): string {
  const local = warmFilePath(ref);
  const suffix = `-${validateAgentId(agentId)}.parquet`;
  return `${WARM_PREFIX}${local.slice(0, -'.parquet'.length)}${suffix}`;
}

const WARM_OBJECT_TAIL = new RegExp(
  `^date=(\\d{4}-\\d{2}-\\d{2})/symbol=([^/]+)/part-(\\d{${PART_DIGITS}})-(${AGENT_ID_SOURCE})\\.parquet$`,
);

/** Inverse of warmObjectKey; throws a LayoutError naming the key when it is not a warm object key. */
export function parseWarmObjectKey(key: string): { ref: WarmFileRef; agentId: string } {
  if (key.startsWith(WARM_PREFIX)) {
    const path = key.slice(WARM_PREFIX.length);
    for (const [root, dataset] of ROOT_TO_DATASET) {
      if (!path.startsWith(`${root}/date=`)) continue;
      const m = WARM_OBJECT_TAIL.exec(path.slice(root.length + 1));
      if (!m) break;
      try {
        const ref: WarmFileRef = {
          dataset, date: parseIsoDate(m[1] ?? ''), symbol: symbolFromPath(m[2] ?? ''), part: Number(m[3]),
        };
        return { ref, agentId: validateAgentId(m[4] ?? '') };
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new LayoutError(`not a warm object key: ${JSON.stringify(key)} (${why})`, { cause: err });
      }
    }
  }
  throw new LayoutError(`not a warm object key: ${JSON.stringify(key)}`);
}

/** `warm/trades/date=2024-07-01/_manifest-edge-1.json`: the objects one agent uploaded for one dataset-day. */
export function warmManifestKey(dataset: DatasetName, date: IsoDate, agentId: string): string {
  return `${WARM_PREFIX}${datasetRoot(dataset)}/date=${parseIsoDate(date)}/_manifest-${validateAgentId(agentId)}.json`;
}

const WARM_MANIFEST_TAIL = new RegExp(`^date=(\\d{4}-\\d{2}-\\d{2})/_manifest-(${AGENT_ID_SOURCE})\\.json$`);

/** Inverse of warmManifestKey, or undefined when the key is not a manifest key (list filters use it). */
export function parseWarmManifestKey(key: string): { dataset: DatasetName; date: IsoDate; agentId: string } | undefined {
  if (!key.startsWith(WARM_PREFIX)) return undefined;
  const path = key.slice(WARM_PREFIX.length);
  for (const [root, dataset] of ROOT_TO_DATASET) {
    if (!path.startsWith(`${root}/date=`)) continue;
    const m = WARM_MANIFEST_TAIL.exec(path.slice(root.length + 1));
    if (!m) return undefined;
    try {
      return { dataset, date: parseIsoDate(m[1] ?? ''), agentId: m[2] ?? '' };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Store prefix of every warm object (data and manifests) of one dataset in one month: `warm/trades/date=2024-07-`. */
export function warmMonthObjectPrefix(dataset: DatasetName, month: IsoMonth): string {
  return `${WARM_PREFIX}${warmMonthPrefix(dataset, month)}`;
}

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

/**
 * The column types a dataset may use, and how each one maps onto Parquet, Glue/Athena, DuckDB and TypeScript.
 * Every schema in the system is derived from these maps; nothing else spells a column type by hand.
 */

/** Nanoseconds since the Unix epoch, UTC. */
export type EpochNs = bigint;

export const COLUMN_TYPES = {
  /** Event time, stored as INT64 TIMESTAMP(NANOS, isAdjustedToUTC=false) so DuckDB keeps every nanosecond. */
  timestamp_ns: { parquet: 'INT64', glue: 'timestamp', duckdb: 'TIMESTAMP_NS' },
  /** A signed 64-bit integer: ids, counts, and exact epoch nanoseconds for engines that round timestamps. */
  int64: { parquet: 'INT64', glue: 'bigint', duckdb: 'BIGINT' },
  /** An IEEE 754 double: prices and sizes (crypto sizes are fractional). */
  float64: { parquet: 'DOUBLE', glue: 'double', duckdb: 'DOUBLE' },
  /** UTF-8 text, dictionary-encoded in Parquet. */
  string: { parquet: 'BYTE_ARRAY', glue: 'string', duckdb: 'VARCHAR' },
} as const;

export type ColumnType = keyof typeof COLUMN_TYPES;

/** The TypeScript value type of each column type. */
export interface ColumnValueTypes {
  timestamp_ns: EpochNs;
  int64: bigint;
  float64: number;
  string: string;
}

export interface ColumnDefinition {
  readonly name: string;
  readonly type: ColumnType;
  /** Whether the column may hold nulls (a quote feed that omits sizes, say). */
  readonly nullable: boolean;
  /** One line for the Glue catalog and the README. */
  readonly comment: string;
}

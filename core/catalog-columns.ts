/** Column lists for the query engines, derived from the dataset definitions. */
import { COLUMN_TYPES } from './column-types.ts';
import { type DatasetName, columnsOf } from './datasets.ts';

export interface CatalogColumn {
  readonly name: string;
  readonly type: string;
  readonly comment: string;
}

/** Glue/Athena data columns of a dataset (partition keys are added by the table, not here). */
export function glueColumns(dataset: DatasetName): CatalogColumn[] {
  return columnsOf(dataset).map((c) => ({ name: c.name, type: COLUMN_TYPES[c.type].glue, comment: c.comment }));
}

/** DuckDB columns of a dataset, in file order. */
export function duckdbColumns(dataset: DatasetName): CatalogColumn[] {
  return columnsOf(dataset).map((c) => ({ name: c.name, type: COLUMN_TYPES[c.type].duckdb, comment: c.comment }));
}

/** A DuckDB `columns={...}` struct literal for read_parquet / read_csv. Names and types come from code, never input. */
export function duckdbColumnStruct(dataset: DatasetName): string {
  return `{${duckdbColumns(dataset).map((c) => `'${c.name}': '${c.type}'`).join(', ')}}`;
}

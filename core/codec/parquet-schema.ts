/** The Parquet schema of each dataset, derived from its column definitions. */
import type { SchemaElement } from 'hyparquet';
import { COLUMN_TYPES, type ColumnDefinition } from '../column-types.ts';
import { type DatasetName, columnsOf } from '../datasets.ts';

export function parquetSchemaElement(def: ColumnDefinition): SchemaElement {
  const repetition_type = def.nullable ? 'OPTIONAL' : 'REQUIRED';
  switch (def.type) {
    case 'timestamp_ns':
      // isAdjustedToUTC=false: DuckDB reads TIMESTAMP_NS exactly only in this form; values are UTC by convention.
      return {
        name: def.name,
        type: COLUMN_TYPES.timestamp_ns.parquet,
        repetition_type,
        logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: false, unit: 'NANOS' },
      };
    case 'int64':
      return { name: def.name, type: 'INT64', repetition_type };
    case 'float64':
      return { name: def.name, type: 'DOUBLE', repetition_type };
    case 'string':
      return { name: def.name, type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' }, repetition_type };
  }
}

/** The full schema list (root first) as hyparquet-writer and the Parquet footer express it. */
export function parquetSchema(dataset: DatasetName): SchemaElement[] {
  const columns = columnsOf(dataset);
  return [{ name: 'schema', num_children: columns.length }, ...columns.map(parquetSchemaElement)];
}

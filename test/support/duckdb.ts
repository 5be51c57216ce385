/** An independent reader for tests: DuckDB over local files, rows as plain JS values. */
import { DuckDBInstance } from '@duckdb/node-api';

export async function duckdbRows(sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll(sql);
    return reader.getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Escapes a path for a single-quoted DuckDB string literal (test-controlled paths only). */
export function sqlPath(path: string): string {
  return `'${path.replaceAll("'", "''")}'`;
}

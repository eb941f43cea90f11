import type postgres from 'postgres';

/** PostgreSQL's plan for `statement`, as text; with `analyze`, it is run too and the plan holds what it did. */
export async function planOf(client: postgres.Sql, statement: string, params: unknown[] = [], { analyze = false } = {}): Promise<string> {
  const rows = await client.unsafe(`explain ${analyze ? '(analyze) ' : ''}${statement}`, params as never[]);
  return rows.map((row) => row['QUERY PLAN'] as string).join('\n');
}

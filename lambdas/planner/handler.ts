/** Placeholder so the CDK app can bundle the planner Lambda; the real handler replaces this file. */
export async function handler(_event: unknown): Promise<never> {
  throw new Error('not implemented');
}

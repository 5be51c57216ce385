/**
 * Handler configuration from environment variables: one zod schema per handler, validated once at start; a bad
 * value fails with a message that names the variable and says what was expected.
 */
import { z } from 'zod';
import { COLD_PREFIX, WARM_PREFIX, validateAgentId } from '../../core/layout.ts';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses `env` with `schema`; unknown variables are ignored (the environment holds much else). */
export function readEnv<S extends z.ZodType>(schema: S, env: Readonly<Record<string, string | undefined>>): z.output<S> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `environment variable ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(issues.join('; '));
  }
  return parsed.data;
}

/** An unset or empty variable is undefined, so schema defaults apply to both. */
const unsetIfEmpty = (v: unknown): unknown => (v === '' ? undefined : v);

export const envPositiveInt = (fallback: number) =>
  z.preprocess(unsetIfEmpty, z.string().regex(/^\d+$/, 'expected a positive integer').transform(Number).pipe(z.number().int().positive()).optional())
    .transform((v) => v ?? fallback);

/** A non-negative decimal number, or undefined when unset. */
export const envOptionalNonNegativeNumber = z.preprocess(
  unsetIfEmpty,
  z.string().regex(/^\d+(\.\d+)?$/, 'expected a non-negative number').transform(Number).optional(),
);

export const envNonNegativeNumber = (fallback: number) => envOptionalNonNegativeNumber.transform((v) => v ?? fallback);

export const envBoolean = (fallback: boolean) =>
  z.preprocess(unsetIfEmpty, z.enum(['true', 'false'], { message: "expected 'true' or 'false'" }).optional())
    .transform((v) => (v === undefined ? fallback : v === 'true'));

/** Comma-separated agent ids, each valid (layout.ts), at least one. */
export const envAgentIds = z.preprocess(unsetIfEmpty, z.string().optional()).transform((v, ctx) => {
  if (v === undefined) return undefined;
  const ids = [...new Set(v.split(',').map((s) => s.trim()).filter((s) => s !== ''))];
  if (ids.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'expected comma-separated agent ids' });
    return z.NEVER;
  }
  for (const id of ids) {
    try {
      validateAgentId(id);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
      return z.NEVER;
    }
  }
  return ids;
});

/** DuckDB memory limit such as '2GB' or '1500MB'. */
export const envMemoryLimit = (fallback: string) =>
  z.preprocess(unsetIfEmpty, z.string().regex(/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, "expected a size such as '2GB' or '1500MB'").optional())
    .transform((v) => v ?? fallback);

/**
 * WARM_PREFIX and COLD_PREFIX, which the CDK app passes for documentation: the layout's prefixes are fixed in
 * core/layout.ts, so a different value means the deployment and the code disagree.
 */
export const layoutPrefixes = {
  WARM_PREFIX: z.preprocess(unsetIfEmpty, z.literal(WARM_PREFIX, { message: `expected ${JSON.stringify(WARM_PREFIX)} (core/layout.ts)` }).optional()),
  COLD_PREFIX: z.preprocess(unsetIfEmpty, z.literal(COLD_PREFIX, { message: `expected ${JSON.stringify(COLD_PREFIX)} (core/layout.ts)` }).optional()),
};

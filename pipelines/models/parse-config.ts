// Checking a model's hyper-parameters against its zod schema, with errors that name each bad field.
import type { z } from 'zod';

/** A zod failure as one line: `field: problem; other.field: problem`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** `raw` checked against `schema`, or an error `SOURCE: invalid NAME config (field: problem; …)`. */
export function parseModelConfig<T>(schema: z.ZodType<T>, raw: unknown, source: string, name: string): T {
  const r = schema.safeParse(raw);
  if (!r.success) throw new Error(`${source}: invalid ${name} config (${describeIssues(r.error)})`);
  return r.data;
}

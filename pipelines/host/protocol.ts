// The messages between an engine client (main thread / Electron main) and the engine host (worker,
// child process or Electron utility process). Both sides validate what they receive with these schemas.
// Job inputs and outputs are `unknown` here; each job validates its own input with its own schema.
import { z } from 'zod';

export const ErrorInfo = z.object({
  name: z.string(),
  message: z.string(),
  stack: z.string().optional(),
});
export type ErrorInfo = z.infer<typeof ErrorInfo>;

export const Progress = z.object({
  step: z.number().int().nonnegative().optional(),
  total: z.number().int().nonnegative().optional(),
  message: z.string().optional(),
  /** Anything structured-cloneable, e.g. a preview image as a Uint8Array. */
  data: z.unknown().optional(),
});
export type Progress = z.infer<typeof Progress>;

const JobId = z.string().min(1);

export const ClientMessage = z.discriminatedUnion('type', [
  /** First message: which modules to import jobs from (file URLs). */
  z.object({ type: z.literal('init'), modules: z.array(z.string()) }),
  z.object({ type: z.literal('run'), id: JobId, job: z.string().min(1), input: z.unknown() }),
  z.object({ type: z.literal('cancel'), id: JobId }),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;

export const HostMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), pid: z.number().int(), jobs: z.array(z.string()) }),
  z.object({ type: z.literal('init-failed'), error: ErrorInfo }),
  z.object({ type: z.literal('progress'), id: JobId, progress: Progress }),
  z.object({ type: z.literal('done'), id: JobId, output: z.unknown() }),
  z.object({ type: z.literal('failed'), id: JobId, error: ErrorInfo, cancelled: z.boolean() }),
]);
export type HostMessage = z.infer<typeof HostMessage>;

export function errorInfo(e: unknown): ErrorInfo {
  if (e instanceof Error) return { name: e.name, message: e.message, stack: e.stack };
  return { name: 'Error', message: String(e) };
}

/** Parses a message from the other side; a malformed one is a bug in that side, reported with the issues. */
export function parseMessage<S extends z.ZodType>(schema: S, raw: unknown, from: string): z.output<S> {
  const r = schema.safeParse(raw);
  if (!r.success) throw new Error(`malformed message from the ${from}: ${z.prettifyError(r.error)}`);
  return r.data;
}

// Routes one API call to the studio: looks the method up, validates its params with the method's
// schema, and turns every failure into an ApiError the UI can show. Used by the WebSocket bridge and
// by the Electron IPC bridge alike.
import { z } from 'zod';
import { BadRequestError } from '../../pipelines/jobs/api.ts';
import { apiMethods, type CallOutcome, type MethodName, type ParsedParamsOf, type ResultOf } from '../../pipelines/jobs/api-studio.ts';

export type { CallOutcome };

/** What the studio implements: one async function per API method. */
export type StudioApi = { [M in MethodName]: (params: ParsedParamsOf<M>) => Promise<ResultOf<M>> };

/** A call the studio (or the engine) refuses because of what the caller sent; the message names the field. */
export { BadRequestError };

function isMethod(name: string): name is MethodName {
  return Object.hasOwn(apiMethods, name);
}

export async function dispatchCall(api: StudioApi, method: string, rawParams: unknown): Promise<CallOutcome> {
  if (!isMethod(method)) {
    return { ok: false, error: { code: 'unknown-method', message: `unknown API method "${method}"; the studio offers: ${Object.keys(apiMethods).join(', ')}` } };
  }
  const parsed = apiMethods[method].params.safeParse(rawParams);
  if (!parsed.success) {
    return { ok: false, error: { code: 'bad-request', message: `${method}: ${z.prettifyError(parsed.error)}` } };
  }
  try {
    const handler = api[method] as (params: unknown) => Promise<unknown>;
    return { ok: true, result: await handler.call(api, parsed.data) };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    return { ok: false, error: { code: e instanceof BadRequestError ? 'bad-request' : 'failed', message } };
  }
}

// The studio API over Electron IPC: the preload invokes one channel with (method, params) and listens
// on another for events. Calls are answered only for the studio's own pages.
import { dispatchCall, type CallOutcome, type StudioApi } from '../server/dispatch.ts';
import { isTrustedUrl } from './security.ts';

export const CALL_CHANNEL = 'studio:call';
export const EVENT_CHANNEL = 'studio:event';

export async function handleIpcCall(api: StudioApi, scheme: string, senderUrl: string | undefined, method: unknown, params: unknown): Promise<CallOutcome> {
  if (!isTrustedUrl(senderUrl, scheme)) {
    return { ok: false, error: { code: 'failed', message: `the studio API answers only its own pages, not ${senderUrl ?? 'an unknown frame'}` } };
  }
  if (typeof method !== 'string') return { ok: false, error: { code: 'unknown-method', message: 'the method name must be a string' } };
  return dispatchCall(api, method, params);
}

// The typed API as the UI calls it: results and events are validated against the same schemas the
// studio uses, so a mismatch between UI and studio versions shows up as a clear error, not as undefined.
import { z } from 'zod';
import { apiEvents, apiMethods, type ApiError, type EventName, type EventOf, type MethodName, type ParamsOf, type ResultOf } from '../../pipelines/jobs/api-studio.ts';
import type { Transport } from './transport.ts';

export class ApiCallError extends Error {
  constructor(readonly error: ApiError) {
    super(error.message);
    this.name = 'ApiCallError';
  }
}

export class ApiClient {
  constructor(readonly transport: Transport) {}

  async call<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    const outcome = await this.transport.call(method, params);
    if (!outcome.ok) throw new ApiCallError(outcome.error);
    const parsed = apiMethods[method].result.safeParse(outcome.result);
    if (!parsed.success) throw new Error(`the studio answered ${method} in an unexpected shape (${z.prettifyError(parsed.error)})`);
    return parsed.data as ResultOf<M>;
  }

  on<E extends EventName>(event: E, listener: (data: EventOf<E>) => void): () => void {
    return this.transport.onEvent((name, data) => {
      if (name !== event) return;
      const parsed = apiEvents[event].safeParse(data);
      if (parsed.success) listener(parsed.data as EventOf<E>);
      else console.error(`studio event "${event}" in an unexpected shape`, parsed.error);
    });
  }

  imageUrl(name: string): string {
    return this.transport.imageUrl(name);
  }

  /** A gallery image's tile pyramid file (app/server/image-tiles.ts). */
  tileUrl(name: string, path: string): string {
    return this.transport.tileUrl(name, path);
  }
}

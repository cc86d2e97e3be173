// One ORT session for one built graph, on the best execution provider that accepts it.
import * as ort from 'onnxruntime-node';
import type { Graph } from '../onnx/graph.ts';

export type Provider = 'cuda' | 'dml' | 'coreml' | 'webgpu' | 'cpu';

export interface SessionOptions {
  /** Providers to try in order; the first whose session can be created is used. */
  providers?: readonly Provider[];
  intraOpThreads?: number;
  /** Keep these outputs on the device between runs (WebGPU/CUDA only). */
  keepOnDevice?: readonly string[];
  /** Refuse to silently run some nodes on the CPU when a GPU provider is used. */
  forbidCpuFallback?: boolean;
  logSeverity?: 0 | 1 | 2 | 3 | 4;
}

export interface ProviderAttempt {
  provider: Provider;
  error: string;
}

export class Session {
  private constructor(
    readonly inner: ort.InferenceSession,
    readonly provider: Provider,
    /** Providers that were tried first and refused, with why. */
    readonly fallbacks: readonly ProviderAttempt[],
  ) {}

  static async create(graph: Graph, o: SessionOptions = {}): Promise<Session> {
    const { bytes, externalDataFolder } = graph.serialize();
    const providers = o.providers?.length ? o.providers : (['cpu'] as const);
    const attempts: ProviderAttempt[] = [];
    for (const provider of providers) {
      const extraSession: Record<string, string> = {};
      if (externalDataFolder) extraSession.model_external_initializers_file_folder_path = externalDataFolder;
      if (o.forbidCpuFallback && provider !== 'cpu') extraSession.disable_cpu_ep_fallback = '1';
      const options: ort.InferenceSession.SessionOptions = {
        executionProviders: [provider],
        graphOptimizationLevel: 'all',
        logSeverityLevel: o.logSeverity ?? 3,
        extra: { session: extraSession },
      };
      if (o.intraOpThreads) options.intraOpNumThreads = o.intraOpThreads;
      if (o.keepOnDevice?.length && provider !== 'cpu') {
        options.preferredOutputLocation = Object.fromEntries(graph.outputNames.map((n) => [n, o.keepOnDevice!.includes(n) ? 'gpu-buffer' : 'cpu']));
      }
      try {
        const inner = await ort.InferenceSession.create(bytes, options);
        return new Session(inner, provider, attempts);
      } catch (e) {
        attempts.push({ provider, error: (e as Error).message.split('\n')[0] });
      }
    }
    throw new Error(`no execution provider could run graph "${graph.name}": ${attempts.map((a) => `${a.provider}: ${a.error}`).join('; ')}`);
  }

  async run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
    return this.inner.run(feeds);
  }

  async release(): Promise<void> {
    await this.inner.release();
  }
}

export function tensor(data: Float32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

export { ort };

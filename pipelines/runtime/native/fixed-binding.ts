// A native session's inputs and outputs at the same device addresses on every run, as a CUDA graph needs: ORT
// captures the graph on an early run and from then on replays it without looking at the feeds, so new values must
// be copied into the very buffers it captured, and outputs read from the buffers it wrote then.
import koffi from 'koffi';
import type * as ort from 'onnxruntime-node';
import type { OrtCApi } from './ort-c-api.ts';
import type { DeviceCopy } from './device-copy.ts';
import { byteLength, describeValue, elementType, tensorBytes, tensorOf } from './ort-values.ts';

interface BoundTensor {
  value: unknown;
  type: ort.Tensor.Type;
  dims: number[];
  data: unknown;
}

export class FixedBinding {
  private readonly binding: unknown;
  private readonly allocator: unknown;
  private inputs?: Map<string, BoundTensor>;
  private outputs?: Map<string, BoundTensor>;

  constructor(
    private readonly api: OrtCApi,
    private readonly session: unknown,
    private readonly outputNames: readonly string[],
    private readonly memory: unknown,
    private readonly copy: DeviceCopy,
    /** Why the addresses are fixed, for the error when a run's shapes differ (e.g. "the CUDA graph"). */
    private readonly purpose: string,
  ) {
    this.binding = api.out('CreateIoBinding', session);
    this.allocator = api.out('CreateAllocator', session, memory);
  }

  run(feeds: Record<string, ort.Tensor>, runOptions: unknown): Record<string, ort.Tensor> {
    const api = this.api;
    const inputs = (this.inputs ??= this.allocateInputs(feeds));
    this.checkFeeds(feeds, inputs);
    for (const [name, t] of Object.entries(feeds)) this.copy.toDevice(inputs.get(name)!.data, tensorBytes(t));
    this.copy.settle();
    if (!this.outputs) for (const name of this.outputNames) api.check(api.call.BindOutputToDevice(this.binding, name, this.memory), `output "${name}"`);
    api.check(api.call.RunWithBinding(this.session, runOptions, this.binding), 'Run');
    const outputs = (this.outputs ??= this.pinOutputs());
    const result: Record<string, ort.Tensor> = {};
    for (const [name, o] of outputs) result[name] = tensorOf(o.type, o.dims, this.copy.toHost(o.data, byteLength(o.type, o.dims)));
    return result;
  }

  release(): void {
    for (const t of [...(this.inputs?.values() ?? []), ...(this.outputs?.values() ?? [])]) this.api.call.ReleaseValue(t.value);
    this.inputs = this.outputs = undefined;
    this.api.call.ReleaseIoBinding(this.binding);
    this.api.call.ReleaseAllocator(this.allocator);
  }

  private allocateInputs(feeds: Record<string, ort.Tensor>): Map<string, BoundTensor> {
    const api = this.api;
    const inputs = new Map<string, BoundTensor>();
    for (const [name, t] of Object.entries(feeds)) {
      const value = api.out('CreateTensorAsOrtValue', this.allocator, BigInt64Array.from(t.dims, BigInt), t.dims.length, elementType(name, t));
      inputs.set(name, { value, type: t.type, dims: [...t.dims], data: api.out('GetTensorMutableData', value) });
      api.check(api.call.BindInput(this.binding, name, value), `input "${name}"`);
    }
    return inputs;
  }

  /** The outputs ORT allocated on the first run, bound from now on so that every later run writes into them. */
  private pinOutputs(): Map<string, BoundTensor> {
    const api = this.api;
    const list: unknown[] = [null];
    const count = [0];
    api.check(api.call.GetBoundOutputValues(this.binding, api.defaultAllocator, list, count), 'GetBoundOutputValues');
    const values = koffi.decode(list[0], 'void *', Number(count[0])) as unknown[];
    api.check(api.call.AllocatorFree(api.defaultAllocator, list[0]), 'AllocatorFree');
    const outputs = new Map<string, BoundTensor>();
    this.outputNames.forEach((name, i) => {
      outputs.set(name, { value: values[i], ...describeValue(api, values[i]), data: api.out('GetTensorMutableData', values[i]) });
      api.check(api.call.BindOutput(this.binding, name, values[i]), `output "${name}"`);
    });
    return outputs;
  }

  private checkFeeds(feeds: Record<string, ort.Tensor>, inputs: Map<string, BoundTensor>): void {
    const names = Object.keys(feeds);
    const missing = [...inputs.keys()].filter((n) => !(n in feeds));
    const extra = names.filter((n) => !inputs.has(n));
    if (missing.length || extra.length) throw new Error(`${this.purpose} binds the inputs ${[...inputs.keys()].join(', ')}; this run ${missing.length ? `lacks ${missing.join(', ')}` : ''}${missing.length && extra.length ? ' and ' : ''}${extra.length ? `adds ${extra.join(', ')}` : ''}: feed the same inputs every run`);
    for (const [name, t] of Object.entries(feeds)) {
      const b = inputs.get(name)!;
      if (t.type !== b.type || t.dims.length !== b.dims.length || t.dims.some((d, i) => d !== b.dims[i])) {
        throw new Error(`${this.purpose} was set up for input "${name}" as ${b.type} [${b.dims.join(', ')}]; this run gives ${t.type} [${t.dims.join(', ')}]: a session with fixed buffers runs one shape, so create one per size`);
      }
    }
  }
}

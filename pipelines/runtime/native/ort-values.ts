// OrtValues ↔ ort.Tensors for the native session: element types, shapes, and the bytes copied out.
import koffi from 'koffi';
import * as ort from 'onnxruntime-node';
import type { OrtCApi } from './ort-c-api.ts';

// ONNX TensorProto element types and their ort.Tensor names.
export const ELEMENT: Record<string, number> = { float32: 1, uint8: 2, int8: 3, uint16: 4, int16: 5, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11, uint32: 12, uint64: 13 };
const TYPE_NAME = Object.fromEntries(Object.entries(ELEMENT).map(([k, v]) => [v, k])) as Record<number, ort.Tensor.Type>;
const BYTES: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8 };

/** The element type number of `t`, or a clear error naming the input. */
export function elementType(name: string, t: ort.Tensor): number {
  const type = ELEMENT[t.type];
  if (type === undefined) throw new Error(`input "${name}": tensor type ${t.type} is not supported by the native session`);
  return type;
}

export function byteLength(type: ort.Tensor.Type, dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1) * BYTES[ELEMENT[type]];
}

export function describeValue(api: OrtCApi, value: unknown): { type: ort.Tensor.Type; dims: number[] } {
  const info = api.out('GetTensorTypeAndShape', value);
  try {
    const type = [0];
    const rank = [0];
    api.check(api.call.GetTensorElementType(info, type), 'GetTensorElementType');
    api.check(api.call.GetDimensionsCount(info, rank), 'GetDimensionsCount');
    const dims = new BigInt64Array(Number(rank[0]));
    api.check(api.call.GetDimensions(info, dims, dims.length), 'GetDimensions');
    const name = TYPE_NAME[type[0]];
    if (!name) throw new Error(`output element type ${type[0]} is not supported by the native session`);
    return { type: name, dims: Array.from(dims, Number) };
  } finally {
    api.call.ReleaseTensorTypeAndShapeInfo(info);
  }
}

/** A host tensor over `bytes` (which it takes), typed as ORT describes `value`. */
export function tensorOf(type: ort.Tensor.Type, dims: readonly number[], bytes: ArrayBuffer): ort.Tensor {
  return new ort.Tensor(type, typedArray(type, bytes), dims);
}

/** A host copy of a tensor that lives in the CPU's memory. */
export function hostValueToTensor(api: OrtCApi, value: unknown): ort.Tensor {
  const { type, dims } = describeValue(api, value);
  const bytes = byteLength(type, dims);
  const data = api.out('GetTensorMutableData', value);
  return tensorOf(type, dims, bytes ? koffi.view(data, bytes).slice(0) : new ArrayBuffer(0));
}

/** The tensor's bytes as a Uint8Array over its own buffer (no copy). */
export function tensorBytes(t: ort.Tensor): Uint8Array {
  const data = t.data as ArrayBufferView;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function typedArray(type: ort.Tensor.Type, buffer: ArrayBuffer): ort.Tensor.DataType {
  switch (type) {
    case 'float32': return new Float32Array(buffer);
    case 'float64': return new Float64Array(buffer);
    case 'float16': case 'uint16': return new Uint16Array(buffer);
    case 'int16': return new Int16Array(buffer);
    case 'int32': return new Int32Array(buffer);
    case 'uint32': return new Uint32Array(buffer);
    case 'int64': return new BigInt64Array(buffer);
    case 'uint64': return new BigUint64Array(buffer);
    case 'int8': return new Int8Array(buffer);
    default: return new Uint8Array(buffer);
  }
}

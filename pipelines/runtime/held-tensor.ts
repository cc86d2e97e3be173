// A session output kept where it was computed, to be fed to a later run without a trip through the host: on the
// GPU for native CUDA sessions (ORT's IO binding), or as a host tensor where the backend cannot keep it there
// (onnxruntime-node's CUDA/CPU sessions), so callers hand values from run to run the same way on every backend.
// A native value may also be parked in (pinned) host memory by its session: held natively, but not on the device.
import type * as ort from 'onnxruntime-node';
import type { NativeDeviceValue } from './native/native-session.ts';

export class HeldTensor {
  private constructor(
    private device: NativeDeviceValue | undefined,
    private host: ort.Tensor | undefined,
    readonly type: ort.Tensor.Type,
    readonly dims: readonly number[],
  ) {}

  static onDevice(value: NativeDeviceValue): HeldTensor {
    return new HeldTensor(value, undefined, value.type, value.dims);
  }

  static onHost(tensor: ort.Tensor): HeldTensor {
    return new HeldTensor(undefined, tensor, tensor.type, tensor.dims);
  }

  /** In the device's memory (not a host copy, nor parked in host memory). */
  get onDevice(): boolean {
    return this.device !== undefined && !this.device.inHostMemory;
  }

  /** The native value (in the device's memory, or parked in host memory by its session); undefined for a host tensor. */
  get deviceValue(): NativeDeviceValue | undefined {
    return this.device;
  }

  /** The host tensor; throws for a native value, on the device or parked (it has no JS copy). */
  get hostTensor(): ort.Tensor {
    if (this.device) throw new Error(`this tensor is held by a native session (${this.device.inHostMemory ? 'parked in host memory' : 'in GPU memory'}); only a native session on the same device can take it`);
    if (!this.host) throw new Error('this held tensor was released');
    return this.host;
  }

  release(): void {
    this.device?.release();
    this.device = undefined;
    this.host = undefined;
  }
}

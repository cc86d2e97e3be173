// Copies between host bytes and a tensor a native session bound in its device's memory (fixed-binding.ts).
// ORT's C API has no copy for the classic CUDA provider's tensors, so CUDA copies go through the CUDA runtime that
// the provider itself loaded (libcudart), called through koffi.
import koffi from 'koffi';

export interface DeviceCopy {
  toDevice(dst: unknown, src: Uint8Array): void;
  toHost(src: unknown, bytes: number): ArrayBuffer;
  /** Waits until the copies to the device have landed (before a run reads them on the provider's own stream). */
  settle(): void;
}

/** Tensors in the CPU's memory: plain byte copies. */
export const hostMemoryCopy: DeviceCopy = {
  toDevice: (dst, src) => new Uint8Array(koffi.view(dst, src.byteLength)).set(src),
  toHost: (src, bytes) => koffi.view(src, bytes).slice(0),
  settle: () => {},
};

// The CUDA runtime's names for the CUDA 13 and 12 builds of ORT's provider; STUDIO_CUDART names another.
const CUDART = process.platform === 'win32' ? ['cudart64_13.dll', 'cudart64_12.dll'] : ['libcudart.so.13', 'libcudart.so.12', 'libcudart.so'];
const HOST_TO_DEVICE = 1;
const DEVICE_TO_HOST = 2;

let cudart: { setDevice: (d: number) => number; memcpy: (dst: unknown, src: unknown, n: number, kind: number) => number; synchronize: () => number; error: (code: number) => string } | undefined;

function loadCudart(): NonNullable<typeof cudart> {
  if (cudart) return cudart;
  const names = process.env.STUDIO_CUDART ? [process.env.STUDIO_CUDART] : CUDART;
  const tried: string[] = [];
  for (const name of names) {
    try {
      const lib = koffi.load(name);
      cudart = {
        setDevice: lib.func('int cudaSetDevice(int device)') as (d: number) => number,
        memcpy: lib.func('int cudaMemcpy(void *dst, const void *src, size_t count, int kind)') as (dst: unknown, src: unknown, n: number, kind: number) => number,
        synchronize: lib.func('int cudaDeviceSynchronize(void)') as () => number,
        error: lib.func('const char *cudaGetErrorString(int code)') as (code: number) => string,
      };
      return cudart;
    } catch (e) {
      tried.push(`${name}: ${(e as Error).message}`);
    }
  }
  throw new Error(`fixed device buffers need the CUDA runtime library, which could not be loaded (${tried.join('; ')}); put it on the library path or name it in STUDIO_CUDART`);
}

/** Tensors in CUDA device `device`'s memory. */
export function cudaMemoryCopy(device: number): DeviceCopy {
  const rt = loadCudart();
  const check = (code: number, what: string) => {
    if (code !== 0) throw new Error(`${what}: CUDA error ${code} (${rt.error(code)})`);
  };
  return {
    toDevice: (dst, src) => {
      check(rt.setDevice(device), 'cudaSetDevice');
      check(rt.memcpy(dst, src, src.byteLength, HOST_TO_DEVICE), 'copy to the device');
    },
    toHost: (src, bytes) => {
      const out = new Uint8Array(bytes);
      check(rt.setDevice(device), 'cudaSetDevice');
      check(rt.memcpy(out, src, bytes, DEVICE_TO_HOST), 'copy from the device');
      return out.buffer;
    },
    // A copy from pageable host memory may still be in flight on the legacy stream when cudaMemcpy returns, and ORT
    // runs on its own non-blocking stream.
    settle: () => check(rt.synchronize(), 'cudaDeviceSynchronize'),
  };
}

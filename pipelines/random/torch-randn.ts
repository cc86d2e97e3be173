// torch.randn on the CPU, reproduced bit for bit:
//   const g = new TorchGenerator(seed);  g.randn([1, 4, 64, 64])
// equals torch.randn(shape, generator=torch.Generator('cpu').manual_seed(seed)) as float32, and
// successive calls continue the generator's stream as successive torch calls do.
//
// Torch has two normal samplers, chosen by element count:
//  * fewer than 16 elements: Box-Muller in double precision on two 53-bit uniforms (each from two
//    32-bit draws), returning the cosine branch and caching the sine branch in the generator for
//    the next such call;
//  * 16 or more: first fill the whole tensor with 24-bit float uniforms, then turn each block of 16
//    into normals in float32 (u1 from lanes 0-7, u2 from lanes 8-15). When the size is not a
//    multiple of 16, the last 16 lanes are drawn afresh and recomputed, overwriting part of the
//    previous block. Torch's x86 build runs this in AVX2 with its own log/sincos (cephes-f32.ts).

import { MT19937 } from './mt19937.ts';
import { logF32, sinCosF32 } from './cephes-f32.ts';

const f32 = Math.fround;
const MAX_SEED = (1n << 64n) - 1n;
/** The largest tensor randn will make: 2^28 floats (1 GiB); latents are far smaller. */
export const MAX_RANDN_ELEMENTS = 2 ** 28;
const TWO_POW_M24 = 2 ** -24;
const TWO_POW_M53 = 2 ** -53;
const TWO_PI_F32 = f32(2 * Math.PI);

/** Checks a seed the way torch's manual_seed accepts it (0 .. 2^64-1) and returns it as bigint. */
export function parseSeed(seed: number | bigint): bigint {
  if (typeof seed === 'number') {
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(
        `seed ${seed} is not a safe integer: pass an integer, or a bigint for seeds above 2^53`,
      );
    }
    seed = BigInt(seed);
  } else if (typeof seed !== 'bigint') {
    throw new TypeError(`seed must be a number or bigint, got ${typeof seed}`);
  }
  if (seed < 0n || seed > MAX_SEED) {
    throw new RangeError(`seed ${seed} is out of range: use an integer from 0 to 2^64-1`);
  }
  return seed;
}

/** Checks a tensor shape and returns its element count. */
export function shapeSize(shape: readonly number[]): number {
  if (!Array.isArray(shape)) throw new TypeError('shape must be an array of dimension sizes');
  let n = 1;
  for (const [i, d] of shape.entries()) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new RangeError(`shape [${shape.join(', ')}]: dimension ${i} is ${d}, expected an integer >= 0`);
    }
    n *= d;
  }
  if (n > MAX_RANDN_ELEMENTS) {
    throw new RangeError(
      `shape [${shape.join(', ')}] has ${n} elements, over the limit of ${MAX_RANDN_ELEMENTS}: draw smaller tensors`,
    );
  }
  return n;
}

export class TorchGenerator {
  private engine!: MT19937;
  private cachedNormal: number | undefined;
  private seedValue = 0n;

  /** Same as torch.Generator('cpu').manual_seed(seed). */
  constructor(seed: number | bigint) {
    this.manualSeed(seed);
  }

  get seed(): bigint {
    return this.seedValue;
  }

  /** Restarts the stream; like torch, this also drops the cached Box-Muller value. */
  manualSeed(seed: number | bigint): this {
    this.seedValue = parseSeed(seed);
    this.engine = new MT19937(this.seedValue);
    this.cachedNormal = undefined;
    return this;
  }

  /** Standard normal float32 samples of the given shape, in row-major order. */
  randn(shape: readonly number[]): Float32Array {
    const out = new Float32Array(shapeSize(shape));
    if (out.length >= 16) this.fillNormalVectorised(out);
    else for (let i = 0; i < out.length; i++) out[i] = this.nextNormalDouble();
    return out;
  }

  /**
   * Normals filled as torch fills a tensor that is not contiguous (its serial kernel: one double Box-Muller
   * draw per element, in memory order) for a [n, c, h, w] tensor laid out channels-last, returned row-major NCHW.
   * This is `torch.randn_like` of a CPU VAE encoder's output, which comes out channels-last.
   */
  randnChannelsLast(shape: readonly [number, number, number, number]): Float32Array {
    const [n, c, h, w] = shape;
    const out = new Float32Array(n * c * h * w);
    for (let b = 0; b < n; b++) for (let p = 0; p < h * w; p++) for (let ch = 0; ch < c; ch++) out[(b * c + ch) * h * w + p] = this.nextNormalDouble();
    return out;
  }

  /** Uniform float in [0, 1) from the low 24 bits of one 32-bit draw. */
  private nextUniformFloat(): number {
    return (this.engine.nextUint32() & 0xffffff) * TWO_POW_M24;
  }

  /** Uniform double in [0, 1) from the low 53 bits of a 64-bit draw (first draw = high word). */
  private nextUniformDouble(): number {
    const hi = this.engine.nextUint32() & 0x1fffff;
    const lo = this.engine.nextUint32();
    return (hi * 2 ** 32 + lo) * TWO_POW_M53;
  }

  private nextNormalDouble(): number {
    if (this.cachedNormal !== undefined) {
      const cached = this.cachedNormal;
      this.cachedNormal = undefined;
      return cached;
    }
    const u1 = this.nextUniformDouble();
    const u2 = this.nextUniformDouble();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = 2 * Math.PI * u1;
    this.cachedNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  private fillNormalVectorised(out: Float32Array): void {
    const n = out.length;
    for (let i = 0; i < n; i++) out[i] = this.nextUniformFloat();
    for (let i = 0; i + 16 <= n; i += 16) boxMuller16(out, i);
    if (n % 16 !== 0) {
      for (let i = n - 16; i < n; i++) out[i] = this.nextUniformFloat();
      boxMuller16(out, n - 16);
    }
  }
}

/** Turns 16 uniforms at data[at..at+16) into normals, in place, in float32. */
function boxMuller16(data: Float32Array, at: number): void {
  for (let j = at; j < at + 8; j++) {
    const u1 = f32(1 - data[j]); // [0, 1) -> (0, 1] for the log
    const radius = f32(Math.sqrt(f32(-2 * logF32(u1))));
    const { sin, cos } = sinCosF32(f32(TWO_PI_F32 * data[j + 8]));
    data[j] = f32(radius * cos);
    data[j + 8] = f32(radius * sin);
  }
}

/** torch.randn(shape, generator=torch.Generator('cpu').manual_seed(seed)). */
export function randn(shape: readonly number[], seed: number | bigint): Float32Array {
  return new TorchGenerator(seed).randn(shape);
}

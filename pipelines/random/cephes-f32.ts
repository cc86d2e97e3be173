// The float32 logarithm and sine/cosine that torch's AVX2 `randn` kernel uses: Cephes-style
// polynomials (the "avx_mathfun" port of Julien Pommier's sse_mathfun), evaluated one lane at a
// time in emulated float32. They are not libm's logf/sinf/cosf and differ from them in the last
// bits, so `randn` needs this exact arithmetic to match torch bit for bit.
//
// The compiler builds that kernel with floating-point contraction on, so every `a*b + c` whose
// product feeds only that addition becomes one fused multiply-add (fmaf). Where both operands of
// an addition are products, the product computed first is the one that gets fused.

import { fmaf, floatBits, bitsFloat } from './float32-math.ts';

const f32 = Math.fround;

const SQRT_HALF = f32(0.707106781186547524);
const LOG_P = [
  7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
  -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(f32);
const LOG_Q1 = f32(-2.12194440e-4);
const LOG_Q2 = f32(0.693359375);
const MIN_NORMAL_BITS = 0x00800000;

/** Natural logarithm of a positive float32 (torch's AVX2 log256_ps, one lane). */
export function logF32(input: number): number {
  if (!(input > 0)) return NaN;
  let bits = floatBits(input);
  if (bits < MIN_NORMAL_BITS) bits = MIN_NORMAL_BITS; // subnormals are cut off
  // Split into exponent and a mantissa in [0.5, 1).
  let e = f32((bits >>> 23) - 127 + 1);
  let x = bitsFloat((bits & ~0x7f800000) | 0x3f000000);
  if (x < SQRT_HALF) {
    e = f32(e - 1);
    x = f32(f32(x - 1) + x);
  } else {
    x = f32(x - 1);
  }
  const z = f32(x * x);
  let y = LOG_P[0];
  for (let k = 1; k < LOG_P.length; k++) y = fmaf(y, x, LOG_P[k]);
  y = f32(y * x);
  y = fmaf(y, z, f32(e * LOG_Q1));
  y = f32(y - f32(z * 0.5));
  x = f32(x + y);
  return fmaf(e, LOG_Q2, x);
}

const FOUR_OVER_PI = f32(1.27323954473516);
const MINUS_DP1 = f32(-0.78515625);
const MINUS_DP2 = f32(-2.4187564849853515625e-4);
const MINUS_DP3 = f32(-3.77489497744594108e-8);
const SIN_P = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1].map(f32);
const COS_P = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2].map(f32);

/** Sine and cosine of a finite float32 in [0, 2^31) (torch's AVX2 sincos256_ps, one lane). */
export function sinCosF32(theta: number): { sin: number; cos: number } {
  const negative = theta < 0;
  let x = Math.abs(theta);
  // Octant j (rounded up to even) and the reduced argument x - j*pi/4 in three exact-ish parts.
  let j = Math.trunc(f32(x * FOUR_OVER_PI));
  j = (j + 1) & ~1;
  const y = j; // exact in float32 for the arguments torch passes
  x = fmaf(y, MINUS_DP1, x);
  x = fmaf(y, MINUS_DP2, x);
  x = fmaf(y, MINUS_DP3, x);

  const z = f32(x * x);
  let c = fmaf(COS_P[0], z, COS_P[1]);
  c = fmaf(c, z, COS_P[2]);
  c = f32(c * z);
  c = fmaf(c, z, -f32(z * 0.5));
  c = f32(c + 1);

  let s = fmaf(SIN_P[0], z, SIN_P[1]);
  s = fmaf(s, z, SIN_P[2]);
  s = f32(s * z);
  s = fmaf(s, x, x);

  // Octants 1-2 and 5-6 (mod 8) swap the two polynomials.
  const swap = (j & 2) !== 0;
  let sin = swap ? c : s;
  let cos = swap ? s : c;
  if (((j & 4) !== 0) !== negative) sin = -sin;
  if (((j - 2) & 4) === 0) cos = -cos;
  return { sin, cos };
}

// Float32 arithmetic emulated on doubles, for bit-exact reproduction of float32 C++ kernels.
// A sum, product or square root of float32 values computed in double and rounded once to
// float32 is the correctly rounded float32 result (double has more than 2*24+2 bits), so
// Math.fround suffices for those. A fused multiply-add needs more care: see fmaf.

const f32 = Math.fround;
const bitsView = new DataView(new ArrayBuffer(4));

/** Float32 bit pattern of a float32 value (as a signed 32-bit integer). */
export function floatBits(x: number): number {
  bitsView.setFloat32(0, x);
  return bitsView.getInt32(0);
}

/** Float32 value of a 32-bit pattern. */
export function bitsFloat(bits: number): number {
  bitsView.setInt32(0, bits);
  return bitsView.getFloat32(0);
}

/** The float32 next to `f` (a float32) in the direction of `towards`. */
function nextFloatToward(f: number, towards: number): number {
  if (f === 0) return towards > 0 ? bitsFloat(1) : -bitsFloat(1);
  const up = towards > f;
  const bits = floatBits(f);
  // Float32 patterns of same-signed values are ordered like their magnitudes.
  return bitsFloat(bits + ((f > 0) === up ? 1 : -1));
}

/**
 * Float32 fused multiply-add: a*b + c rounded once to float32, as the FMA instruction does.
 * a*b is exact in double (48 significant bits); a*b + c rounded to double and then to float32
 * can round twice wrongly only when the double lands exactly halfway between two float32s, and
 * then the sign of the (exact) rounding error of the double sum decides.
 */
export function fmaf(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = f32(s);
  if (r === s || !Number.isFinite(s)) return r;
  // TwoSum: the exact error of s = p + c.
  const bv = s - p;
  const err = (p - (s - bv)) + (c - bv);
  if (err === 0) return r;
  const other = nextFloatToward(r, s);
  if ((r + other) / 2 !== s) return r; // not a tie: the double rounding was harmless
  // s is a tie between r and other; the exact value lies on the side of err.
  return (err > 0) === (other > r) ? other : r;
}

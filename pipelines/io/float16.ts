// IEEE half precision to and from float32, element by element (round to nearest even).

/** Every half's float32 value, built once: a lookup is ~50× faster than computing 2^e per element (bench/NOTES.md). */
let halves: Float32Array | undefined;
function halfTable(): Float32Array {
  if (halves) return halves;
  halves = new Float32Array(65536);
  for (let v = 0; v < 65536; v++) {
    const s = v & 0x8000 ? -1 : 1;
    const e = (v >> 10) & 0x1f;
    const m = v & 0x3ff;
    halves[v] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return halves;
}

export function f16ToF32(h: Uint16Array): Float32Array {
  const table = halfTable();
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = table[h[i]];
  return out;
}

/** `out`: where to write (a buffer reused across calls spares the page faults of a fresh one per call). */
export function f32ToF16(f: Float32Array, out: Uint16Array<ArrayBuffer> = new Uint16Array(f.length)): Uint16Array<ArrayBuffer> {
  const bits = new Uint32Array(f.buffer, f.byteOffset, f.length);
  for (let i = 0; i < f.length; i++) {
    const x = bits[i];
    const abs = x & 0x7fffffff;
    // The common case without branches on the bits: a float whose nearest half is a normal finite one
    // (2^-14 ≤ |f| < 65520). Rebase the exponent, add just under half a unit of the kept mantissa plus its lowest
    // bit (ties to even), drop 13 bits; a carry moves into the exponent by itself.
    if (abs >= 0x38800000 && abs < 0x477ff000) out[i] = ((x >>> 16) & 0x8000) | ((abs - 0x38000000 + 0xfff + ((abs >>> 13) & 1)) >>> 13);
    else out[i] = f32BitsToF16Slow(x);
  }
  return out;
}

/** Zero, subnormal halves, overflow to infinity, infinities and NaN. */
function f32BitsToF16Slow(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** float32 → bfloat16 bits (the top half of the float32, rounded to nearest even; NaN stays NaN). */
export function f32ToBf16(f: Float32Array): Uint16Array {
  const u32 = new Uint32Array(f.buffer, f.byteOffset, f.length);
  const out = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i++) {
    const x = u32[i];
    out[i] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

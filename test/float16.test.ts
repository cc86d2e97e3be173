// The half-precision conversions: every one of the 65536 halves against its value computed from sign, exponent
// and mantissa, and back again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { f16ToF32, f32ToF16 } from '../pipelines/io/float16.ts';

const valueOf = (v: number): number => {
  const sign = v & 0x8000 ? -1 : 1;
  const e = (v >> 10) & 0x1f;
  const m = v & 0x3ff;
  if (e === 31) return m ? NaN : sign * Infinity;
  return e === 0 ? sign * m * 2 ** -24 : sign * (1 + m / 1024) * 2 ** (e - 15);
};

test('f16ToF32 gives every half its exact value, and f32ToF16 takes it back to the same bits', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const f = f16ToF32(all);
  const back = f32ToF16(f);
  for (let v = 0; v < 65536; v++) {
    const want = valueOf(v);
    if (Number.isNaN(want)) {
      assert.ok(Number.isNaN(f[v]), `half 0x${v.toString(16)} is NaN`);
      assert.equal(back[v] & 0x7c00, 0x7c00, `NaN 0x${v.toString(16)} stays NaN`);
      continue;
    }
    assert.ok(Object.is(f[v], want), `half 0x${v.toString(16)}: ${f[v]} where ${want}`);
    assert.equal(back[v], v, `half 0x${v.toString(16)} round trip`);
  }
});

test('f32ToF16 rounds a float halfway between two halves to the even one, and past 65504 to infinity', () => {
  const halves = f16ToF32(new Uint16Array(0x7c00).map((_, i) => i));
  const mid = new Float32Array(0x7bff);
  for (let h = 0; h < 0x7bff; h++) mid[h] = (halves[h] + halves[h + 1]) / 2;
  const rounded = f32ToF16(mid);
  for (let h = 0; h < 0x7bff; h++) assert.equal(rounded[h], h % 2 === 0 ? h : h + 1, `midpoint after half 0x${h.toString(16)}`);
  assert.deepEqual([...f32ToF16(Float32Array.of(65504, 65519.99, 65520, -65520, 1e-8, -0))], [0x7bff, 0x7bff, 0x7c00, 0xfc00, 0, 0x8000]);
  const reused = new Uint16Array(2);
  assert.equal(f32ToF16(Float32Array.of(1, -2), reused), reused);
  assert.deepEqual([...reused], [0x3c00, 0xc000]);
});

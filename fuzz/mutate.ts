// Mutation operators for byte and text inputs: bit flips, interesting values, inserted, deleted,
// repeated and spliced ranges, and a target's own tokens. Driven by a seeded generator so a run can
// be replayed from its seed.

import { concatBytes } from '../pipelines/metadata/png-text.ts';

/** xorshift128+: fast and seedable (Math.random cannot be seeded). */
export class Rng {
  private a: bigint;
  private b: bigint;
  constructor(seed: number) {
    this.a = BigInt(seed) * 0x9e3779b97f4a7c15n + 1n;
    this.b = this.a ^ 0xdeadbeefcafebaben;
    for (let i = 0; i < 8; i++) this.next();
  }
  private next(): bigint {
    const M = (1n << 64n) - 1n;
    let x = this.a;
    const y = this.b;
    this.a = y;
    x = (x ^ (x << 23n)) & M;
    this.b = x ^ y ^ (x >> 17n) ^ (y >> 26n);
    return (this.b + y) & M;
  }
  /** 0 <= n < max */
  int(max: number): number {
    return Number(this.next() % BigInt(Math.max(1, max)));
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  chance(p: number): boolean {
    return this.int(1_000_000) < p * 1_000_000;
  }
}

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x0a, 0x22, 0x5c, 0x28, 0x29, 0x3a, 0x2c];
const INTERESTING_U32 = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffff0];

/** One random edit of `input` (a new array; the input is not changed). `maxLength` bounds growth. */
export function mutateBytes(rng: Rng, input: Uint8Array, others: readonly Uint8Array[], maxLength: number): Uint8Array {
  const b = Uint8Array.from(input);
  const at = () => rng.int(b.length + 1);
  switch (rng.int(9)) {
    case 0: {
      if (b.length) b[rng.int(b.length)] ^= 1 << rng.int(8);
      return b;
    }
    case 1: {
      if (b.length) b[rng.int(b.length)] = rng.pick(INTERESTING_BYTES);
      return b;
    }
    case 2: {
      if (b.length < 4) return b;
      const p = rng.int(b.length - 3);
      new DataView(b.buffer).setUint32(p, rng.pick(INTERESTING_U32), rng.chance(0.5));
      return b;
    }
    case 3: {
      const p = at();
      const n = 1 + rng.int(16);
      const ins = Uint8Array.from({ length: n }, () => rng.int(256));
      return cap(concat(b.subarray(0, p), ins, b.subarray(p)), maxLength);
    }
    case 4: {
      const p = at();
      const n = rng.int(Math.min(64, b.length - p + 1));
      return concat(b.subarray(0, p), b.subarray(p + n));
    }
    case 5: {
      // Repeat a short range many times: long runs are where quadratic parsers show.
      if (!b.length) return b;
      const p = rng.int(b.length);
      const piece = b.subarray(p, p + 1 + rng.int(8));
      const times = 1 + rng.int(rng.chance(0.01) ? 20_000 : 64);
      const rep = new Uint8Array(piece.length * times);
      for (let i = 0; i < times; i++) rep.set(piece, i * piece.length);
      return cap(concat(b.subarray(0, p), rep, b.subarray(p)), maxLength);
    }
    case 6: {
      if (!others.length) return b;
      const o = rng.pick(others);
      const p = at();
      const q = rng.int(o.length + 1);
      return cap(concat(b.subarray(0, p), o.subarray(q, q + rng.int(256))), maxLength);
    }
    case 7: {
      const p = at();
      return b.subarray(0, p).slice();
    }
    default: {
      if (b.length < 2) return b;
      const p = rng.int(b.length);
      const q = rng.int(b.length);
      [b[p], b[q]] = [b[q], b[p]];
      return b;
    }
  }
}

/** A random edit of a text: byte-level edits of its UTF-16 units, or the target's tokens inserted or repeated. */
export function mutateText(rng: Rng, input: string, tokens: readonly string[], maxLength: number): string {
  if (tokens.length && rng.chance(0.5)) {
    const p = rng.int(input.length + 1);
    const token = rng.pick(tokens);
    const times = rng.chance(0.01) ? 1 + rng.int(20_000) : 1 + rng.int(4);
    return (input.slice(0, p) + token.repeat(times) + input.slice(p)).slice(0, maxLength);
  }
  const units = new Uint16Array(input.length);
  for (let i = 0; i < input.length; i++) units[i] = input.charCodeAt(i);
  const bytes = new Uint8Array(units.buffer);
  const edited = mutateBytes(rng, bytes, [], maxLength * 2);
  const even = edited.length - (edited.length % 2);
  return unitsToString(new Uint16Array(edited.buffer.slice(edited.byteOffset, edited.byteOffset + even))).slice(0, maxLength);
}

/** UTF-16 units to a string, lone surrogates kept (in slices: spreading a long array overflows the stack). */
function unitsToString(units: Uint16Array): string {
  let s = '';
  for (let i = 0; i < units.length; i += 8192) s += String.fromCharCode(...units.subarray(i, i + 8192));
  return s;
}

function cap(b: Uint8Array, max: number): Uint8Array {
  return b.length > max ? b.subarray(0, max).slice() : b;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(parts);
}

// CLIP text model graph: parity with HF transformers (sd15-tiny golden) and, for what the goldens do
// not cover (exact GELU, penultimate layer, pooled output, text projection: SDXL's encoders), with a
// float64 reference written from the CLIP equations, itself checked against the golden first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, readSync, closeSync } from 'node:fs';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { readJsonObject } from '../pipelines/checkpoints/json-fields.ts';
import { canonicalTextEncoder, componentWeights } from '../pipelines/checkpoints/diffusers-folder.ts';
import type { KeyedSource } from '../pipelines/checkpoints/sources.ts';
import { clipTextConfigFromHf, type ClipTextConfig } from '../pipelines/models/clip/config.ts';
import { ClipTextEncoder } from '../pipelines/models/clip/encoder.ts';
import { fixture, relL2, skipWithoutFixtures } from './fixtures.ts';

const skip = skipWithoutFixtures;

function encoderFrom(folder: string): { src: KeyedSource; cfg: ClipTextConfig } {
  return {
    src: canonicalTextEncoder(componentWeights(fixture(folder), 'model')),
    cfg: clipTextConfigFromHf(readJsonObject(fixture(folder, 'config.json')), folder),
  };
}

function goldenIds(): number[][] {
  const ids = SafetensorsFile.open(fixture('sd15-tiny-golden.safetensors')).readFloat32('text_encoder_ids');
  return [Array.from(ids.subarray(0, 77)), Array.from(ids.subarray(77, 154))];
}

/** The same rows padded with `!` (id 0) after the first EOS, as OpenCLIP tokenizers pad. */
const bangPadded = (rows: number[][]) => rows.map((r) => r.map((id, i) => (i > r.indexOf(49407) ? 0 : id)));

// ---- float64 reference of the CLIP text transformer ----

function read(src: KeyedSource, name: string): Float64Array {
  const info = src.info(name);
  assert.equal(info.dtype, 'F32', `${name} is ${info.dtype}`);
  const buf = Buffer.alloc(info.byteLength);
  const fd = openSync(info.file, 'r');
  readSync(fd, buf, 0, info.byteLength, info.offset);
  closeSync(fd);
  return Float64Array.from(new Float32Array(buf.buffer, buf.byteOffset, info.byteLength / 4));
}

/** y[t] = W x[t] + b for W [out, in] (PyTorch Linear). */
function linear(x: Float64Array[], w: Float64Array, b: Float64Array | undefined, out: number): Float64Array[] {
  return x.map((row) => {
    const y = new Float64Array(out);
    for (let o = 0; o < out; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < row.length; i++) s += w[o * row.length + i] * row[i];
      y[o] = s;
    }
    return y;
  });
}

function layerNorm(x: Float64Array[], g: Float64Array, b: Float64Array, eps: number): Float64Array[] {
  return x.map((row) => {
    const mean = row.reduce((a, v) => a + v, 0) / row.length;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / row.length;
    return row.map((v, i) => ((v - mean) / Math.sqrt(variance + eps)) * g[i] + b[i]);
  });
}

/** erf by its Maclaurin series (|x| < 3) or continued fraction: double precision, enough here. */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 100; n++) {
      term *= (-x * x) / n;
      sum += term / (2 * n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = 0;
  for (let k = 60; k >= 1; k--) f = (k / 2) / (ax + f);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  return Math.sign(x) * (1 - erfc);
}

const activation = (act: ClipTextConfig['hiddenAct']) => (v: number) =>
  act === 'quick_gelu' ? v / (1 + Math.exp(-1.702 * v)) : 0.5 * v * (1 + erf(v / Math.SQRT2));

interface Reference {
  /** Hidden states after the embeddings (index 0) and after each layer. */
  states: Float64Array[][];
  finalNorm: (x: Float64Array[]) => Float64Array[];
  pooled: Float64Array;
  textEmbeds?: Float64Array;
}

function referenceClip(src: KeyedSource, cfg: ClipTextConfig, ids: number[]): Reference {
  const h = cfg.hiddenSize;
  const heads = cfg.numHeads;
  const d = h / heads;
  const tok = read(src, 'embeddings.token_embedding.weight');
  const pos = read(src, 'embeddings.position_embedding.weight');
  let x = ids.map((id, t) => Float64Array.from({ length: h }, (_, i) => tok[id * h + i] + pos[t * h + i]));
  const states = [x];
  const act = activation(cfg.hiddenAct);
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = (n: string) => read(src, `encoder.layers.${l}.${n}`);
    const n1 = layerNorm(x, p('layer_norm1.weight'), p('layer_norm1.bias'), cfg.layerNormEps);
    const [q, k, v] = ['q_proj', 'k_proj', 'v_proj'].map((n) => linear(n1, p(`self_attn.${n}.weight`), p(`self_attn.${n}.bias`), h));
    const attended = q.map((qt, t) => {
      const out = new Float64Array(h);
      for (let hd = 0; hd < heads; hd++) {
        const scores = Array.from({ length: t + 1 }, (_, j) => {
          let s = 0;
          for (let i = 0; i < d; i++) s += qt[hd * d + i] * k[j][hd * d + i];
          return s / Math.sqrt(d);
        });
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j <= t; j++) for (let i = 0; i < d; i++) out[hd * d + i] += (e[j] / z) * v[j][hd * d + i];
      }
      return out;
    });
    const o = linear(attended, p('self_attn.out_proj.weight'), p('self_attn.out_proj.bias'), h);
    x = x.map((row, t) => row.map((val, i) => val + o[t][i]));
    const n2 = layerNorm(x, p('layer_norm2.weight'), p('layer_norm2.bias'), cfg.layerNormEps);
    const f1 = linear(n2, p('mlp.fc1.weight'), p('mlp.fc1.bias'), cfg.intermediateSize).map((r) => r.map(act));
    const f2 = linear(f1, p('mlp.fc2.weight'), p('mlp.fc2.bias'), h);
    x = x.map((row, t) => row.map((val, i) => val + f2[t][i]));
    states.push(x);
  }
  const finalNorm = (s: Float64Array[]) => layerNorm(s, read(src, 'final_layer_norm.weight'), read(src, 'final_layer_norm.bias'), cfg.layerNormEps);
  const eos = ids.indexOf(Math.max(...ids));
  const pooled = finalNorm(x)[eos];
  const textEmbeds = cfg.projectionDim ? linear([pooled], read(src, 'text_projection.weight'), undefined, cfg.projectionDim)[0] : undefined;
  return { states, finalNorm, pooled, textEmbeds };
}

const flat = (rows: Float64Array[][]) => Float64Array.from(rows.flatMap((r) => r.flatMap((v) => Array.from(v))));

// ---- tests ----

test('sd15-tiny CLIP last hidden state matches transformers (rel-L2 < 1e-4)', { skip }, async () => {
  const { src, cfg } = encoderFrom('sd15-tiny/text_encoder');
  const enc = await ClipTextEncoder.create(src, cfg);
  const out = await enc.encode(goldenIds());
  const golden = SafetensorsFile.open(fixture('sd15-tiny-golden.safetensors')).readFloat32('text_encoder_out');
  const err = relL2(out.hidden, golden);
  assert.ok(err < 1e-4, `rel-L2 ${err}`);
  await enc.release();
});

test('the float64 reference reproduces the golden, so it can judge what the golden lacks', { skip }, () => {
  const { src, cfg } = encoderFrom('sd15-tiny/text_encoder');
  const rows = goldenIds();
  const refs = rows.map((ids) => referenceClip(src, cfg, ids));
  const last = flat(refs.map((r) => r.finalNorm(r.states[cfg.numLayers])));
  const golden = SafetensorsFile.open(fixture('sd15-tiny-golden.safetensors')).readFloat32('text_encoder_out');
  const err = relL2(last, golden);
  assert.ok(err < 1e-5, `reference vs golden rel-L2 ${err}`);
});

test('clip skip: the chosen earlier layer, with the final LayerNorm (SD 1.x) or without (SDXL)', { skip }, async () => {
  const { src, cfg } = encoderFrom('sd15-tiny/text_encoder');
  const rows = goldenIds();
  const refs = rows.map((ids) => referenceClip(src, cfg, ids));
  for (const normalize of [true, false]) {
    const enc = await ClipTextEncoder.create(src, cfg, { skip: 1, normalize });
    const out = await enc.encode(rows);
    const expected = flat(refs.map((r) => (normalize ? r.finalNorm(r.states[cfg.numLayers - 1]) : r.states[cfg.numLayers - 1])));
    const err = relL2(out.hidden, expected);
    assert.ok(err < 1e-4, `skip 1, normalize ${normalize}: rel-L2 ${err}`);
    await enc.release();
  }
});

test('SDXL encoders: penultimate layer, pooled output at EOS and text projection (gelu, ! padding)', { skip }, async () => {
  const rowsEos = goldenIds();
  for (const [folder, rows] of [['sdxl-tiny/text_encoder', rowsEos], ['sdxl-tiny/text_encoder_2', bangPadded(rowsEos)]] as const) {
    const { src, cfg } = encoderFrom(folder);
    const refs = rows.map((ids) => referenceClip(src, cfg, ids));
    const enc = await ClipTextEncoder.create(src, cfg, { skip: 1, normalize: false, pooled: true });
    const out = await enc.encode(rows);
    const hiddenErr = relL2(out.hidden, flat(refs.map((r) => r.states[cfg.numLayers - 1])));
    const pooledErr = relL2(out.pooled!, flat(refs.map((r) => [r.pooled])));
    assert.ok(hiddenErr < 1e-4, `${folder} penultimate rel-L2 ${hiddenErr}`);
    assert.ok(pooledErr < 1e-4, `${folder} pooled rel-L2 ${pooledErr}`);
    if (cfg.projectionDim) {
      assert.equal(cfg.hiddenAct, 'gelu');
      const projErr = relL2(out.textEmbeds!, flat(refs.map((r) => [r.textEmbeds!])));
      assert.ok(projErr < 1e-4, `${folder} text_embeds rel-L2 ${projErr}`);
    } else {
      assert.equal(out.textEmbeds, undefined);
    }
    await enc.release();
  }
});

test('fp16 graph builds and stays close to the fp32 golden', { skip }, async () => {
  const { src, cfg } = encoderFrom('sd15-tiny/text_encoder');
  const enc = await ClipTextEncoder.create(src, cfg, { dtype: 'float16' });
  const out = await enc.encode(goldenIds());
  const golden = SafetensorsFile.open(fixture('sd15-tiny-golden.safetensors')).readFloat32('text_encoder_out');
  const err = relL2(out.hidden, golden);
  assert.ok(err < 1e-2, `fp16 rel-L2 ${err}`);
  await enc.release();
});

test('bad input: clip skip beyond the layers, wrong row length, ids outside the vocabulary', { skip }, async () => {
  const { src, cfg } = encoderFrom('sd15-tiny/text_encoder');
  await assert.rejects(ClipTextEncoder.create(src, cfg, { skip: 3 }), /clip skip 3 is out of range: this text encoder has 3 layers/);
  const enc = await ClipTextEncoder.create(src, cfg);
  await assert.rejects(enc.encode([[49406, 49407]]), /token row 0 has 2 ids; the text encoder takes exactly 77/);
  await assert.rejects(enc.encode([Array(77).fill(50000)]), /token id 50000 \(row 0, position 0\) is outside the vocabulary of 49408/);
  await enc.release();
});

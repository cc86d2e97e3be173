// LoRAs through the request: `--lora FILE[:WEIGHT]` and `<lora:NAME:WEIGHT>` prompt tags give the same
// image as the checkpoint with w·ΔW merged into its weights (computed here with plain loops, not the
// graph), and bad input gets errors that say what to do.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, copyFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture, skipWithoutFixtures } from './fixtures.ts';
import { SafetensorsFile, writeSafetensors } from '../pipelines/io/safetensors.ts';
import { runGenerate } from '../pipelines/recipes/generate.ts';
import { releaseModels } from '../pipelines/families/load.ts';
import { GenerateRequestSchema, type GenerateRequestInput } from '../pipelines/jobs/api.ts';
import { parseGenerateArgs } from '../app/cli/generate-args.ts';
import { extractLoraTags } from '../pipelines/lora/library.ts';
import { readLoraFile } from '../pipelines/lora/layers.ts';
import { LORA_FIXTURES, matmul } from './lora-helpers.ts';

const skip = skipWithoutFixtures;
const tmp = mkdtempSync(join(tmpdir(), 'studio-lora-'));
after(async () => {
  await releaseModels();
  rmSync(tmp, { recursive: true, force: true });
});

const BASE: GenerateRequestInput = { prompt: 'a red apple on a wooden table', negative: 'blurry', steps: 3, cfg: 7.5, sampler: 'euler', seed: 7, width: 64, height: 64 };

async function draw(input: Partial<GenerateRequestInput>): Promise<Uint8Array> {
  const r = await runGenerate(GenerateRequestSchema.parse({ ...BASE, ...input }));
  return r.images[0].pixels;
}

function maxDiff(a: Uint8Array, b: Uint8Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** sd15-tiny with ΔW merged: kohya names are diffusers module names with `_` for `.`, peft's are dotted. */
function mergedCopy(lora: string, weight: number, name: string): string {
  const dir = join(tmp, name);
  cpSync(fixture('sd15-tiny'), dir, { recursive: true });
  const file = SafetensorsFile.open(join(LORA_FIXTURES, lora));
  const parts = { unet: join(dir, 'unet', 'diffusion_pytorch_model.safetensors'), text: join(dir, 'text_encoder', 'model.safetensors') };
  for (const [part, path] of Object.entries(parts)) {
    const model = SafetensorsFile.open(path);
    const byModule = new Map<string, string>();
    for (const k of model.keys()) if (k.endsWith('.weight')) {
      const m = k.slice(0, -7);
      byModule.set(m, k);
      byModule.set(m.replace(/\./g, '_'), k);
      byModule.set(m.replace(/^text_model\./, ''), k);
    }
    const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
    for (const k of model.keys()) tensors[k] = { dtype: 'F32', shape: model.info(k).shape, data: model.readFloat32(k) };
    for (const k of file.keys()) {
      const m = /^(?:lora_unet_|lora_te_|unet\.|text_encoder\.)(.+)\.(?:lora_down|lora_A)\.weight$/.exec(k);
      if (!m || (part === 'unet') !== /^(lora_unet_|unet\.)/.test(k)) continue;
      const module = m[1].replace(/^text_model[._]/, '');
      const target = byModule.get(module) ?? byModule.get(`text_model.${module}`) ?? byModule.get(`text_model_${module}`);
      assert.ok(target, `${k}: no weight in sd15-tiny`);
      const up = k.replace('lora_down', 'lora_up').replace('lora_A', 'lora_B');
      const alpha = k.replace(/\.(lora_down|lora_A)\.weight$/, '.alpha');
      const down = file.info(k).shape;
      const rank = down[0];
      const scale = file.has(alpha) ? file.readFloat32(alpha)[0] / rank : 1;
      const out = file.info(up).shape[0];
      const inner = down.slice(1).reduce((a, b) => a * b, 1);
      const delta = matmul(file.readFloat32(up), file.readFloat32(k), out, rank, inner);
      const w = tensors[target!].data;
      for (let i = 0; i < w.length; i++) w[i] += weight * scale * delta[i];
    }
    writeSafetensors(path, tensors);
  }
  return dir;
}

test('--lora FILE:W equals the checkpoint with w·ΔW merged (kohya with LoCon, and peft), and the prompt tag equals --lora', { skip }, async (t) => {
  const loraDir = join(tmp, 'Lora');
  mkdirSync(loraDir);
  copyFileSync(join(LORA_FIXTURES, 'sd15-kohya-locon.safetensors'), join(loraDir, 'kohya-style.safetensors'));
  for (const [lora, weight] of [['sd15-kohya-locon.safetensors', 0.8], ['sd15-peft.safetensors', 0.6]] as const) {
    const merged = await draw({ model: mergedCopy(lora, weight, `merged-${weight}`) });
    const viaFlag = await draw({ model: fixture('sd15-tiny'), loras: [{ name: join(LORA_FIXTURES, lora), weight }] });
    const base = await draw({ model: fixture('sd15-tiny') });
    assert.ok(maxDiff(base, merged) > 10, `${lora}: the LoRA changes the image`);
    const d = maxDiff(viaFlag, merged);
    const mean = viaFlag.reduce((a, v, i) => a + Math.abs(v - merged[i]), 0) / viaFlag.length;
    t.diagnostic(`${lora} at ${weight}: --lora vs merged checkpoint max ${d}/255, mean ${mean.toFixed(4)}/255`);
    assert.ok(d <= 1, `${lora}: --lora differs from the merged checkpoint by ${d}/255 at most`);
    assert.ok(mean <= 0.5, `${lora}: --lora differs from the merged checkpoint by ${mean}/255 on average`);
    if (lora.startsWith('sd15-kohya')) {
      const viaTag = await draw({ model: fixture('sd15-tiny'), prompt: `<lora:kohya-style:${weight}> ${BASE.prompt}`, loraDir });
      assert.equal(maxDiff(viaTag, viaFlag), 0, 'the prompt tag gives the --lora image');
      const viaModelsDir = await draw({ model: fixture('sd15-tiny'), prompt: `${BASE.prompt} <lora:KOHYA-STYLE:${weight}>`, modelsDir: tmp });
      assert.equal(maxDiff(viaModelsDir, viaFlag), 0, "the models folder's Lora/ is searched by default");
    }
  }
});

test('LoRAs merge the same way under AgentSD and LinFusion attention', { skip }, async () => {
  const merged = mergedCopy('sd15-kohya-locon.safetensors', 1, 'merged-attention');
  for (const attention of [{ kind: 'agent' as const }, { kind: 'linfusion' as const, path: fixture('sd15-tiny-linfusion') }]) {
    const viaMerged = await draw({ model: merged, attention });
    const viaFlag = await draw({ model: fixture('sd15-tiny'), attention, loras: [{ name: join(LORA_FIXTURES, 'sd15-kohya-locon.safetensors'), weight: 1 }] });
    const d = maxDiff(viaFlag, viaMerged);
    assert.ok(d <= 1, `${attention.kind}: --lora differs from the merged checkpoint by ${d}/255`);
  }
});

test('bad LoRAs: another family, no matching keys, a missing name, a corrupt file', { skip }, async () => {
  await assert.rejects(draw({ model: fixture('sd15-tiny'), loras: [{ name: join(LORA_FIXTURES, 'sdxl-kohya-locon.safetensors'), weight: 1 }] }), /is a LoRA for SDXL models, but .*sd15-tiny is an SD 1\.x model/);
  const stray = join(tmp, 'stray.safetensors');
  writeSafetensors(stray, { 'lora_unet_nowhere_to_q.lora_down.weight': { dtype: 'F32', shape: [2, 4], data: new Float32Array(8) }, 'lora_unet_nowhere_to_q.lora_up.weight': { dtype: 'F32', shape: [4, 2], data: new Float32Array(8) } });
  await assert.rejects(draw({ model: fixture('sd15-tiny'), loras: [{ name: stray, weight: 1 }] }), /none of its 1 layers match a weight of .*sd15-tiny \(SD 1\.x\), e\.g\. lora_unet_nowhere_to_q/);
  const lib = join(tmp, 'library');
  mkdirSync(lib);
  copyFileSync(stray, join(lib, 'missing-ish.safetensors'));
  await assert.rejects(draw({ model: fixture('sd15-tiny'), prompt: '<lora:missing:1> an apple', loraDir: lib }), (e: Error) => {
    assert.match(e.message, /LoRA "missing" not found: searched .*library; closest names: missing-ish/);
    return true;
  });
  const corrupt = join(tmp, 'corrupt.safetensors');
  writeFileSync(corrupt, Buffer.from([200, 0, 0, 0, 0, 0, 0, 0, 123, 34]));
  await assert.rejects(draw({ model: fixture('sd15-tiny'), loras: [{ name: corrupt, weight: 1 }] }), /LoRA .*corrupt\.safetensors: cannot be read as a \.safetensors LoRA .*re-download it/);
  await assert.rejects(runGenerate(GenerateRequestSchema.parse({ prompt: 'a cat', loras: [{ name: stray, weight: 1 }] })), /--lora does not apply to .*emoji/);
});

test('prompt tags and --lora flags parse as A1111 writes them', async () => {
  assert.deepEqual(extractLoraTags('a cat <lora:style:0.7>, <lyco:detail> in a hat'), { prompt: 'a cat, in a hat', loras: [{ name: 'style', weight: 0.7 }, { name: 'detail', weight: 1 }] });
  assert.throws(() => extractLoraTags('<lora:style:strong>'), /the weight "strong" is not a number; write e\.g\. <lora:style:0\.8>/);
  const args = await parseGenerateArgs(['--prompt', 'x', '--lora', 'a.safetensors:0.5', '--lora', 'b']);
  assert.ok(!args.help);
  if (!args.help) assert.deepEqual(args.request.loras, [{ name: 'a.safetensors', weight: 0.5 }, { name: 'b', weight: 1 }]);
});

test('Tucker-decomposed LyCORIS convolutions (lora_mid, hada_t1/t2, lokr_t2) are refused naming the layer and what is supported', () => {
  const t = (shape: number[]) => ({ dtype: 'F32' as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  const key = 'lora_unet_down_blocks_0_resnets_0_conv1';
  const files: Record<string, Record<string, ReturnType<typeof t>>> = {
    locon: { [`${key}.lora_down.weight`]: t([2, 4, 1, 1]), [`${key}.lora_mid.weight`]: t([2, 2, 3, 3]), [`${key}.lora_up.weight`]: t([4, 2, 1, 1]) },
    loha: { [`${key}.hada_w1_a`]: t([2, 4]), [`${key}.hada_w1_b`]: t([2, 4]), [`${key}.hada_t1`]: t([2, 2, 3, 3]), [`${key}.hada_w2_a`]: t([2, 4]), [`${key}.hada_w2_b`]: t([2, 4]), [`${key}.hada_t2`]: t([2, 2, 3, 3]) },
    lokr: { [`${key}.lokr_w1`]: t([2, 2]), [`${key}.lokr_w2_a`]: t([2, 2]), [`${key}.lokr_w2_b`]: t([2, 2]), [`${key}.lokr_t2`]: t([2, 2, 3, 3]) },
  };
  const core = { locon: 'lora_mid', loha: 'hada_t1', lokr: 'hada_t2 / lokr_t2' };
  for (const [name, tensors] of Object.entries(files)) {
    const path = join(tmp, `tucker-${name}.safetensors`);
    writeSafetensors(path, tensors);
    assert.throws(() => readLoraFile(path), (e: Error) => {
      assert.match(e.message, new RegExp(`LoRA .*tucker-${name}\\.safetensors: layer ${key} is a Tucker-decomposed convolution \\(${core[name as keyof typeof core]}\\)`));
      assert.match(e.message, /Supported: LoRA\/LoCon .*LoHa .*LoKr .*full diff and DoRA, without Tucker cores; .*use_tucker=False/);
      return true;
    });
  }
});

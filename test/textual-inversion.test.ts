// Textual inversion against diffusers' load_textual_inversion (goldens from make-goldens.py): A1111 .pt
// and .safetensors (emb_params) on SD 1.x, clip_l/clip_g on SDXL; an embedding made of two words'
// token vectors draws what spelling the words draws; a .pt with code in its pickle is refused.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture, skipWithoutFixtures } from './fixtures.ts';
import { SafetensorsFile, writeSafetensors } from '../pipelines/io/safetensors.ts';
import { SdPipeline } from '../pipelines/recipes/sd/pipeline.ts';
import { ClipTokenizer } from '../pipelines/text/clip-tokenizer.ts';
import { embeddingsUsed, readEmbedding } from '../pipelines/text/embeddings.ts';
import { runGenerate } from '../pipelines/recipes/generate.ts';
import { releaseModels } from '../pipelines/families/load.ts';
import { GenerateRequestSchema } from '../pipelines/jobs/api.ts';
import { writePt } from './torch-pt-writer.ts';
import { expectGolden, generateLike, LORA_FIXTURES, runs } from './lora-helpers.ts';

const skip = skipWithoutFixtures;
const tmp = mkdtempSync(join(tmpdir(), 'studio-ti-'));
after(async () => {
  await releaseModels();
  rmSync(tmp, { recursive: true, force: true });
});

async function checkTi(model: string, golden: string, files: string[]): Promise<void> {
  const pipe = SdPipeline.load(fixture(model));
  const widths = pipe.sources.textConfigs.map((c) => c.hiddenSize);
  try {
    for (const file of files) {
      // The word is the file's stem: `shinyemb`, as the golden's token.
      const named = join(mkdtempSync(join(tmp, 'ti-')), file.replace(/-xl(?=\.)/, ''));
      copyFileSync(join(LORA_FIXTURES, file), named);
      const embeddings = [readEmbedding(named, widths)];
      const run = runs()[golden];
      const r = await pipe.generate({ prompt: run.prompt, negative: run.negative_prompt, steps: run.num_inference_steps, cfg: run.guidance_scale, sampler: 'euler', seed: run.seed, width: run.width, height: run.height, embeddings });
      await expectGolden(pipe, r, golden);
    }
  } finally {
    await pipe.release();
  }
}

test('SD 1.x: A1111 .pt and .safetensors embeddings match diffusers load_textual_inversion', { skip }, () => checkTi('sd15-tiny', 'sd15_ti', ['shinyemb.pt', 'shinyemb.safetensors']));
test('SDXL: clip_l / clip_g embedding matches diffusers', { skip }, () => checkTi('sdxl-tiny', 'sdxl_ti', ['shinyemb-xl.safetensors']));

test('an embedding holding two words\' token vectors draws what the words draw, also weighted and in the negative', { skip }, async () => {
  const tokenizer = ClipTokenizer.fromFolder(fixture('tokenizer'));
  const table = SafetensorsFile.open(fixture('sd15-tiny', 'text_encoder', 'model.safetensors'));
  const name = ['text_model.embeddings.token_embedding.weight', 'embeddings.token_embedding.weight'].find((k) => table.has(k))!;
  const [vocab, width] = table.info(name).shape;
  const all = table.readFloat32(name);
  const ids = tokenizer.encode('red apple');
  assert.equal(ids.length, 2);
  assert.ok(ids.every((id) => id < vocab));
  const rows = new Float32Array(ids.length * width);
  ids.forEach((id, k) => rows.set(all.subarray(id * width, (id + 1) * width), k * width));
  const dir = join(tmp, 'embeddings');
  mkdirSync(dir);
  writeSafetensors(join(dir, 'redapple.safetensors'), { emb_params: { dtype: 'F32', shape: [2, width], data: rows } });
  const draw = async (prompt: string, negative: string, embeddingsDir?: string) =>
    (await runGenerate(GenerateRequestSchema.parse({ model: fixture('sd15-tiny'), prompt, negative, steps: 3, sampler: 'euler', seed: 3, width: 64, height: 64, embeddingsDir }))).images[0].pixels;
  const spelled = await draw('a (red apple:1.3) on a table', 'red apple, blurry');
  const embedded = await draw('a (redapple:1.3) on a table', 'RedApple, blurry', dir);
  assert.deepEqual(embedded, spelled);
  const plain = await draw('a (redapple:1.3) on a table', 'RedApple, blurry');
  assert.notDeepEqual(plain, spelled, 'without --embeddings the word is ordinary text');
});

test('an embedding with code in its pickle is refused and nothing runs; a wrong-family embedding is named', { skip }, () => {
  const dir = join(tmp, 'evil');
  mkdirSync(dir);
  // PROTO 2; GLOBAL os.system; BINUNICODE 'echo pwned'; TUPLE1; REDUCE; STOP — what a hostile .pt holds.
  const command = Buffer.from('echo pwned');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(command.length);
  const pickle = Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from('cos\nsystem\n'), Buffer.from('X'), length, command, Buffer.from([0x85, 0x52, 0x2e])]);
  writePt(join(dir, 'evil-embedding.pt'), pickle, {});
  assert.deepEqual(embeddingsUsed(dir, ['an evil-embedding portrait']), [join(dir, 'evil-embedding.pt')]);
  assert.throws(() => readEmbedding(join(dir, 'evil-embedding.pt'), [32]), /embedding .*evil-embedding\.pt: cannot be read \(.*os\.system, which is not part of a weights-only checkpoint.*refused.*nothing from it was run/);
  assert.throws(() => readEmbedding(join(LORA_FIXTURES, 'shinyemb-xl.safetensors'), [32]), /has no emb_params or string_to_param \(an SD 1\.x\/2\.x embedding\)/);
  assert.throws(() => readEmbedding(join(LORA_FIXTURES, 'shinyemb.pt'), [768]), /holds vectors of width 32 but text encoder 1 takes 768: it was made for another model family/);
});

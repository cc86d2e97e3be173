// The StoryModel of the embedded emoji-DiT: its word-level text encoder, the rectified-flow Euler
// sampler with the model's time shift and CFG in the emoji recipe's order [cond, uncond], the DiT
// with the cross-attention probe (emoji-probe.ts) or IR attention (emoji-dit.ts), its VAE. A
// reference's mask is where its emoji is drawn (non-white cells of the 8×8 token grid: emoji sit on
// white, as in training). Always 64×64 and flow_euler; steps and cfg come from the story.
import type { StoryGraphOptions } from '../../attention/reposition.ts';
import { join } from 'node:path';
import { SafetensorsFile } from '../../io/safetensors.ts';
import { readEmojiConfig, type EmojiDitConfig, type EmojiVaeConfig } from '../../models/emoji/config.ts';
import { buildEmojiTextGraph } from '../../models/emoji/text.ts';
import { EmojiTokenizer } from '../../models/emoji/tokenizer.ts';
import { buildEmojiVaeDecoderGraph, buildEmojiVaeEncoderGraph } from '../../models/emoji/vae.ts';
import { TorchGenerator } from '../../random/torch-randn.ts';
import { ort, tensor, type Session } from '../../runtime/session.ts';
import { ModelSessions } from '../../runtime/session-cache.ts';
import type { EmojiLoadOptions } from '../emoji/pipeline.ts';
import { isEmojiModelName, resolveEmojiModel, type EmojiModelFolders } from '../emoji/models.ts';
import { readPrompt, unreadWordsNotes } from '../emoji/prompt-check.ts';
import { toNhwc01 } from '../images.ts';
import { eulerStep, timeGrid } from '../../samplers/rectified-flow.ts';
import { EMOJI_GUIDANCE } from '../../guidance/cfg-pag.ts';
import { StoryInputError } from './boxes.ts';
import { buildStoryEmojiDiT } from './emoji-dit.ts';
import { buildProbedEmojiDiT } from './emoji-probe.ts';
import type { SourceMask } from './scene-masks.ts';
import { locateSubjects, type Story } from './story.ts';
import type { StoryDenoiser, StoryModel, StoryText } from './story-model.ts';

export const DEFAULT_STORY_MODEL = 'emoji-dit';

/** A pixel is ink when some channel is below this (the backgrounds are white). */
const INK_LEVEL = 0.9;
/** A token cell belongs to the drawing when at least this share of its pixels is ink. */
const INK_SHARE = 0.15;

/** Loads emoji-dit (default) or a folder holding an emoji-dit model for story mode. */
export async function emojiDitStoryModel(nameOrDir: string = DEFAULT_STORY_MODEL, o: EmojiLoadOptions = {}): Promise<StoryModel> {
  const folders = resolveEmojiModel(nameOrDir, o.assetsDir);
  const config = folders.config;
  if (config.architecture !== 'emoji-dit') {
    const why = config.architecture === 'emoji-lit'
      ? "its ReLU linear attention has no per-pair attention weights to mask, and its depthwise convolution mixes neighbouring tokens across subject borders"
      : 'it is convolutional and has no attention between image tokens';
    const what = isEmojiModelName(nameOrDir) ? nameOrDir : `${nameOrDir} (${config.architecture})`;
    throw new StoryInputError(`${what}: story mode runs on emoji-dit (softmax self-attention), not here: ${why}`);
  }
  const vae = { cfg: readEmojiConfig(folders.vaeDir, ['emoji-vae']), weights: SafetensorsFile.open(join(folders.vaeDir, 'model.safetensors')) };
  const textCfg = readEmojiConfig(folders.textDir, ['emoji-text']);
  const sessions = (o.sessions ?? ModelSessions.standalone('emoji-dit-story')).withOptions({ providers: o.providers, intraOpThreads: o.intraOpThreads });
  const [text, decoder] = await Promise.all([
    sessions.get('text', () => buildEmojiTextGraph(SafetensorsFile.open(join(folders.textDir, 'model.safetensors')), textCfg)),
    sessions.get('vae/decode', () => buildEmojiVaeDecoderGraph(vae.weights, vae.cfg)),
  ]);
  const parts = { folders: { ...folders, config }, tokenizer: EmojiTokenizer.fromFolder(folders.textDir), weights: SafetensorsFile.open(join(folders.dir, 'model.safetensors')), vae, text, decoder };
  return new EmojiDitStoryModel(parts, sessions);
}

/** Positions (in the encoded row, start token at 0) of the first occurrence of `words` in `prompt`, or undefined. */
export function emojiWordPositions(tokenizer: EmojiTokenizer, prompt: string, words: string): number[] | undefined {
  const strip = (ids: number[]) => ids.filter((id) => id !== tokenizer.special.bos && id !== tokenizer.special.pad);
  const needle = strip(tokenizer.encode(words).ids);
  if (needle.length === 0 || needle.includes(tokenizer.special.unk)) return undefined;
  const ids = tokenizer.encode(prompt).ids;
  for (let start = 1; start + needle.length <= ids.length; start++) {
    if (needle.every((id, k) => ids[start + k] === id)) return needle.map((_, k) => start + k);
  }
  return undefined;
}

/** Token cells [g·g] of a [side, side, 3] image in [0, 1] that hold the drawing: at least INK_SHARE of their pixels non-white. */
export function inkMask(rgb: Float32Array, side: number, grid: number): Uint8Array {
  const cell = side / grid;
  const mask = new Uint8Array(grid * grid);
  for (let r = 0; r < grid; r++) {
    for (let c = 0; c < grid; c++) {
      let ink = 0;
      for (let y = r * cell; y < (r + 1) * cell; y++) {
        for (let x = c * cell; x < (c + 1) * cell; x++) {
          const p = (y * side + x) * 3;
          if (Math.min(rgb[p], rgb[p + 1], rgb[p + 2]) < INK_LEVEL) ink++;
        }
      }
      mask[r * grid + c] = ink >= INK_SHARE * cell * cell ? 1 : 0;
    }
  }
  return mask;
}

interface EmojiDitParts {
  folders: EmojiModelFolders & { config: EmojiDitConfig };
  tokenizer: EmojiTokenizer;
  weights: SafetensorsFile;
  vae: { cfg: EmojiVaeConfig; weights: SafetensorsFile };
  text: Session;
  decoder: Session;
}

class EmojiDitStoryModel implements StoryModel {
  constructor(private readonly p: EmojiDitParts, readonly sessions: ModelSessions) {}

  private get config(): EmojiDitConfig {
    return this.p.folders.config;
  }

  private get side(): number {
    return this.p.vae.cfg.image_size;
  }

  private get grid(): number {
    return this.config.latent_size / this.config.patch_size;
  }

  get selfAttentionLayerCount(): number {
    return this.config.depth;
  }

  canvas(story: Story): { width: number; height: number; sampler: Story['sampler'] } {
    for (const [key, v] of [['width', story.width], ['height', story.height]] as const) {
      if (v !== undefined && v !== this.side) throw new StoryInputError(`${key} ${v}: ${this.config.architecture} draws ${this.side}×${this.side} images only; leave "width" and "height" out or set them to ${this.side}`);
    }
    return { width: this.side, height: this.side, sampler: 'flow_euler' };
  }

  async encode(story: Story): Promise<StoryText> {
    const tokenizer = this.p.tokenizer;
    const tokens = locateSubjects(story, (prompt, words) => emojiWordPositions(tokenizer, prompt, words), {
      // An emoji reference's mask comes from its drawing, not from its words.
      referenceWords: false,
      reading: ` (within the model's first ${tokenizer.maxLength - 1} words, all of them known to it)`,
    });
    const notes: string[] = [];
    const prompts = [story.negative, ...story.subjects.map((s) => s.description), ...story.scenes.map((s) => s.prompt)];
    const roles = ['negative prompt', ...story.subjects.map((s) => `description of "${s.name}"`), ...story.scenes.map((_, k) => `scene ${k + 1} prompt`)];
    const model = this.config.architecture;
    const ids = prompts.map((prompt, i) => {
      if (i === 0) {
        const negative = readPrompt(tokenizer, prompt, { role: roles[0], model, negative: true });
        notes.push(...negative.notes);
        return negative.encoding.ids;
      }
      // Subject words are found by position, so scene and subject texts are encoded word for word.
      const encoding = tokenizer.encode(prompt);
      notes.push(...unreadWordsNotes(encoding, roles[i], model, tokenizer.maxLength));
      return encoding.ids;
    });
    const length = ids[0].length;
    const out = await this.p.text.run({ ids: new ort.Tensor('int32', Int32Array.from(ids.flat()), [ids.length, length]) });
    const text = { tokens: out.tokens.data as Float32Array, mask: out.mask.data as Float32Array, pooled: out.pooled.data as Float32Array };
    const dim = text.tokens.length / (ids.length * length);
    const feeds = (layout: readonly number[]) => {
      const pick = (src: Float32Array, per: number) => {
        const picked = new Float32Array(layout.length * per);
        layout.forEach((row, i) => picked.set(src.subarray(row * per, (row + 1) * per), i * per));
        return picked;
      };
      return {
        text_tokens: tensor(pick(text.tokens, length * dim), [layout.length, length, dim]),
        text_mask: tensor(pick(text.mask, length), [layout.length, length]),
        text_pooled: tensor(pick(text.pooled, dim), [layout.length, dim]),
      };
    };
    return { tokens, length, feeds, notes };
  }

  denoiser(story: Story): StoryDenoiser {
    const latent = { channels: this.config.in_channels, height: this.config.latent_size, width: this.config.latent_size };
    const shape = [1, latent.channels, latent.height, latent.width];
    return {
      latent, plan: { cfg: story.cfg, pag: 0 }, guidance: EMOJI_GUIDANCE, callsPerStep: 1, output: 'out',
      sample: async (seed, predict, onStep) => {
        const x = new TorchGenerator(seed).randn(shape);
        const ts = timeGrid(story.steps, this.config.sampler.shift);
        for (let call = 0; call < story.steps; call++) {
          eulerStep(x, await predict(x, ts[call], ts[call]), ts[call + 1] - ts[call]);
          onStep(call + 1, story.steps);
        }
        return x;
      },
      inputs: (sample, rows, t) => ({ x: tensor(sample, [rows, ...shape.slice(1)]), t: tensor(new Float32Array(rows).fill(t), [rows]) }),
    };
  }

  probedGraph(_story: Story, _textLength: number, rows: number) {
    return buildProbedEmojiDiT(this.p.weights, this.config, rows);
  }

  storyGraph(_story: Story, _textLength: number, o: StoryGraphOptions) {
    const dit = buildStoryEmojiDiT(this.p.weights, this.config, o);
    return { graph: dit.graph, grids: dit.inputs.grids };
  }

  probeGrid(): { height: number; width: number } {
    return { height: this.grid, width: this.grid };
  }

  drawnMask(rgb: Float32Array): SourceMask {
    const cells = inkMask(rgb, this.side, this.grid);
    // A blank drawing: the whole image stands for the subject.
    return cells.some((v) => v) ? { kind: 'map', map: Float32Array.from(cells), grid: this.probeGrid() } : { kind: 'box', box: [0, 0, 1, 1] };
  }

  async decode(latents: Float32Array): Promise<Float32Array> {
    const { latent_size: l, in_channels: c } = this.config;
    const decoded = (await this.p.decoder.run({ z: tensor(latents, [1, c, l, l]) })).decoded.data as Float32Array;
    return toNhwc01(decoded, 1, this.side, this.side);
  }

  async encodePixels(pixels: Float32Array): Promise<Float32Array> {
    const encoder = await this.sessions.get('vae/encode', () => buildEmojiVaeEncoderGraph(this.p.vae.weights, this.p.vae.cfg));
    const out = await encoder.run({ image: tensor(pixels, [1, 3, this.side, this.side]) });
    return out.encoded.data as Float32Array;
  }

  release(): Promise<void> {
    return this.sessions.release();
  }
}

// What the embedded emoji families (./emoji-lit, ./emoji-dit, ./emoji-dico) share: the project's own
// 64×64 models, a word-level text encoder, flow-matching Euler, and (DiT, LiT) heads for PAG/SoftPAG.
import { basename } from 'node:path';
import { supports } from './declare.ts';
import { fingerprintOf } from '../heads/architecture.ts';
import { EmojiHeadModel } from '../heads/emoji-model.ts';
import type { ResolvedSettings } from '../jobs/api.ts';
import { stepPreviews } from '../previews/previewer.ts';
import { BadRequestError } from '../jobs/api.ts';
import { emojiAttentionLayers, resolveEmojiModel } from '../recipes/emoji/models.ts';
import { EmojiPipeline } from '../recipes/emoji/pipeline.ts';
import { emojiDitStoryModel } from '../recipes/story/emoji-dit-story-model.ts';
import { adaptToEmoji, EMOJI_SIDES } from './emoji-adapt.ts';
import { generateResult, headPicks } from './results.ts';
import type { FamilyHeads, ModelFamily } from './types.ts';

export interface EmojiSpec {
  /** The family id, also the embedded model's name and its config.json `architecture`. */
  id: string;
  label: string;
  /** It has attention heads (DiT, LiT; not the convolutional DiCo). */
  heads: boolean;
  /** Story mode needs softmax attention between image tokens (pipelines/recipes/story/emoji-dit-story-model.ts). */
  story: boolean;
}

const SIZE = 64;

/** PAG layer names for the emoji DiTs: `mid` or `blocks.K`. */
function matchBlocks(layerCount: number) {
  return (names: readonly string[]): number[] =>
    names.map((n) => {
      if (n === 'mid') return Math.floor(layerCount / 2);
      const k = /^(?:blocks\.)?(\d+)$/.exec(n);
      if (k && Number(k[1]) < layerCount) return Number(k[1]);
      throw new BadRequestError(`PAG layer "${n}" is not a block of this model: use "mid" or blocks.0 … blocks.${layerCount - 1}`);
    });
}

/** The heads of the emoji DiTs (LiT, DiT): layers from the config, previews drawn at the model's own size. */
const EMOJI_HEADS: FamilyHeads<EmojiPipeline> = {
  inspect: (target) => {
    const { config } = resolveEmojiModel(target);
    const layers = emojiAttentionLayers(config);
    return { layers, architecture: fingerprintOf(config.architecture, layers) };
  },
  previewModel: (pipeline, s) => {
    const model = new EmojiHeadModel(pipeline, { prompt: s.prompt, negative: s.negative, ...(s.steps === undefined ? {} : { steps: s.steps }), ...(s.cfg === undefined ? {} : { cfg: s.cfg }) });
    return { model, size: model.size };
  },
};

export function emojiFamily(spec: EmojiSpec): ModelFamily<EmojiPipeline> {
  return {
    id: spec.id,
    label: spec.label,
    builtIn: true,
    score: (probe) => (probe.emojiArchitecture === spec.id ? 1 : 0),
    // Its own sampling defaults: assets/models/<id>/config.json `sampler`.
    get defaults() {
      const { steps, cfg } = resolveEmojiModel(spec.id).config.sampler;
      return { width: SIZE, height: SIZE, steps, cfg, sampler: 'flow_euler' as const };
    },
    methods: supports(spec.id, { pag: spec.heads, softpag: spec.heads, headhunter: spec.heads, story: spec.story }),
    samplers: ['flow_euler'],
    fixedSize: SIZE,
    sides: EMOJI_SIDES,
    adapt: (request) => adaptToEmoji(request, spec.id),
    refusal: (model) => `the embedded emoji models (${basename(model)}); they draw 64×64 or 128×128 images with flow-matching Euler`,
    load: (target, o) => EmojiPipeline.load(target, { providers: o.providers, sessions: o.sessions }),

    async generate(pipeline, _probe, request, options) {
      const r = await pipeline.generate({
        prompt: request.prompt,
        negative: request.negative,
        steps: request.steps,
        cfg: request.cfg,
        seed: request.seed,
        images: request.batch,
        size: request.width,
        heads: headPicks(request, pipeline.layers, matchBlocks(pipeline.layers.length)),
        signal: options.signal,
        onStep: stepPreviews(options.previews, () => (latents) => pipeline.previewImage(latents), options.onProgress, 16, 16),
      });
      const settings: ResolvedSettings = { steps: r.settings.steps, cfg: r.settings.cfg, sampler: 'flow_euler', width: r.width, height: r.height };
      return generateResult(r, request, settings, { name: pipeline.name, family: pipeline.name }, 0, r.notes);
    },

    ...(spec.heads ? { heads: EMOJI_HEADS } : {}),
    ...(spec.story ? { story: { load: (target, o) => emojiDitStoryModel(target, { providers: o.providers, sessions: o.sessions }) } } : {}),
  };
}

// Before a ladder runs: peak memory and time per stage on the chosen provider, from the UNet's own tensor
// sizes, and a refusal naming a setting that fits when a stage would not.
//
// The model (constants calibrated from bench/NOTES.md; each says where it comes from):
// - weights: every tensor of the UNet, VAE and text encoders at the compute dtype's width;
// - UNet activations: ORT keeps about ACTIVATION_VALUES values per (batch row × latent token × base
//   channel), plus a fixed arena; the same for softmax and LinFusion, because ORT's attention kernels do not
//   keep the N² scores (measured: softmax used no more memory than LinFusion at 1024²). Of those, the
//   feed-forward's and LinFusion's intermediates shrink with the pieces the graph computes them in
//   (models/unet/memory.ts), which the plan turns on above PIECE_TOKENS latent tokens;
// - VAE: one tile at a time (the VAE tiles above 2048 px); the tile shrinks until it fits;
// - time: 2 FLOPs per parameter per token at the parameter's level, plus attention's 4·N²·C per
//   self-attention layer for softmax (N tokens at that layer) or 4·N·C·C/heads for LinFusion, at the
//   provider's measured rate; the VAE at its measured pixels per second.
import type { KeyedSource } from '../../checkpoints/sources.ts';
import type { LadderStage } from '../../jobs/api.ts';
import type { UNetConfig } from '../../models/unet/config.ts';
import { selfAttentionLayers } from '../../models/unet/layers.ts';
import { WHOLE, type UNetMemory } from '../../models/unet/memory.ts';

const GiB = 2 ** 30;

/** Values ORT keeps per (row × token × base channel): bench/NOTES.md SD 1.5, 512² → 1024² slopes, CPU fp32 109, WebGPU fp16 117. */
const ACTIVATION_VALUES = 120;
/**
 * Of those, what the widest block keeps for its feed-forward (GEGLU: the 8·C projection, its two 4·C halves, the
 * gated 4·C product: 20·C) and for LinFusion (q, k, v and the output in fp32 beside their fp16 sources: 12·C).
 * Counted from the graph's tensor sizes, not measured; the rest are resnets, skips and norms.
 */
const FF_VALUES = 20;
const LINFUSION_VALUES = 12;
/** Latent tokens per piece of the feed-forward (a 2048² image: 256² latent tokens); below it, no pieces. */
export const PIECE_TOKENS = 256 * 256;
/** The fixed part of those fits (0.58 and 0.40 GiB). */
const ACTIVATION_FIXED = 0.5 * GiB;
/** VAE tile activations per (pixel × 128 channels): PyTorch's 2048² decode held about 9 (H200, fp16); ORT's is assumed a third more (not yet measured). */
const VAE_VALUES = 12;

interface Rates {
  /** UNet FLOP/s. */
  flops: number;
  /** VAE encode and decode, pixels per second. */
  encodePx: number;
  decodePx: number;
}

/**
 * cpu: 2 cores of this project's machine, LinFusion 1024² 5.86 TFLOP in 104 CPU-s (56 GFLOP/s), scaled by core
 * count. webgpu: H100, LinFusion 1024² in 0.338 s (17 TFLOP/s). cuda: about PyTorch's speed (tools/device-kit):
 * PyTorch's LinFusion UNet ran 119–195 TFLOP/s on the H200, the tiled VAE 9.8 / 5.5 Mpx/s (encode / decode).
 */
export function providerRates(provider: string, cores = 2): Rates {
  if (provider === 'cuda') return { flops: 150e12, encodePx: 9.8e6, decodePx: 5.5e6 };
  if (provider === 'webgpu' || provider === 'dml' || provider === 'coreml') return { flops: 17e12, encodePx: 1.6e6, decodePx: 0.9e6 };
  const scale = cores / 2;
  return { flops: 56e9 * scale, encodePx: 25e3 * scale, decodePx: 12e3 * scale };
}

/** What the plan needs to know of a UNet, read off its tensors. */
export interface UNetSizes {
  /** Parameters applied to every latent token, by level (level l works at 1/2^l of the latent's side). */
  perTokenByLevel: number[];
  /** Every parameter (weights memory). */
  total: number;
  baseChannels: number;
  attention: { downsample: number; channels: number; heads: number }[];
}

/** Which level a diffusers UNet tensor works at; undefined for per-sample ones (time and text embeddings). */
function levelOf(key: string, levels: number): number | undefined {
  if (/time_emb|time_embedding|add_embedding|attn2\.to_[kv]\./.test(key)) return undefined;
  const down = /^down_blocks\.(\d+)\./.exec(key);
  if (down) return Number(down[1]);
  const up = /^up_blocks\.(\d+)\./.exec(key);
  if (up) return levels - 1 - Number(up[1]);
  return key.startsWith('mid_block.') ? levels - 1 : 0;
}

export function unetSizes(source: KeyedSource, cfg: UNetConfig): UNetSizes {
  const levels = cfg.blockOutChannels.length;
  const perTokenByLevel = new Array<number>(levels).fill(0);
  let total = 0;
  for (const key of source.keys()) {
    const n = source.info(key).shape.reduce((a, b) => a * b, 1);
    total += n;
    const level = levelOf(key, levels);
    if (level !== undefined) perTokenByLevel[level] += n;
  }
  return { perTokenByLevel, total, baseChannels: cfg.blockOutChannels[0], attention: selfAttentionLayers(cfg) };
}

export interface PlanInput {
  unet: UNetSizes;
  /** VAE and text-encoder parameters. */
  otherParams: number;
  stages: readonly LadderStage[];
  /** UNet batch rows per call (2 × images with CFG). */
  rows: number;
  images: number;
  attention: string;
  provider: string;
  bytesPerValue: 2 | 4;
  /** Device memory (host memory on the CPU); undefined: unknown, nothing is refused. */
  availableBytes?: number;
  cores?: number;
}

export interface StagePlan {
  width: number;
  height: number;
  peakBytes: number;
  /** The pieces the stage's UNet graph is built with. */
  memory: UNetMemory;
  /** The VAE tile side in latent pixels (undefined: in one piece). */
  vaeTile?: number;
  seconds: number;
  unetCallSeconds: number;
}

export interface LadderPlan {
  stages: StagePlan[];
  peakBytes: number;
  seconds: number;
  /** The first stage that does not fit, when one does not. */
  tooBig?: StagePlan;
}

const VAE_TILES = [256, 128, 64, 32];

/**
 * The pieces for a UNet call over `tokens` latent tokens: none up to PIECE_TOKENS, then one feed-forward piece
 * per PIECE_TOKENS, and as many LinFusion groups, up to one per (row × head) of the widest level.
 */
export function memoryFor(tokens: number, rows: number, heads: number): UNetMemory {
  if (tokens <= PIECE_TOKENS) return WHOLE;
  const pieces = Math.ceil(tokens / PIECE_TOKENS);
  return { ffPieces: pieces, attentionPieces: Math.min(pieces, rows * heads) };
}

function stagePlan(o: PlanInput, stage: LadderStage, index: number): StagePlan {
  const tokens = (stage.width / 8) * (stage.height / 8);
  const weights = (o.unet.total + o.otherParams) * o.bytesPerValue;
  const memory = memoryFor(tokens, o.rows, o.unet.attention[0]?.heads ?? 1);
  const linfusion = o.attention === 'linfusion' ? LINFUSION_VALUES : 0;
  const values = ACTIVATION_VALUES - FF_VALUES - linfusion + FF_VALUES / memory.ffPieces + linfusion / memory.attentionPieces;
  const unet = ACTIVATION_FIXED + values * o.rows * tokens * o.unet.baseChannels * o.bytesPerValue;
  const vaeFor = (tileLatent: number | undefined) => {
    const px = tileLatent === undefined ? stage.width * stage.height : Math.min(stage.width, tileLatent * 8) * Math.min(stage.height, tileLatent * 8);
    return VAE_VALUES * o.images * px * 128 * o.bytesPerValue;
  };
  const tiled = Math.max(stage.width, stage.height) > 2048;
  const fitting = VAE_TILES.find((t) => o.availableBytes === undefined || weights + vaeFor(t) <= o.availableBytes);
  const vaeTile = tiled ? (fitting ?? VAE_TILES.at(-1)!) : undefined;
  const peakBytes = weights + Math.max(unet, vaeFor(vaeTile));

  let flops = 0;
  o.unet.perTokenByLevel.forEach((params, level) => (flops += 2 * params * (tokens / 4 ** level)));
  for (const layer of o.unet.attention) {
    const n = tokens / layer.downsample ** 2;
    flops += o.attention === 'linfusion' ? 4 * n * layer.channels * (layer.channels / layer.heads) : 4 * n * n * layer.channels;
  }
  const rates = providerRates(o.provider, o.cores);
  const unetCallSeconds = (flops * o.rows) / rates.flops;
  const px = stage.width * stage.height * o.images;
  const vaeSeconds = px / rates.decodePx + (index > 0 ? px / rates.encodePx : 0);
  return { width: stage.width, height: stage.height, peakBytes, memory, vaeTile, seconds: unetCallSeconds * stage.steps + vaeSeconds, unetCallSeconds };
}

export function planLadder(o: PlanInput): LadderPlan {
  const stages = o.stages.map((s, i) => stagePlan(o, s, i));
  const peakBytes = Math.max(...stages.map((s) => s.peakBytes));
  const tooBig = o.availableBytes === undefined ? undefined : stages.find((s) => s.peakBytes > o.availableBytes!);
  return { stages, peakBytes, seconds: stages.reduce((a, s) => a + s.seconds, 0), tooBig };
}

const gib = (b: number) => `${(b / GiB).toFixed(1)} GiB`;
const duration = (s: number) => (s < 120 ? `${s.toFixed(0)} s` : s < 7200 ? `${(s / 60).toFixed(0)} min` : `${(s / 3600).toFixed(1)} h`);

/** One line per stage: size, peak memory, time. */
export function describePlan(plan: LadderPlan, provider: string): string {
  const parts = plan.stages.map((s) => {
    const how = [s.memory.ffPieces > 1 ? `feed-forward in ${s.memory.ffPieces} pieces` : '', s.vaeTile ? `VAE tiles ${s.vaeTile * 8} px` : ''].filter(Boolean);
    return `${s.width}×${s.height} ${gib(s.peakBytes)}, ~${duration(s.seconds)}${how.length ? ` (${how.join(', ')})` : ''}`;
  });
  return `estimated on ${provider}: ${parts.join('; ')}; peak ${gib(plan.peakBytes)}, ~${duration(plan.seconds)} in all`;
}

/**
 * Undefined when the ladder fits (or nothing is known of the memory), else the refusal: what would not fit,
 * and the settings that would — LinFusion where it saves time, the largest final size that fits.
 */
export function refusal(o: PlanInput, plan: LadderPlan = planLadder(o)): string | undefined {
  if (!plan.tooBig || o.availableBytes === undefined) return undefined;
  const s = plan.tooBig;
  const advice: string[] = [];
  const fittingStages = plan.stages.filter((p) => p.peakBytes <= o.availableBytes!).length;
  if (fittingStages >= 2) {
    const last = plan.stages[fittingStages - 1];
    advice.push(`--hires ${last.width}x${last.height} (${fittingStages - 1} stage${fittingStages > 2 ? 's' : ''}) fits`);
  } else advice.push('a smaller --width/--height and --hires');
  if (o.images > 1) advice.push('--batch 1');
  if (o.attention !== 'linfusion') advice.push(`--attention linfusion:PATH (${duration(planLadder({ ...o, attention: 'linfusion' }).seconds)} instead of ${duration(plan.seconds)})`);
  return `the ladder's stage ${s.width}×${s.height} needs about ${gib(s.peakBytes)} on ${o.provider}, more than the ${gib(o.availableBytes)} available (${describePlan(plan, o.provider)}). Try: ${advice.join('; or ')}`;
}

// Before a ladder runs: peak memory and time per stage on the chosen provider, from the UNet's own tensor
// sizes; per stage the fastest way to run it within the memory (the UNet whole or split into sessions, CFG's rows
// together or one at a time, the VAE's tile), and a refusal naming a setting that fits when none does.
//
// The model (constants calibrated from bench/NOTES.md; each says where it comes from):
// - weights: every tensor of the UNet, VAE and text encoders at the compute dtype's width;
// - UNet activations: ORT keeps a number of values per (batch row × latent token × base channel), plus a fixed
//   part (activationModel, per provider); softmax attention keeps no more than LinFusion, because ORT's attention
//   kernels do not keep the N² scores. Of those, the feed-forward's and LinFusion's intermediates are counted at
//   the widest attention level's density (1 for SD 1.x, whose level 0 has attention; 1/2 for SDXL, whose first
//   attention is at level 1 with twice the channels) and shrink with the pieces the graph computes them in
//   (models/unet/memory.ts), which the plan turns on above PIECE_TOKENS latent tokens, down to the provider's
//   floor. Split into sessions, the device holds the largest piece's share beside the skips, or without them when
//   they wait in host memory; one row at a time, the graph holds one row;
// - VAE: one tile at a time above 2048 px; the largest tile that fits;
// - time: 2 FLOPs per parameter per token at the parameter's level, plus 4·N·C·C/heads per self-attention
//   layer for LinFusion (N tokens at that layer), at the provider's measured rate, and softmax attention's 4·N²·C
//   at its own (fused attention kernels run faster than the convolutions), a whole graph one row at a time at the
//   provider's measured slowdown; skips in host memory cross the host link twice; the VAE at its measured pixels
//   per second over the pixels its tiles cover (overlaps counted twice).
import type { KeyedSource } from '../../checkpoints/sources.ts';
import type { LadderStage } from '../../jobs/api.ts';
import type { UNetConfig } from '../../models/unet/config.ts';
import { skipShapes } from '../../models/unet/encoder.ts';
import { selfAttentionLayers } from '../../models/unet/layers.ts';
import { WHOLE, type UNetMemory } from '../../models/unet/memory.ts';
import { tileStarts } from '../../models/vae/tiling.ts';
import type { PlannedTiles } from '../../models/vae/vae.ts';

const GiB = 2 ** 30;

/**
 * What the widest attention block keeps for its feed-forward (GEGLU: the 8·C projection, its two 4·C halves, the
 * gated 4·C product: 20·C) and for LinFusion (q, k, v and the output in fp32 beside their fp16 sources: 12·C), per
 * (row × token × channel at that level). Counted from the graph's tensor sizes; CUDA's fit below agrees (SD 1.5
 * whole, LinFusion 62 against softmax 50 values).
 */
const FF_VALUES = 20;
const LINFUSION_VALUES = 12;

/** How a provider's sessions hold a UNet's activations, in values per (row × latent token × base channel). */
interface ActivationModel {
  /** Beside the feed-forward's and LinFusion's: resnets, skips, norms. */
  rest: number;
  /** The least the whole graph keeps however many pieces its feed-forward and LinFusion run in. */
  floor: number;
  /** A split UNet's largest piece (a level-0 down or up block with its inputs) as a share of the whole graph's. */
  splitShare: number;
  /** Beside the values: arena, CUDA context and library workspaces. */
  fixedBytes: number;
}

/**
 * webgpu (and the other providers on onnxruntime-node's sessions): bench/NOTES.md SD 1.5, 512² → 1024² slopes, CPU fp32
 * 109 (before the CPU's native sessions), WebGPU fp16 117 values, with onnxruntime-node's
 * CUDA session at 8192×4096 in 8 pieces 115 (rest 120 less the feed-forward's and LinFusion's 32). cuda: the native
 * sessions on the H200 (fp16, GPU memory above the process start less the UNet's weights; bench/NOTES.md, session 6):
 * SD 1.5 whole, batch 2, 1024² / 2048², LinFusion 3.87 / 7.31 GiB, softmax 3.48 / 6.16; SDXL-size + LinFusion whole
 * 2048² 9.9, 4096² (FF in 4 pieces) 18.9, 8192×4096 one row at a time (8 pieces) 18.6; SD 1.5 16384×8192 split, one
 * row at a time, skips on the device, 44.4 (since refitted: CUDA_SPLIT_SHARE). Fitted within 6 %
 * (test/memory-plan.test.ts holds them to 10 %): SDXL's pieces hardly lower its peak (the floor: level 0's resnets at
 * 640 channels in).
 */
function activationModel(provider: string): ActivationModel {
  if (provider === 'cuda') return { rest: 30, floor: 39, splitShare: CUDA_SPLIT_SHARE, fixedBytes: 1 * GiB };
  if (provider === 'cpu') return CPU_ACTIVATIONS;
  return { rest: 120 - FF_VALUES - LINFUSION_VALUES, floor: 0, splitShare: 0.35, fixedBytes: 0.5 * GiB };
}
/**
 * cuda, split into sessions: the pieces, and the stage's VAE sessions, draw from one shared arena, CUDA's memory pool
 * (STUDIO_CUDA_TUNING.cudaMempool, PlannedTiles.sharedArena). H100, session 11 (bench/NOTES.md, `h16d`): 16384×8192
 * end to end, rows one at a time, FF in 32, skips on the device, the whole process's peak above its start (weights,
 * the VAE's tiles and the CUDA context included): SD 1.5 + LinFusion 21.1 GiB, SDXL-size + LinFusion 24.5. A share of
 * 0.26 plans 21.6 and 24.6. (Session 10's 0.2 fitted the UNet's part alone, 17.5, which reused the encoder's pool.)
 */
const CUDA_SPLIT_SHARE = 0.26;
/**
 * cpu: the studio's native CPU sessions without ORT's planner reuse (bench/NOTES.md session 8, bench/cpu-sessions.ts):
 * full-size SD 1.5, fp32, batch 2, peak RSS above the session, LinFusion 0.36 / 1.78 GiB and softmax 0.34 / 1.76 at
 * 512² / 1024²: 46 values (the 1024² slope, rounded up; at 512² it over-counts by a third), whichever attention, so the
 * floor (pieces unmeasured on the full-size UNet here: the plan counts none of their saving). Split by level, the
 * worst piece held 20.00 of the whole graph's 20.73 on the narrowed UNet (bench/ort-memory-overhead.ts): without
 * the planner's reuse, level 0 is the peak either way.
 */
const CPU_ACTIVATIONS: ActivationModel = { rest: 46 - FF_VALUES - LINFUSION_VALUES, floor: 46, splitShare: 0.96, fixedBytes: 0 };

/** Latent tokens per piece of the feed-forward (a 2048² image: 256² latent tokens); below it, no pieces. */
export const PIECE_TOKENS = 256 * 256;
/**
 * VAE activations per (pixel × 128 channels × tile in the run), the encoder's and the decoder's arenas together (a
 * stage keeps both): H200, native CUDA sessions, fp16, fused GroupNorm, GPU memory above the process start less
 * ~0.6 GiB of CUDA context and weights. Window 1 (session 6): a 1024 px decode tile 2.83 GiB, four per run or one
 * 2048 px tile 8.74 GiB; window 2: a tiled encode + decode at four 1024 px tiles per run 12.09 GiB (bench/NOTES.md).
 */
const VAE_VALUES = 11.5;

interface Rates {
  /** UNet FLOP/s: convolutions, projections, LinFusion. */
  flops: number;
  /** Softmax self-attention FLOP/s. */
  attentionFlops: number;
  /** VAE encode and decode, pixels per second. */
  encodePx: number;
  decodePx: number;
  /** A whole UNet graph run one CFG row at a time: its FLOP time × this. */
  rowByRowWhole: number;
  /** A split UNet's skips parked in host memory and back, bytes per second each way. */
  hostLink: number;
}

/**
 * cpu: 2 cores of this project's machine, LinFusion 1024² 5.86 TFLOP in 104 CPU-s (56 GFLOP/s), scaled by core
 * count. webgpu: H100, LinFusion 1024² in 0.338 s (17 TFLOP/s). cuda: native sessions with the studio's tuning on
 * the H200, SD 1.5 batch 2 (bench/NOTES.md, session 6 lead): LinFusion 1024² 37.6 ms (137 TFLOP/s), 2048² 132.2 ms
 * (156), 16384×8192 split, rows one at a time, 3.39 s (195): 165; softmax's attention (FlashAttention) 2048² 282.1
 * ms less the rest's ~125 over 62.6 TFLOP of attention (400), 1024² faster still: 500 (test/memory-plan.test.ts
 * holds these five within 20 %); the tiled VAE (fp16, fused GroupNorm, 1024 px tiles, four per run) 20 / 15 Mpx/s
 * encode / decode over the pixels its tiles cover: 16384×8192 in 11.69 + 15.78 s (session 6 window 2; the GPU's
 * share 37 / 23 Mpx/s, the rest the host's crop, conversion, copies and blend).
 */
export function providerRates(provider: string, cores = 2): Rates {
  if (provider === 'cuda') return { flops: 165e12, attentionFlops: 500e12, encodePx: 20e6, decodePx: 15e6, rowByRowWhole: CUDA_ROW_BY_ROW_WHOLE, hostLink: CUDA_HOST_LINK };
  if (provider === 'webgpu' || provider === 'dml' || provider === 'coreml') return { flops: 17e12, attentionFlops: 17e12, encodePx: 1.6e6, decodePx: 0.9e6, rowByRowWhole: 1, hostLink: JS_HOST_LINK };
  const scale = cores / 2;
  return { flops: 56e9 * scale, attentionFlops: 56e9 * scale, encodePx: 25e3 * scale, decodePx: 12e3 * scale, rowByRowWhole: 1, hostLink: JS_HOST_LINK };
}

/**
 * CUDA, a whole graph one row at a time: SDXL-size + LinFusion at 8192×4096 (FF in 8 pieces) took 4.58 s per CFG call
 * against 2.26 s of FLOP time at the rate above, while the same graph at 4096² with both rows together (as many
 * tokens per run) kept to it (1.28 s against 1.13; bench/NOTES.md, s6-b2's window 2). One measured row, cause not
 * found: `hires-sdxl-rows` (bench/hires-inbox.sh) times SDXL 4096² both ways in one call. A split UNet one row at a
 * time keeps to the rate (SD 1.5 16384×8192, 3.39 s against 4.0).
 */
const CUDA_ROW_BY_ROW_WHOLE = 2;
/**
 * Skips parked by native CUDA sessions in pinned host memory (runKeeping's `park`), copied by ORT with cudaMemcpyAsync:
 * not measured yet (`hires16k-host`); 12 GB/s, below a PCIe 4/5 x16 link's 25–50, until it is.
 */
const CUDA_HOST_LINK = 12e9;
/** Skips through JS buffers (onnxruntime-node's sessions): the 16K SD 1.5 call took ≥ 20 s more for 2 × 13.6 GB (s6-b2). */
const JS_HOST_LINK = 1.4e9;

/** What the plan needs to know of a UNet, read off its tensors. */
export interface UNetSizes {
  /** Parameters applied to every latent token, by level (level l works at 1/2^l of the latent's side). */
  perTokenByLevel: number[];
  /** Every parameter (weights memory). */
  total: number;
  baseChannels: number;
  /** The skip connections' values per (row × latent token). */
  skipValues: number;
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
  const side = 2 ** levels;
  const skipValues = skipShapes(cfg, side, side).down.reduce((a, [c, h, w]) => a + c * h * w, 0) / (side * side);
  return { perTokenByLevel, total, baseChannels: cfg.blockOutChannels[0], skipValues, attention: selfAttentionLayers(cfg) };
}

export interface PlanInput {
  unet: UNetSizes;
  /** VAE and text-encoder parameters. */
  otherParams: number;
  stages: readonly LadderStage[];
  /** UNet batch rows per evaluation (2 × images with CFG). */
  rows: number;
  images: number;
  attention: string;
  provider: string;
  bytesPerValue: 2 | 4;
  /** Device memory (host memory on the CPU); undefined: unknown, nothing is refused. */
  availableBytes?: number;
  /**
   * What the ladder may use instead (default: all of it), below it or, by the user's word, above it; the plan picks the
   * fastest way to run each stage within it.
   */
  budgetBytes?: number;
  cores?: number;
  /** The UNet's way, given instead of chosen (a bench that forces one): the plan then only estimates it. */
  unetMemory?: UNetMemory;
}

/** How a stage runs: the UNet's memory choices and the VAE's tiles (vaeTile undefined: in one piece). */
export interface StageMemory extends PlannedTiles {
  unet: UNetMemory;
}

export interface StagePlan extends StageMemory {
  width: number;
  height: number;
  peakBytes: number;
  /** The peak's parts: every model's weights, the UNet's activations, one VAE tile's activations. */
  bytes: { weights: number; unet: number; vae: number };
  seconds: number;
  /** One UNet evaluation (all its rows), the VAE's encode (img2img stages) and decode. */
  unetCallSeconds: number;
  vaeSeconds: number;
}

export interface LadderPlan {
  stages: StagePlan[];
  peakBytes: number;
  seconds: number;
  /** The first stage that does not fit, when one does not. */
  tooBig?: StagePlan;
}

/** A VAE tile side in latent pixels and the tiles stacked into one session run. */
interface VaeTiling {
  tile: number;
  perRun: number;
}

/**
 * The VAE's tilings, fastest first, then smaller: per megapixel a 1024 px tile decoded in 54 ms alone and 43.5 ms
 * four to a run, a 2048 px tile in 65 ms at the memory of four 1024 px ones (H200, session 6 window 1), so 2048 px
 * tiles are not among them. Images up to 2048 px may also run whole (no overlap to compute twice).
 */
const VAE_TILINGS: VaeTiling[] = [{ tile: 128, perRun: 4 }, { tile: 128, perRun: 1 }, { tile: 64, perRun: 1 }];

/**
 * The pieces for a UNet call over `tokens` latent tokens: none up to PIECE_TOKENS, then one feed-forward piece
 * per PIECE_TOKENS, and as many LinFusion groups, up to one per (row × head) of the widest level.
 */
export function memoryFor(tokens: number, rows: number, heads: number): UNetMemory {
  if (tokens <= PIECE_TOKENS) return WHOLE;
  const pieces = Math.ceil(tokens / PIECE_TOKENS);
  return { ffPieces: pieces, attentionPieces: Math.min(pieces, rows * heads) };
}

/**
 * Latent tokens one run may hold, as far as the GPU has run them (bench/NOTES.md): a whole graph 2^20 (twice its
 * largest measured run, SDXL 8192×4096 one row at a time, 0.5 M), a split UNet's piece 2^21 (SD 1.5 16K, one row). The
 * memory fit is extrapolated beyond them; a 16K stage planned as one 100 GiB graph would fail its first call, not the
 * plan.
 */
const WHOLE_RUN_TOKENS = 2 ** 20;
const PIECE_RUN_TOKENS = 2 ** 21;

/** The UNet's ways to run over `tokens`, from the least memory saved: whole, split into sessions (skips kept on the device, then on the host); each with CFG's rows together, then one at a time. */
function unetChoices(pieces: UNetMemory, rows: number, tokens: number): UNetMemory[] {
  const ways: UNetMemory[] = [pieces, { ...pieces, split: true }, { ...pieces, split: true, skipsOnHost: true }];
  const all = ways.flatMap((m) => (rows > 1 ? [m, { ...m, rowByRow: true }] : [m]));
  const measured = all.filter((m) => tokens * (m.rowByRow ? 1 : rows) <= (m.split ? PIECE_RUN_TOKENS : WHOLE_RUN_TOKENS));
  return measured.length ? measured : all.slice(-1);
}

function unetBytes(o: PlanInput, tokens: number, m: UNetMemory): number {
  const model = activationModel(o.provider);
  const linfusion = o.attention === 'linfusion' ? LINFUSION_VALUES : 0;
  const values = Math.max(model.floor, model.rest + attentionDensity(o.unet) * (FF_VALUES / m.ffPieces + linfusion / m.attentionPieces));
  const rows = m.rowByRow ? 1 : o.rows;
  const skips = m.split && !m.skipsOnHost ? o.unet.skipValues * rows * tokens * o.bytesPerValue : 0;
  return model.fixedBytes + skips + (m.split ? model.splitShare : 1) * values * rows * tokens * o.unet.baseChannels * o.bytesPerValue;
}

/** The widest attention level's values per base-channel value: its channels over the base's, at its share of the tokens. */
function attentionDensity(unet: UNetSizes): number {
  return Math.max(0, ...unet.attention.map((a) => a.channels / unet.baseChannels / a.downsample ** 2));
}

/** What the VAE of one stage costs: one tile's activations, and the seconds for the pixels its tiles cover. */
export interface VaeEstimate {
  /** Pixels the tiles cover (overlaps counted once per tile), per image. */
  px: number;
  bytes: number;
  encodeSeconds: number;
  decodeSeconds: number;
}

/**
 * The VAE's tiles over a stage (`tile` in latent pixels, a quarter overlapping, `perRun` to a session run; undefined:
 * whole), as the plan models them.
 */
export function vaeEstimate(o: Pick<PlanInput, 'provider' | 'bytesPerValue' | 'images' | 'cores'>, stage: { width: number; height: number }, tile: number | undefined, perRun = 1): VaeEstimate {
  const [h, w] = [stage.height / 8, stage.width / 8];
  const [th, tw] = tile === undefined ? [h, w] : [Math.min(tile, h), Math.min(tile, w)];
  const tiles = tile === undefined ? 1 : tileStarts(h, th, tile / 4).length * tileStarts(w, tw, tile / 4).length;
  const px = tiles * th * tw * 64;
  const rates = providerRates(o.provider, o.cores);
  return { px, bytes: VAE_VALUES * o.images * Math.min(perRun, tiles) * th * tw * 64 * 128 * o.bytesPerValue, encodeSeconds: (px * o.images) / rates.encodePx, decodeSeconds: (px * o.images) / rates.decodePx };
}

/**
 * The bytes a stage may use: the user's budget (`--hires-memory`) when given, even above what the device reports,
 * since the fit is an estimate and a user who has run larger may say so; else all the device has.
 */
function budgetOf(o: PlanInput): number {
  return o.budgetBytes ?? o.availableBytes ?? Infinity;
}

function stagePlan(o: PlanInput, stage: LadderStage, index: number): StagePlan {
  const tokens = (stage.width / 8) * (stage.height / 8);
  const budget = budgetOf(o);
  const weights = (o.unet.total + o.otherParams) * o.bytesPerValue;
  const choices = unetChoices(memoryFor(tokens, o.rows, o.unet.attention[0]?.heads ?? 1), o.rows, tokens);
  // The fastest way that fits (the first of equals); when none does, the one that needs the least.
  const fastest = choices.filter((m) => weights + unetBytes(o, tokens, m) <= budget).reduce<UNetMemory | undefined>((best, m) => (best && unetSeconds(o, tokens, best) <= unetSeconds(o, tokens, m) ? best : m), undefined);
  const unet = o.unetMemory ?? fastest ?? choices.at(-1)!;
  const side = Math.max(stage.width, stage.height);
  const tilings = [...(side <= 2048 ? [undefined] : []), ...VAE_TILINGS.filter((t) => t.tile * 8 < side)];
  const fits = tilings.findIndex((t) => weights + vaeEstimate(o, stage, t?.tile, t?.perRun).bytes <= budget);
  const tiling = tilings.at(fits);
  const vae = vaeEstimate(o, stage, tiling?.tile, tiling?.perRun);
  const bytes = { weights, unet: unetBytes(o, tokens, unet), vae: vae.bytes };
  const unetCallSeconds = unetSeconds(o, tokens, unet);
  const vaeSeconds = vae.decodeSeconds + (index > 0 ? vae.encodeSeconds : 0);
  // A split UNet's pieces draw from the shared arena: the stage's VAE too, so that one pool holds both (CUDA_SPLIT_SHARE).
  return { width: stage.width, height: stage.height, peakBytes: weights + Math.max(bytes.unet, bytes.vae), bytes, unet, vaeTile: tiling?.tile, vaeTilesPerRun: tiling && tiling.perRun > 1 ? tiling.perRun : undefined, sharedArena: unet.split === true, seconds: unetCallSeconds * stage.steps + vaeSeconds, unetCallSeconds, vaeSeconds };
}

/** One UNet evaluation (all its rows) over `tokens` latent tokens, run the way `m` says. */
function unetSeconds(o: PlanInput, tokens: number, m: UNetMemory): number {
  let flops = 0;
  let attentionFlops = 0;
  o.unet.perTokenByLevel.forEach((params, level) => (flops += 2 * params * (tokens / 4 ** level)));
  for (const layer of o.unet.attention) {
    const n = tokens / layer.downsample ** 2;
    if (o.attention === 'linfusion') flops += 4 * n * layer.channels * (layer.channels / layer.heads);
    else attentionFlops += 4 * n * n * layer.channels;
  }
  const rates = providerRates(o.provider, o.cores);
  const hostCopies = m.skipsOnHost ? (2 * o.unet.skipValues * o.rows * tokens * o.bytesPerValue) / rates.hostLink : 0;
  const oneRowWhole = m.rowByRow && !m.split ? rates.rowByRowWhole : 1;
  return o.rows * (flops / rates.flops + attentionFlops / rates.attentionFlops) * oneRowWhole + hostCopies;
}

export function planLadder(o: PlanInput): LadderPlan {
  const stages = o.stages.map((s, i) => stagePlan(o, s, i));
  const peakBytes = Math.max(...stages.map((s) => s.peakBytes));
  const budget = budgetOf(o);
  const tooBig = budget === Infinity ? undefined : stages.find((s) => s.peakBytes > budget);
  return { stages, peakBytes, seconds: stages.reduce((a, s) => a + s.seconds, 0), tooBig };
}

const gib = (b: number) => `${(b / GiB).toFixed(1)} GiB`;
const duration = (s: number) => (s < 120 ? `${s.toFixed(0)} s` : s < 7200 ? `${(s / 60).toFixed(0)} min` : `${(s / 3600).toFixed(1)} h`);

/** How a stage runs, in words (empty for a whole UNet and an untiled VAE). */
export function describeStageMemory(s: StageMemory): string[] {
  const m = s.unet;
  return [
    m.split ? `UNet split into sessions${m.skipsOnHost ? ', skips in host memory' : ''}` : '',
    m.rowByRow ? 'CFG rows one at a time' : '',
    m.ffPieces > 1 ? `feed-forward in ${m.ffPieces} pieces` : '',
    s.vaeTile ? `VAE tiles ${s.vaeTile * 8} px${s.vaeTilesPerRun ? `, ${s.vaeTilesPerRun} per run` : ''}` : '',
  ].filter(Boolean);
}

/** One line per stage: size, peak memory, time, how it runs. */
export function describePlan(plan: LadderPlan, provider: string): string {
  const parts = plan.stages.map((s) => {
    const how = describeStageMemory(s);
    return `${s.width}×${s.height} ${gib(s.peakBytes)}, ~${duration(s.seconds)}${how.length ? ` (${how.join(', ')})` : ''}`;
  });
  return `estimated on ${provider}: ${parts.join('; ')}; peak ${gib(plan.peakBytes)}, ~${duration(plan.seconds)} in all`;
}

/** Why the plan used more than the device reports (the user's `--hires-memory` above it), else undefined. */
export function budgetAboveDevice(o: PlanInput): string | undefined {
  if (o.budgetBytes === undefined || o.availableBytes === undefined || o.budgetBytes <= o.availableBytes) return undefined;
  return `--hires-memory ${gib(o.budgetBytes)} is above the ${gib(o.availableBytes)} this device reports: planned on your word`;
}

/**
 * Undefined when the ladder fits (or nothing is known of the memory), else the refusal: what would not fit even
 * split into sessions with its rows one at a time, and the settings that would — the largest final size that
 * fits, one image per batch, LinFusion where it saves time.
 */
export function refusal(o: PlanInput, plan: LadderPlan = planLadder(o)): string | undefined {
  if (!plan.tooBig) return undefined;
  const budget = budgetOf(o);
  const s = plan.tooBig;
  const advice: string[] = [];
  const available = o.availableBytes ?? Infinity;
  const least = Math.ceil(planLadder({ ...o, budgetBytes: 1 }).peakBytes / GiB);
  const aboveDevice = least * GiB > available ? `, above the ${gib(available)} this device reports` : '';
  if (o.budgetBytes !== undefined) advice.push(`--hires-memory ${least} (the least this ladder needs${aboveDevice})`);
  const fittingStages = plan.stages.filter((p) => p.peakBytes <= budget).length;
  if (fittingStages >= 2) {
    const last = plan.stages[fittingStages - 1];
    advice.push(`--hires ${last.width}x${last.height} (${fittingStages - 1} stage${fittingStages > 2 ? 's' : ''}) fits`);
  } else advice.push('a smaller --width/--height and --hires');
  if (o.images > 1) advice.push('--batch 1');
  if (o.attention !== 'linfusion') advice.push(`--attention linfusion:PATH (${duration(planLadder({ ...o, attention: 'linfusion' }).seconds)} instead of ${duration(plan.seconds)})`);
  if (o.budgetBytes === undefined) advice.push(`--hires-memory ${least} to run it anyway, if you know this device holds more than the estimate (a stage that runs out stops the ladder with the earlier stages kept)`);
  const limit = o.budgetBytes !== undefined ? `the ladder's ${gib(budget)} budget (--hires-memory)` : `the ${gib(budget)} available`;
  const how = describeStageMemory(s);
  return `the ladder's stage ${s.width}×${s.height} needs about ${gib(s.peakBytes)} on ${o.provider}${how.length ? ` (${how.join(', ')})` : ''}, more than ${limit} (${describePlan(plan, o.provider)}). Try: ${advice.join('; or ')}`;
}

// UNet2DConditionModel (SD 1.x, SD 2.x, SDXL) as an ONNX graph, built for one batch and latent size.
// Inputs: sample [B, C, h, w], timestep [B], encoder_hidden_states [B, L, D] (+ text_embeds, time_ids for
// SDXL, + head_weights when a perturbed branch is built), all float32; output `model_output`, float32.
import { Graph, GraphError, type Dim, type DType, type T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import { Weights, type TensorSource } from '../../onnx/weights.ts';
import type { SelfAttentionLayer, SelfAttentionVariant } from '../../attention/self-attention.ts';
import { softmaxAttention } from '../../attention/softmax.ts';
import { upIndex, type UNetConfig } from './config.ts';
import { conditioningEmbedding } from './embeddings.ts';
import { selfAttentionLayers } from './layers.ts';
import { declareConditioningInputs, declareUNetInputs, type ConditioningInputs, type UNetInputs, type UNetInputShape } from './inputs.ts';
import { resnetBlock, upsample } from './resnet.ts';
import { unetEncoder, skipShapes, type LayerRange } from './encoder.ts';
import { transformer2d, type TransformerContext } from './transformer.ts';
import type { FusedKernels } from '../../runtime/kernels.ts';
import type { UNetMemory } from './memory.ts';
import { imagePromptAttention, IP_SCALE, IP_TOKENS } from '../ip-adapter/attention.ts';

export interface UNetBuildOptions extends UNetInputShape {
  /** Compute dtype; inputs and output stay float32. */
  dtype?: Extract<DType, 'float32' | 'float16'>;
  /** Self-attention variant for attn1 (default: softmax). */
  selfAttention?: SelfAttentionVariant;
  /** Replacement of the text cross-attention attn2 (default: the model's own). */
  crossAttention?: TransformerContext['crossAttention'];
  /** Build into this graph (e.g. a FLOP counter) instead of a new one. */
  graph?: Graph;
  /** The execution provider's fused kernels to emit (pipelines/runtime/kernels.ts); default: the plain graph. */
  kernels?: FusedKernels;
  /** IP-Adapter: its `<n>.to_k_ip/to_v_ip` weights and image token count; adds the `ip_tokens` and `ip_scale` inputs. */
  ipAdapter?: { layers: TensorSource; tokens: number };
  /** Adds ControlNet residual inputs (`down_residual_<i>`, `mid_residual`, float32), summed into the skips. */
  controlResiduals?: boolean;
  /** Feed-forward and LinFusion in pieces at high resolution (default: whole). */
  memory?: UNetMemory;
}

export const downResidualName = (i: number) => `down_residual_${i}`;
export const MID_RESIDUAL = 'mid_residual';

export const UNET_OUTPUT = 'model_output';

export interface UNetGraph {
  graph: Graph;
  layers: SelfAttentionLayer[];
  inputNames: string[];
}

export function buildUNet(source: TensorSource, cfg: UNetConfig, o: UNetBuildOptions): UNetGraph {
  const body = unetBody(source, cfg, o);
  const { g, w, ctx, inputs, ip, dtype } = body;
  const { sample, timestep, text: text32, textTime, perturbation } = inputs;
  const control = o.controlResiduals ? declareResiduals(g, cfg, o) : undefined;

  const conv = convIn(body, sample);
  const encoded = unetEncoder(w, cfg, ctx, { x: conv, timeAct: body.timeAct, text: body.text });
  // ControlNet residuals are added to every skip connection and to the mid block's output.
  const skips = control ? encoded.skips.map((s, i) => op.add(s, op.cast(control.down[i], dtype))) : encoded.skips;
  let x = control ? op.add(encoded.x, op.cast(control.mid, dtype)) : encoded.x;
  for (let i = 0; i < cfg.upBlockTypes.length; i++) x = upLevel(body, i, x, skips);
  g.output(convOut(body, x), UNET_OUTPUT);

  const inputNames = [sample, timestep, text32, textTime?.textEmbeds, textTime?.timeIds, perturbation?.weights, ...(control?.down ?? []), control?.mid, ip?.tokens, ip?.scale].flatMap((t) => (t ? [t.name] : []));
  return { graph: g, layers: body.layers, inputNames };
}

/** What every part of a UNet graph is built with: its weights, inputs, attention context and time embedding. */
export interface UNetBody {
  g: Graph;
  w: Weights;
  cfg: UNetConfig;
  dtype: Extract<DType, 'float32' | 'float16'>;
  layers: SelfAttentionLayer[];
  inputs: UNetInputs;
  ip?: { tokens: T; scale: T };
  ctx: TransformerContext;
  /** The conditioning embedding after its SiLU, and the text in the compute dtype. */
  timeAct: T;
  text: T;
}

export function unetBody(source: TensorSource, cfg: UNetConfig, o: UNetBuildOptions): UNetBody;
export function unetBody(source: TensorSource, cfg: UNetConfig, o: UNetBuildOptions, withSample: false): Omit<UNetBody, 'inputs'> & { inputs: ConditioningInputs };
export function unetBody(source: TensorSource, cfg: UNetConfig, o: UNetBuildOptions, withSample = true): Omit<UNetBody, 'inputs'> & { inputs: ConditioningInputs } {
  const g = o.graph ?? new Graph('unet');
  const dtype = o.dtype ?? 'float32';
  const w = new Weights(g, source, dtype);
  const layers = selfAttentionLayers(cfg);
  const variant = o.selfAttention ?? softmaxAttention();
  if (o.symbolic) checkSymbolic(variant, o);
  variant.prepare?.(layers);
  const inputs = withSample ? declareUNetInputs(g, cfg, layers, o, source.path) : declareConditioningInputs(g, cfg, layers, o, source.path);
  const text = op.cast(inputs.text, dtype);
  const ip = o.ipAdapter && {
    tokens: g.input(IP_TOKENS, 'float32', [o.batch, o.ipAdapter.tokens, cfg.crossAttentionDim[0]]),
    scale: g.input(IP_SCALE, 'float32', [1]),
  };
  const ctx: TransformerContext = {
    selfAttention: variant,
    crossAttention: o.crossAttention,
    perturbation: inputs.perturbation,
    layerByName: new Map(layers.map((l) => [l.name, l])),
    latent: { height: o.height, width: o.width },
    groups: cfg.normGroups,
    linearProjection: cfg.useLinearProjection,
    upcast: cfg.upcastAttention,
    kernels: o.kernels,
    memory: o.memory,
    imagePrompt: ip && imagePromptAttention(o.ipAdapter!.layers, cfg, ip.tokens, ip.scale, dtype),
  };
  const timeAct = g.scope('time_embedding', () => op.silu(conditioningEmbedding(w, cfg, inputs.timestep, inputs.textTime)));
  return { g, w, cfg, dtype, layers, inputs, ip, ctx, timeAct, text };
}

export const convIn = (b: Pick<UNetBody, 'w' | 'cfg' | 'dtype'>, sample: T): T => nn.conv2d(b.w.sub('conv_in'), op.cast(sample, b.dtype), { padding: (b.cfg.convInKernel - 1) / 2 });

/** The output head: GroupNorm + SiLU and conv_out, in float32. */
export function convOut(b: Pick<UNetBody, 'w' | 'cfg' | 'ctx'>, x: T): T {
  const y = nn.groupNormSilu(b.w.sub('conv_norm_out'), x, b.cfg.normGroups, b.cfg.normEps, b.ctx.kernels?.groupNormSilu ?? false);
  return op.cast(nn.conv2d(b.w.sub('conv_out'), y, { padding: (b.cfg.convOutKernel - 1) / 2 }), 'float32');
}

/**
 * Up block `i` on `x` (its layers `layers.from` to `layers.to - 1`, default all), taking its skip connections off the end
 * of `skips`; then, after its last layer, its upsampler, to the size of the next skip (`nextSkip` when the skips it needs
 * are not in `skips`: a split UNet's piece).
 */
export function upLevel(b: Pick<UNetBody, 'w' | 'cfg' | 'ctx' | 'timeAct' | 'text'>, i: number, x: T, skips: T[], nextSkip?: { height: Dim; width: Dim }, layers?: LayerRange): T {
  const { w, cfg, ctx } = b;
  const resnetOpts = { groups: cfg.normGroups, eps: cfg.normEps, fusedNorm: ctx.kernels?.groupNormSilu ?? false };
  const r = upIndex(cfg, i);
  const count = cfg.layersPerBlock[r] + 1;
  const { from, to } = layers ?? { from: 0, to: count };
  x.graph.scope(`up_blocks.${i}`, () => {
    const bw = w.sub(`up_blocks.${i}`);
    for (let j = from; j < to; j++) {
      x = op.concat([x, skips.pop()!], 1);
      x = resnetBlock(bw.sub(`resnets.${j}`), x, b.timeAct, cfg.blockOutChannels[r], resnetOpts);
      if (cfg.upBlockTypes[i] === 'CrossAttnUpBlock2D') x = transformer2d(bw.sub(`attentions.${j}`), `up_blocks.${i}.attentions.${j}`, x, b.text, cfg.upDepth[i][j], ctx);
    }
    if (i < cfg.blockOutChannels.length - 1 && to === count) {
      const next = nextSkip ?? { height: skips[skips.length - 1].shape[2], width: skips[skips.length - 1].shape[3] };
      x = upsample(bw.sub('upsamplers.0'), x, next.height, next.width);
    }
  });
  return x;
}

/** What a graph with symbolic sizes can hold: attention that needs no token grid, no per-size inputs. */
function checkSymbolic(variant: SelfAttentionVariant, o: UNetBuildOptions): void {
  const fixed = !SYMBOLIC_VARIANTS.includes(variant.kind) ? `${variant.kind} attention (it reads the token grid)` : o.controlResiduals ? 'ControlNet residuals' : o.perturbedRows ? 'head perturbation (PAG)' : o.crossAttention ? 'a cross-attention replacement' : undefined;
  if (fixed) throw new GraphError(`UNet with symbolic sizes: ${fixed} needs a graph built for one size; build it with the size fixed`);
}

const SYMBOLIC_VARIANTS = ['softmax', 'linfusion'];

function declareResiduals(g: Graph, cfg: UNetConfig, o: UNetBuildOptions): { down: T[]; mid: T } {
  const shapes = skipShapes(cfg, o.height, o.width);
  return {
    down: shapes.down.map((s, i) => g.input(downResidualName(i), 'float32', [o.batch, ...s])),
    mid: g.input(MID_RESIDUAL, 'float32', [o.batch, ...shapes.mid]),
  };
}

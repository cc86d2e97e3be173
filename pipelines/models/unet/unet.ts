// UNet2DConditionModel (SD 1.x, SD 2.x, SDXL) as an ONNX graph, built for one batch and latent size.
// Inputs: sample [B, C, h, w], timestep [B], encoder_hidden_states [B, L, D] (+ text_embeds, time_ids for
// SDXL, + head_weights when a perturbed branch is built), all float32; output `model_output`, float32.
import { Graph, GraphError, type DType, type T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import { Weights, type TensorSource } from '../../onnx/weights.ts';
import type { SelfAttentionLayer, SelfAttentionVariant } from '../../attention/self-attention.ts';
import { softmaxAttention } from '../../attention/softmax.ts';
import { upIndex, type UNetConfig } from './config.ts';
import { conditioningEmbedding } from './embeddings.ts';
import { selfAttentionLayers } from './layers.ts';
import { declareUNetInputs, type UNetInputShape } from './inputs.ts';
import { resnetBlock, upsample } from './resnet.ts';
import { unetEncoder, skipShapes } from './encoder.ts';
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
  const g = o.graph ?? new Graph('unet');
  const dtype = o.dtype ?? 'float32';
  const w = new Weights(g, source, dtype);
  const layers = selfAttentionLayers(cfg);
  const variant = o.selfAttention ?? softmaxAttention();
  if (o.symbolic) checkSymbolic(variant, o);
  variant.prepare?.(layers);
  const n = cfg.blockOutChannels.length;
  const { sample, timestep, text: text32, textTime, perturbation } = declareUNetInputs(g, cfg, layers, o, source.path);
  const text = op.cast(text32, dtype);
  const ip = o.ipAdapter && {
    tokens: g.input(IP_TOKENS, 'float32', [o.batch, o.ipAdapter.tokens, cfg.crossAttentionDim[0]]),
    scale: g.input(IP_SCALE, 'float32', [1]),
  };

  const ctx: TransformerContext = {
    selfAttention: variant,
    crossAttention: o.crossAttention,
    perturbation,
    layerByName: new Map(layers.map((l) => [l.name, l])),
    latent: { height: o.height, width: o.width },
    groups: cfg.normGroups,
    linearProjection: cfg.useLinearProjection,
    upcast: cfg.upcastAttention,
    kernels: o.kernels,
    memory: o.memory,
    imagePrompt: ip && imagePromptAttention(o.ipAdapter!.layers, cfg, ip.tokens, ip.scale, dtype),
  };
  const fusedNorm = o.kernels?.groupNormSilu ?? false;
  const resnetOpts = { groups: cfg.normGroups, eps: cfg.normEps, fusedNorm };
  const control = o.controlResiduals ? declareResiduals(g, cfg, o) : undefined;
  const timeAct = g.scope('time_embedding', () => op.silu(conditioningEmbedding(w, cfg, timestep, textTime)));

  const conv = nn.conv2d(w.sub('conv_in'), op.cast(sample, dtype), { padding: (cfg.convInKernel - 1) / 2 });
  const encoded = unetEncoder(w, cfg, ctx, { x: conv, timeAct, text });
  // ControlNet residuals are added to every skip connection and to the mid block's output.
  const skips = control ? encoded.skips.map((s, i) => op.add(s, op.cast(control.down[i], dtype))) : encoded.skips;
  let x = control ? op.add(encoded.x, op.cast(control.mid, dtype)) : encoded.x;

  cfg.upBlockTypes.forEach((type, i) => g.scope(`up_blocks.${i}`, () => {
    const bw = w.sub(`up_blocks.${i}`);
    const r = upIndex(cfg, i);
    for (let j = 0; j < cfg.layersPerBlock[r] + 1; j++) {
      x = op.concat([x, skips.pop()!], 1);
      x = resnetBlock(bw.sub(`resnets.${j}`), x, timeAct, cfg.blockOutChannels[r], resnetOpts);
      if (type === 'CrossAttnUpBlock2D') x = transformer2d(bw.sub(`attentions.${j}`), `up_blocks.${i}.attentions.${j}`, x, text, cfg.upDepth[i][j], ctx);
    }
    if (i < n - 1) {
      const next = skips[skips.length - 1];
      x = upsample(bw.sub('upsamplers.0'), x, next.shape[2], next.shape[3]);
    }
  }));

  x = nn.groupNormSilu(w.sub('conv_norm_out'), x, cfg.normGroups, cfg.normEps, fusedNorm);
  x = nn.conv2d(w.sub('conv_out'), x, { padding: (cfg.convOutKernel - 1) / 2 });
  g.output(op.cast(x, 'float32'), UNET_OUTPUT);

  const inputNames = [sample, timestep, text32, textTime?.textEmbeds, textTime?.timeIds, perturbation?.weights, ...(control?.down ?? []), control?.mid, ip?.tokens, ip?.scale].flatMap((t) => (t ? [t.name] : []));
  return { graph: g, layers, inputNames };
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

// Random-weight SD UNets and plain onnxruntime-node sessions for the GPU inbox benches (bench/webgpu-probe.ts,
// bench/webgpu-rows.ts). They run as esbuild bundles beside either the project's onnxruntime-node (WebGPU) or the
// device kit's CUDA build, so nothing here loads the native session's FFI (bench/lib/unet-run.ts does).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile, f16ToF32 } from '../../pipelines/io/safetensors.ts';
import type { Graph } from '../../pipelines/onnx/graph.ts';
import { parseUNetConfig, type UNetConfig } from '../../pipelines/models/unet/config.ts';
import { buildUNet } from '../../pipelines/models/unet/unet.ts';
import { attentionSchedule } from '../../pipelines/attention/registry.ts';
import { fusedKernels } from '../../pipelines/runtime/kernels.ts';
import { lowerForProvider } from '../../pipelines/runtime/lowering.ts';
import { ort, ortErrorReason } from '../../pipelines/runtime/session.ts';
import { Uniform, writeRandomSafetensors } from './random-safetensors.ts';
import { SD15_UNET_CONFIG, SDXL_UNET_CONFIG, linfusionModules, unetTensorSpecs } from './unet-tensors.ts';

export const BATCH = 2;
export type ModelName = 'sd15' | 'sdxl' | 'narrow';
/** AgentSD's late phase (plain ToMe) is `agent-late`. */
export type VariantName = 'softmax' | 'linfusion' | 'agent' | 'agent-late';

const CONFIGS: Record<ModelName, Record<string, unknown>> = {
  sd15: SD15_UNET_CONFIG,
  sdxl: SDXL_UNET_CONFIG,
  // SD 1.5's layout at a sixth of its widths: node placement and CPU checks of the scripts.
  narrow: { ...SD15_UNET_CONFIG, block_out_channels: [64, 128, 128, 128] },
};

export const unetConfig = (model: ModelName): UNetConfig => parseUNetConfig(CONFIGS[model], `${model} UNet (bench)`);

/** Writes the model's random fp16 weights and LinFusion modules into `dir` (once). */
export function writeRandomModel(dir: string, model: ModelName): void {
  const cfg = unetConfig(model);
  mkdirSync(join(dir, `linfusion-${model}`), { recursive: true });
  const weights = join(dir, `${model}.safetensors`);
  if (!existsSync(weights)) writeRandomSafetensors(weights, unetTensorSpecs(cfg), 'F16', 5);
  const lin = linfusionModules(cfg);
  const linDir = join(dir, `linfusion-${model}`);
  writeFileSync(join(linDir, 'config.json'), JSON.stringify(lin.config));
  if (!existsSync(join(linDir, 'diffusion_pytorch_model.safetensors'))) writeRandomSafetensors(join(linDir, 'diffusion_pytorch_model.safetensors'), lin.specs, 'F16', 6);
}

export interface BuiltUNet {
  graph: Graph;
  feeds: Record<string, ort.Tensor>;
}

/**
 * The UNet of `model` (weights from writeRandomModel) with `variant` at `size`² pixels, batch 2, and its feeds
 * (deterministic: the same in every process, AgentSD's partitions included). `fused`: the CUDA provider's kernels.
 */
export function buildRandomUNet(dir: string, model: ModelName, variant: VariantName, size: number, dtype: 'float16' | 'float32', fused = false): BuiltUNet {
  const cfg = unetConfig(model);
  const request = variant === 'linfusion' ? { kind: 'linfusion' as const, path: join(dir, `linfusion-${model}`) } : { kind: variant === 'softmax' ? ('softmax' as const) : ('agent' as const) };
  const phase = attentionSchedule(request, 1)(variant === 'agent-late' ? 49 : 0, 50);
  const attention = phase.build();
  const latent = size / 8;
  const weights = SafetensorsFile.open(join(dir, `${model}.safetensors`));
  const kernels = fused ? fusedKernels('cuda') : undefined;
  const graph = buildUNet(weights, cfg, { batch: BATCH, height: latent, width: latent, dtype, selfAttention: attention, kernels }).graph;
  const r = new Uniform(3);
  const text = cfg.crossAttentionDim[0];
  const feeds: Record<string, ort.Tensor> = {
    sample: new ort.Tensor('float32', r.fill(new Float32Array(BATCH * cfg.inChannels * latent * latent), 1), [BATCH, cfg.inChannels, latent, latent]),
    timestep: new ort.Tensor('float32', Float32Array.of(500, 500), [BATCH]),
    encoder_hidden_states: new ort.Tensor('float32', r.fill(new Float32Array(BATCH * 77 * text), 1), [BATCH, 77, text]),
    ...(phase.feeds?.(attention, BATCH) ?? {}),
  };
  if (cfg.textTime) {
    const pooled = cfg.textTime.projectionInputDim - 6 * cfg.textTime.timeEmbedDim;
    feeds.text_embeds = new ort.Tensor('float32', r.fill(new Float32Array(BATCH * pooled), 1), [BATCH, pooled]);
    feeds.time_ids = new ort.Tensor('float32', Float32Array.from({ length: BATCH * 6 }, (_, i) => [size, size, 0, 0, size, size][i % 6]), [BATCH, 6]);
  }
  return { graph, feeds };
}

export interface BenchSessionOptions {
  /** WebGPU provider options (preferredLayout, validationMode, …). */
  epOptions?: Record<string, unknown>;
  /** runtime/lowering.ts's rewrite set for the provider (default: `default`, as the studio's sessions get), or none. */
  lowering?: false | string;
  /** The provider to lower for (default: the session's; a CPU check of a script lowers for the GPU's). */
  lowerFor?: string;
  profilePrefix?: string;
}

export interface BenchSession {
  session: ort.InferenceSession;
  /** Why the session needed the CPU provider (empty: every node on the provider). */
  note: string;
  /** What the lowering rewrote. */
  lowered: Record<string, number>;
}

/** An onnxruntime-node session on `ep` with CPU fallback forbidden, or allowed (and said why) when refused. */
export async function benchSession(graph: Graph, ep: string, o: BenchSessionOptions = {}): Promise<BenchSession> {
  const lowered = o.lowering === false ? {} : lowerForProvider(graph, o.lowerFor ?? ep, o.lowering);
  const { bytes, externalDataFolder } = graph.serialize();
  const provider = ep === 'webgpu' ? { name: 'webgpu', ...o.epOptions } : ep;
  const options = (strict: boolean): ort.InferenceSession.SessionOptions => {
    const session: Record<string, string> = strict && ep !== 'cpu' ? { disable_cpu_ep_fallback: '1' } : {};
    if (externalDataFolder) session.model_external_initializers_file_folder_path = externalDataFolder;
    return {
      executionProviders: [provider as 'webgpu'],
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      extra: { session },
      ...(o.profilePrefix ? { enableProfiling: true, profileFilePrefix: o.profilePrefix } : {}),
    };
  };
  try {
    return { session: await ort.InferenceSession.create(bytes, options(true)), note: '', lowered };
  } catch (e) {
    return { session: await ort.InferenceSession.create(bytes, options(false)), note: `CPU nodes (${ortErrorReason(e).slice(0, 100)})`, lowered };
  }
}

export const asF32 = (t: ort.Tensor): Float32Array => (t.type === 'float16' ? f16ToF32(t.data as Uint16Array) : Float32Array.from(t.data as Float32Array));
export { median } from './matrix-report.ts';
export { relL2 } from '../../test/fixtures.ts';

// What bench/gpu-matrix.ts measures, most needed first (the call has a time budget): the UNet configs of
// SD 1.5 and SDXL, the rows (model × variant × size × provider × float type × fused kernels or not), and
// how many steps each row times.
import type { Provider } from '../../pipelines/runtime/session.ts';
import { SD15_UNET_CONFIG, SDXL_UNET_CONFIG } from './unet-tensors.ts';
import type { VariantName } from './unet-run.ts';

export const MODELS = { sd15: SD15_UNET_CONFIG, sdxl: SDXL_UNET_CONFIG } as const;
export type ModelName = keyof typeof MODELS;

export const SIZES = [512, 1024, 2048] as const;
/** Variants PyTorch runs too (it has no AgentSD); AgentSD is refused on SDXL by the studio itself. */
export const TORCH_VARIANTS: readonly VariantName[] = ['softmax', 'linfusion'];

export interface Row {
  model: ModelName;
  variant: VariantName;
  size: number;
  ep: Provider;
  dtype: 'float16' | 'float32';
  fused: boolean;
  /** CUDA provider options through the native session (runtime/native/cuda-options.ts), or none: onnxruntime-node. */
  tuning?: string;
  /** Which group of the plan: `main` rows are what the issue's targets are judged on. */
  group: 'main' | 'binding' | 'profile' | 'tuning' | 'fusion off' | 'webgpu' | 'fp32' | 'cpu';
  /** 1: runs before the PyTorch side (what the targets need); 2: after it, while the time budget lasts. */
  phase: 1 | 2;
}

/** Timed steps after the warm-up: fewer where a step is long. */
export const stepsFor = (ep: Provider, size: number): number => (ep === 'cpu' ? 1 : size <= 512 ? 10 : size <= 1024 ? 5 : 3);

/** `sizes`: the three sizes the rows use in place of 512², 1024², 2048² (smaller for the tiny CPU check). */
export function plan(models: readonly ModelName[], providers: readonly Provider[], cudaTuning = 'studio', sizes: readonly number[] = SIZES): Row[] {
  const rows: Row[] = [];
  const add = (phase: Row['phase'], group: Row['group'], ep: Provider, dtype: Row['dtype'], fused: boolean, list: [ModelName, VariantName[], number[]][], tuning?: string) => {
    if (!providers.includes(ep)) return;
    for (const [model, variants, at] of list) {
      if (!models.includes(model)) continue;
      for (const size of at) for (const variant of variants) rows.push({ model, variant, size, ep, dtype, fused, group, phase, ...(tuning ? { tuning } : {}) });
    }
  };
  const all = [...sizes];
  const [small, mid, large] = sizes;
  // CUDA through the native session with the studio's provider options (what the targets are judged on),
  // then the same graphs through onnxruntime-node's binding (device id only) for the difference.
  add(1, 'main', 'cuda', 'float16', true, [['sd15', ['softmax', 'linfusion'], all], ['sdxl', ['softmax', 'linfusion'], all]], cudaTuning);
  add(1, 'binding', 'cuda', 'float16', true, [['sd15', ['softmax'], [mid, large]]]);
  // WebGPU at 1024² in the first phase: the issue's WebGPU target (≤ 3× CUDA) is judged there.
  add(1, 'webgpu', 'webgpu', 'float16', false, [['sd15', ['softmax', 'linfusion'], [mid]]]);
  // The largest size with CUDA's pool as every session's arena (the split UNet's default), with the CUDA graph and
  // without: session 11 measured more than the BFC arena for whole graphs (5.88 against 4.06 GiB), kept to watch.
  add(2, 'tuning', 'cuda', 'float16', true, [['sd15', ['softmax', 'linfusion'], [large]]], `${cudaTuning},mempool=1`);
  add(2, 'tuning', 'cuda', 'float16', true, [['sd15', ['softmax'], [large]]], `${cudaTuning},mempool=1,graph=0`);
  // Where a 1024² step's time goes, op type by op type (ORT's profiler; its own row: profiling slows steps).
  add(1, 'profile', 'cuda', 'float16', true, [['sd15', ['softmax'], [mid]]], cudaTuning);
  add(2, 'main', 'cuda', 'float16', true, [['sd15', ['agent'], all]], cudaTuning);
  add(2, 'fusion off', 'cuda', 'float16', false, [['sd15', ['softmax'], [mid, large]], ['sdxl', ['softmax'], [mid]]], cudaTuning);
  // One option of the studio's tuning put back to ORT's default at a time: what each is worth.
  for (const change of ['nhwc=0', 'conv=EXHAUSTIVE,maxws=1', 'arena=kNextPowerOfTwo']) add(2, 'tuning', 'cuda', 'float16', true, [['sd15', ['softmax'], [mid]]], `${cudaTuning},${change}`);
  add(2, 'tuning', 'cuda', 'float16', true, [['sd15', ['softmax'], [mid, large]]], `${cudaTuning},mempattern=0`);
  // The main rows run a CUDA graph, as the studio's whole UNet does; without one, for what it is worth.
  add(2, 'tuning', 'cuda', 'float16', true, [['sd15', ['softmax', 'linfusion'], [small, mid]]], `${cudaTuning},graph=0`);
  add(2, 'webgpu', 'webgpu', 'float16', false, [['sd15', ['agent'], [mid]], ['sdxl', ['softmax', 'linfusion'], [mid]], ['sd15', ['softmax', 'linfusion', 'agent'], [small]]]);
  add(2, 'fp32', 'cuda', 'float32', true, [['sd15', ['softmax', 'linfusion'], [small, mid]]], cudaTuning);
  add(2, 'cpu', 'cpu', 'float32', false, [['sd15', ['softmax'], [small]]]);
  return rows;
}

export const rowKey = (r: Pick<Row, 'model' | 'variant' | 'size' | 'ep' | 'dtype' | 'fused' | 'tuning' | 'group'>): string =>
  `${r.group === 'profile' ? 'profile-' : ''}${r.model}-${r.variant}-${r.size}-${r.ep}-${r.dtype}${r.fused ? '-fused' : ''}${r.tuning ? `-native${r.tuning.includes(',') ? `-${r.tuning.split(',').slice(1).join('-').replace(/[^A-Za-z0-9-]/g, '')}` : ''}` : ''}`;

// Where a PixArt pipeline's parts come from: a diffusers PixArt folder, or one transformer file in PixArt's
// own layout (PixArt-α/Σ's or LiT's releases, .pth or .safetensors) whose other parts (T5, VAE, tokenizer,
// scheduler, transformer config) come from a diffusers PixArt folder beside it named like the file
// (`lit-xl2-512.pth` → `lit-xl2-512/`). Tensors the file lacks are inherited from that folder's transformer,
// as LiT builds its model from PixArt-Σ's weights; a LiT layer without its own `proj` takes PixArt's
// attention output projection, which is what LiT's loading keeps of the softmax attention.
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { componentWeights } from '../../checkpoints/diffusers-folder.ts';
import type { KeyedSource } from '../../checkpoints/sources.ts';
import { SafetensorsFile, type TensorInfo } from '../../io/safetensors.ts';
import { TorchPtFile } from '../../io/torch-pt.ts';
import { CheckpointShapeError } from '../../onnx/weights.ts';
import { pixartOriginalLayout } from './original-layout.ts';

export interface PixArtSources {
  /** The diffusers folder with T5, VAE, tokenizer, scheduler and the transformer's config.json. */
  dir: string;
  transformer: KeyedSource;
  /** What the transformer is, for notes: "a PixArt diffusers folder" or "LiT weights from FILE over …". */
  description: string;
}

const inheritedName = (name: string) => name.replace(/\.attn1\.proj\.(weight|bias)$/, '.attn1.to_out.0.$1');

/** `own`'s tensors, and the base's where `own` has none (LiT's proj: the base's attn1.to_out.0). */
export class InheritedSource implements KeyedSource {
  constructor(
    private readonly own: KeyedSource,
    private readonly base: KeyedSource,
  ) {}

  get path(): string {
    return this.own.path;
  }

  has(name: string): boolean {
    return this.own.has(name) || this.base.has(inheritedName(name));
  }

  info(name: string): TensorInfo {
    if (this.own.has(name)) return this.own.info(name);
    if (this.base.has(inheritedName(name))) return this.base.info(inheritedName(name));
    throw new CheckpointShapeError(this.own.path, name, `is neither in this file nor in the PixArt transformer it inherits from (${this.base.path})`);
  }

  keys(): string[] {
    const own = new Set(this.own.keys());
    const lit = (k: string) => k.includes('.attn1.') && own.has(k.replace(/\.attn1\.[^.]+\.(weight|bias)$/, '.attn1.dwc.weight'));
    // A LiT layer reads q, kv, proj and dwc; the base's softmax projections of that layer are not its weights.
    return [...own, ...this.base.keys().filter((k) => !own.has(k) && !lit(k))];
  }
}

const NOTHING: KeyedSource = { path: '(no transformer weights in the folder)', has: () => false, keys: () => [], info: (n) => { throw new CheckpointShapeError('(none)', n, 'no base transformer to inherit from'); } };

function openTransformerFile(file: string): KeyedSource {
  const tensors = /\.pth?$/i.test(file) ? TorchPtFile.open(file) : SafetensorsFile.open(file);
  return pixartOriginalLayout(tensors);
}

export function pixartSources(target: string): PixArtSources {
  if (statSync(target).isDirectory()) return { dir: target, transformer: componentWeights(join(target, 'transformer'), 'diffusion_pytorch_model'), description: 'a PixArt diffusers folder' };
  const dir = join(dirname(target), basename(target, extname(target)));
  const own = openTransformerFile(target);
  const kind = own.keys().some((k) => k.endsWith('.attn1.dwc.weight')) ? 'LiT' : 'PixArt';
  if (!existsSync(join(dir, 'model_index.json'))) {
    throw new Error(`${target}: a ${kind} transformer file holds no T5, VAE or scheduler; put a diffusers PixArt-Σ folder (model_index.json, transformer/config.json, text_encoder/, tokenizer/, vae/, scheduler/) beside it named ${basename(dir)}/`);
  }
  const hasBase = ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.safetensors.index.json'].some((f) => existsSync(join(dir, 'transformer', f)));
  const base = hasBase ? componentWeights(join(dir, 'transformer'), 'diffusion_pytorch_model') : NOTHING;
  return { dir, transformer: new InheritedSource(own, base), description: `${kind} weights from ${basename(target)} over ${basename(dir)}/` };
}

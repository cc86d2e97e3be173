// UNet tensor names: the original (CompVis/SGM) layout of single-file checkpoints, under
// `model.diffusion_model.`, and diffusers' UNet2DConditionModel layout. The same map serves SD 1.x,
// SD 2.x and SDXL; names inside the transformer blocks are identical in both layouts.
//
// Original layout: input_blocks.0 is conv_in; then per level `layers_per_block` blocks of
// [resnet, attention?] and one downsampler block (`.0.op`), except after the last level.
// output_blocks: per level `layers_per_block + 1` blocks of [resnet, attention?, upsampler?].

export interface UnetLayout {
  layersPerBlock: number;
  /** Per diffusers up block: whether it has attentions (decides where its upsampler sits). */
  upBlockHasAttention: readonly boolean[];
}

const RESNET_ORIGINAL_TO_DIFFUSERS: [string, string][] = [
  ['in_layers.0.', 'norm1.'],
  ['in_layers.2.', 'conv1.'],
  ['emb_layers.1.', 'time_emb_proj.'],
  ['out_layers.0.', 'norm2.'],
  ['out_layers.3.', 'conv2.'],
  ['skip_connection.', 'conv_shortcut.'],
];

const TOP_LEVEL: [string, string][] = [
  ['time_embed.0.', 'time_embedding.linear_1.'],
  ['time_embed.2.', 'time_embedding.linear_2.'],
  ['label_emb.0.0.', 'add_embedding.linear_1.'],
  ['label_emb.0.2.', 'add_embedding.linear_2.'],
  ['input_blocks.0.0.', 'conv_in.'],
  ['out.0.', 'conv_norm_out.'],
  ['out.2.', 'conv_out.'],
];

function replacePrefix(name: string, table: readonly [string, string][], from: 0 | 1): string | undefined {
  for (const pair of table) {
    if (name.startsWith(pair[from])) return pair[1 - from] + name.slice(pair[from].length);
  }
  return undefined;
}

/** `layers_per_block` of an original-layout UNet: the first downsampler sits at input_blocks.{lpb + 1}. */
export function originalLayersPerBlock(keys: readonly string[]): number {
  for (const k of keys) {
    const m = /^input_blocks\.(\d+)\.0\.op\.weight$/.exec(k);
    if (m) return Number(m[1]) - 1;
  }
  // A UNet without downsamplers has one level: count its input blocks.
  const blocks = new Set(keys.map((k) => /^input_blocks\.(\d+)\./.exec(k)?.[1]).filter((x) => x !== undefined));
  return blocks.size - 1;
}

/** Original name (without `model.diffusion_model.`) → diffusers name; undefined for names it does not know. */
export function unetOriginalToDiffusers(name: string, layersPerBlock: number): string | undefined {
  const top = replacePrefix(name, TOP_LEVEL, 0);
  if (top) return top;
  const perLevel = layersPerBlock + 1;
  let m = /^input_blocks\.(\d+)\.(\d+)\.(.+)$/.exec(name);
  if (m) {
    const [n, part, rest] = [Number(m[1]), Number(m[2]), m[3]];
    const level = Math.floor((n - 1) / perLevel);
    const j = (n - 1) % perLevel;
    if (j === layersPerBlock) return part === 0 && rest.startsWith('op.') ? `down_blocks.${level}.downsamplers.0.conv.${rest.slice(3)}` : undefined;
    if (part === 0) return resnet(`down_blocks.${level}.resnets.${j}.`, rest);
    return part === 1 ? `down_blocks.${level}.attentions.${j}.${rest}` : undefined;
  }
  m = /^middle_block\.(\d+)\.(.+)$/.exec(name);
  if (m) {
    const [part, rest] = [Number(m[1]), m[2]];
    if (part === 1) return `mid_block.attentions.0.${rest}`;
    return part === 0 || part === 2 ? resnet(`mid_block.resnets.${part / 2}.`, rest) : undefined;
  }
  m = /^output_blocks\.(\d+)\.(\d+)\.(.+)$/.exec(name);
  if (m) {
    const [n, part, rest] = [Number(m[1]), Number(m[2]), m[3]];
    const level = Math.floor(n / perLevel);
    const j = n % perLevel;
    if (part === 0) return resnet(`up_blocks.${level}.resnets.${j}.`, rest);
    if (rest.startsWith('conv.')) return `up_blocks.${level}.upsamplers.0.${rest}`;
    return part === 1 ? `up_blocks.${level}.attentions.${j}.${rest}` : undefined;
  }
  return undefined;
}

function resnet(prefix: string, rest: string): string | undefined {
  const renamed = replacePrefix(rest, RESNET_ORIGINAL_TO_DIFFUSERS, 0);
  return renamed === undefined ? undefined : prefix + renamed;
}

/** Diffusers name → original name (without `model.diffusion_model.`); the inverse of `unetOriginalToDiffusers`. */
export function unetDiffusersToOriginal(name: string, layout: UnetLayout): string | undefined {
  const top = replacePrefix(name, TOP_LEVEL, 1);
  if (top) return top;
  const perLevel = layout.layersPerBlock + 1;
  const resnetBack = (prefix: string, rest: string) => {
    const r = replacePrefix(rest, RESNET_ORIGINAL_TO_DIFFUSERS, 1);
    return r === undefined ? undefined : prefix + r;
  };
  let m = /^down_blocks\.(\d+)\.(resnets|attentions|downsamplers)\.(\d+)\.(.+)$/.exec(name);
  if (m) {
    const [level, kind, j, rest] = [Number(m[1]), m[2], Number(m[3]), m[4]];
    if (kind === 'downsamplers') return rest.startsWith('conv.') ? `input_blocks.${(level + 1) * perLevel}.0.op.${rest.slice(5)}` : undefined;
    const n = 1 + level * perLevel + j;
    return kind === 'resnets' ? resnetBack(`input_blocks.${n}.0.`, rest) : `input_blocks.${n}.1.${rest}`;
  }
  m = /^mid_block\.(resnets|attentions)\.(\d+)\.(.+)$/.exec(name);
  if (m) {
    const [kind, j, rest] = [m[1], Number(m[2]), m[3]];
    return kind === 'attentions' ? `middle_block.1.${rest}` : resnetBack(`middle_block.${j * 2}.`, rest);
  }
  m = /^up_blocks\.(\d+)\.(resnets|attentions|upsamplers)\.(\d+)\.(.+)$/.exec(name);
  if (m) {
    const [level, kind, j, rest] = [Number(m[1]), m[2], Number(m[3]), m[4]];
    if (kind === 'upsamplers') {
      const part = layout.upBlockHasAttention[level] ? 2 : 1;
      return `output_blocks.${level * perLevel + layout.layersPerBlock}.${part}.${rest}`;
    }
    const n = level * perLevel + j;
    return kind === 'resnets' ? resnetBack(`output_blocks.${n}.0.`, rest) : `output_blocks.${n}.1.${rest}`;
  }
  return undefined;
}

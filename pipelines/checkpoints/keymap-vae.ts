// AutoencoderKL tensor names: the original (CompVis) layout of single-file checkpoints and VAE files
// (`encoder.down.0.block.0…`, `decoder.up.3.upsample…`) → diffusers' (`encoder.down_blocks.0.resnets.0…`).
// The original decoder numbers its `up` levels from the full-resolution end; diffusers the other way.

const RESNET: [string, string][] = [['nin_shortcut.', 'conv_shortcut.']];
const ATTENTION: [string, string][] = [
  ['norm.', 'group_norm.'],
  ['q.', 'to_q.'],
  ['k.', 'to_k.'],
  ['v.', 'to_v.'],
  ['proj_out.', 'to_out.0.'],
];

function rename(rest: string, table: readonly [string, string][]): string {
  for (const [from, to] of table) if (rest.startsWith(from)) return to + rest.slice(from.length);
  return rest;
}

/** Number of `decoder.up.N` levels among original-layout keys. */
export function originalDecoderLevels(keys: readonly string[]): number {
  let levels = 0;
  for (const k of keys) {
    const m = /^decoder\.up\.(\d+)\./.exec(k);
    if (m) levels = Math.max(levels, Number(m[1]) + 1);
  }
  return levels;
}

/** Original name (without `first_stage_model.`) → diffusers name; undefined for names it does not know. */
export function vaeOriginalToDiffusers(name: string, decoderLevels: number): string | undefined {
  if (/^(post_)?quant_conv\./.test(name)) return name;
  const m = /^(encoder|decoder)\.(.+)$/.exec(name);
  if (!m) return undefined;
  const [part, rest] = [m[1], m[2]];
  const simple = /^(conv_in|conv_out)\.(.+)$/.exec(rest);
  if (simple) return `${part}.${rest}`;
  if (rest.startsWith('norm_out.')) return `${part}.conv_norm_out.${rest.slice('norm_out.'.length)}`;
  let r = /^mid\.block_([12])\.(.+)$/.exec(rest);
  if (r) return `${part}.mid_block.resnets.${Number(r[1]) - 1}.${rename(r[2], RESNET)}`;
  r = /^mid\.attn_1\.(.+)$/.exec(rest);
  if (r) return `${part}.mid_block.attentions.0.${rename(r[1], ATTENTION)}`;
  r = /^(down|up)\.(\d+)\.(block\.(\d+)|downsample|upsample)\.(.+)$/.exec(rest);
  if (!r) return undefined;
  const [dir, levelStr, what, j, tail] = [r[1], r[2], r[3], r[4], r[5]];
  if ((dir === 'down') !== (part === 'encoder')) return undefined;
  const level = dir === 'down' ? Number(levelStr) : decoderLevels - 1 - Number(levelStr);
  const block = dir === 'down' ? 'down_blocks' : 'up_blocks';
  if (j !== undefined) return `${part}.${block}.${level}.resnets.${j}.${rename(tail, RESNET)}`;
  const sampler = dir === 'down' ? 'downsamplers' : 'upsamplers';
  return what === `${dir}sample` ? `${part}.${block}.${level}.${sampler}.0.${tail}` : undefined;
}

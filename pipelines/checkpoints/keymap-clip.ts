// Text-encoder tensor names in single-file checkpoints → the names models/clip reads (HF CLIP names
// without the `text_model.` prefix, plus OpenCLIP's stacked `in_proj_*` and `text_projection`).
//
// HF-layout CLIP (SD 1.x `cond_stage_model.transformer.`, SDXL `conditioner.embedders.0.transformer.`)
// only loses its prefix. OpenCLIP (SD 2.x `cond_stage_model.model.`, SDXL `conditioner.embedders.1.model.`)
// is renamed piece by piece.

/** HF CLIP keys under `prefix` (with or without `text_model.`) → canonical names. */
export function hfClipToCanonical(name: string, prefix: string): string | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  const canonical = rest.startsWith('text_model.') ? rest.slice('text_model.'.length) : rest;
  return canonical === 'embeddings.position_ids' ? undefined : canonical; // a buffer, not a weight
}

const OPEN_CLIP_LAYER: [string, string][] = [
  ['ln_1.', 'layer_norm1.'],
  ['ln_2.', 'layer_norm2.'],
  ['attn.in_proj_weight', 'self_attn.in_proj_weight'],
  ['attn.in_proj_bias', 'self_attn.in_proj_bias'],
  ['attn.out_proj.', 'self_attn.out_proj.'],
  ['mlp.c_fc.', 'mlp.fc1.'],
  ['mlp.c_proj.', 'mlp.fc2.'],
];

/** OpenCLIP text-tower keys under `prefix` → canonical names. */
export function openClipToCanonical(name: string, prefix: string): string | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  switch (rest) {
    case 'token_embedding.weight': return 'embeddings.token_embedding.weight';
    case 'positional_embedding': return 'embeddings.position_embedding.weight';
    case 'text_projection': return 'text_projection';
    case 'ln_final.weight': return 'final_layer_norm.weight';
    case 'ln_final.bias': return 'final_layer_norm.bias';
  }
  const m = /^transformer\.resblocks\.(\d+)\.(.+)$/.exec(rest);
  if (!m) return undefined;
  for (const [from, to] of OPEN_CLIP_LAYER) {
    if (m[2].startsWith(from)) return `encoder.layers.${m[1]}.${to}${m[2].slice(from.length)}`;
  }
  return undefined;
}

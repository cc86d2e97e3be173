// How an image names a model file: by its file name, not the path it had on the machine that made it.
import { basename } from 'node:path';

/** A model's display name: the file name without its weights extension, or the folder name. */
export function modelLabel(path: string): string {
  return basename(path.replace(/[\\/]+$/, '')).replace(/\.(safetensors|ckpt|pt|pth|bin|sft)$/i, '');
}

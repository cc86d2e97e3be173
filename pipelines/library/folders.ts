// Where each kind of file lives in a models folder laid out as A1111's (stable-diffusion-webui, Forge)
// or ComfyUI's. `dir` may be the web UI's root or its `models` folder; folder names match without
// regard to case, as they do on Windows and macOS where most of these folders were made.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { LibraryKind } from '../jobs/api-library.ts';

/** Per kind: A1111's folders, then ComfyUI's, relative to the root. */
export const KIND_FOLDERS: Record<LibraryKind, readonly string[]> = {
  checkpoint: ['models/Stable-diffusion', 'models/checkpoints'],
  lora: ['models/Lora', 'models/LyCORIS', 'models/loras'],
  embedding: ['embeddings', 'models/embeddings'],
  vae: ['models/VAE', 'models/vae'],
  controlnet: ['models/ControlNet', 'models/controlnet'],
  // A1111 keeps IP-Adapters with the ControlNets (their tensors tell them apart); ComfyUI has folders of its own.
  'ip-adapter': ['models/ipadapter'],
  'image-encoder': ['models/clip_vision'],
  upscaler: ['models/ESRGAN', 'models/RealESRGAN', 'models/upscale_models'],
};

/** `parent/name`, matching `name` without regard to case; undefined when there is no such folder. */
function childFolder(parent: string, name: string): string | undefined {
  if (!existsSync(parent) || !statSync(parent).isDirectory()) return undefined;
  const exact = join(parent, name);
  if (existsSync(exact) && statSync(exact).isDirectory()) return exact;
  const found = readdirSync(parent, { withFileTypes: true }).find((d) => d.isDirectory() && d.name.toLowerCase() === name.toLowerCase());
  return found && join(parent, found.name);
}

function folderAt(root: string, relative: string): string | undefined {
  let at: string | undefined = root;
  for (const part of relative.split('/')) at = at && childFolder(at, part);
  return at;
}

/** The folders of `dir` that hold files of each kind (the `models/` part may be left out of `dir`). */
export function kindFolders(dir: string): { kind: LibraryKind; folder: string }[] {
  const found: { kind: LibraryKind; folder: string }[] = [];
  const seen = new Set<string>();
  for (const [kind, folders] of Object.entries(KIND_FOLDERS) as [LibraryKind, readonly string[]][]) {
    for (const relative of folders) {
      for (const candidate of [relative, relative.replace(/^models\//, '')]) {
        const folder = folderAt(dir, candidate);
        if (folder && !seen.has(folder)) {
          seen.add(folder);
          found.push({ kind, folder });
        }
      }
    }
  }
  return found;
}

// The outputs folder as a gallery: generated images are written there (PNG with the A1111 and studio
// chunks), and listed back with the settings their metadata holds. Metadata is read once per file.
import { mkdirSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeNewFileAtomic } from '../../pipelines/queue/atomic-write.ts';
import { encodePng } from '../../pipelines/metadata/encode-png.ts';
import { metadataChunks, type GenerationRecord } from '../../pipelines/metadata/generation-metadata.ts';
import { readImageMetadata } from '../../pipelines/metadata/read-metadata.ts';
import type { GeneratedImage } from '../../pipelines/jobs/api.ts';
import type { GalleryImage } from '../../pipelines/jobs/api-studio.ts';

/** Names the gallery writes and serves: no folders, no dot files, PNG only. */
const IMAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*\.png$/;

export function isGalleryName(name: string): boolean {
  return IMAGE_NAME.test(name) && !name.includes('..');
}

function stamp(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}-${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`;
}

export type ReadGalleryMetadata = (path: string, name: string) => Promise<Pick<GalleryImage, 'settings' | 'request' | 'warnings'>>;

async function readMetadataHere(path: string, name: string): Promise<Pick<GalleryImage, 'settings' | 'request' | 'warnings'>> {
  const meta = readImageMetadata(await readFile(path), name);
  return { settings: meta.settings, request: meta.studio?.request, warnings: meta.warnings };
}

export class Gallery {
  private readonly cache = new Map<string, { key: string; image: GalleryImage }>();

  /** `readMetadata` reads one image's settings; the server runs it in its inspector worker. */
  constructor(
    readonly dir: string,
    private readonly readMetadata: ReadGalleryMetadata = readMetadataHere,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  /** The file path of a gallery image, or undefined for a name that is not one (never a path outside the folder). */
  pathOf(name: string): string | undefined {
    return isGalleryName(name) ? join(this.dir, name) : undefined;
  }

  /** Writes one generated image with its metadata; returns its gallery entry. */
  async save(image: GeneratedImage, record: Omit<GenerationRecord, 'image'>): Promise<GalleryImage> {
    const { width, height, seed, batchIndex } = image;
    const png = await encodePng(image, metadataChunks({ ...record, image: { width, height, seed, batchIndex } }));
    const base = `${stamp(new Date())}-${seed}-${batchIndex}`;
    for (let n = 0; ; n++) {
      const name = n === 0 ? `${base}.png` : `${base}-${n}.png`;
      if (await writeNewFileAtomic(join(this.dir, name), png)) return this.entry(name);
    }
  }

  /** Writes an image with the given PNG text chunks (story images carry their own); `base` names it. */
  async saveWithChunks(image: { width: number; height: number; pixels: Uint8Array }, chunks: ReadonlyArray<readonly [string, string]>, base: string): Promise<GalleryImage> {
    const png = await encodePng(image, chunks);
    const stem = `${stamp(new Date())}-${base.replace(/[^A-Za-z0-9_.-]+/g, '-')}`;
    for (let n = 0; ; n++) {
      const name = n === 0 ? `${stem}.png` : `${stem}-${n}.png`;
      if (await writeNewFileAtomic(join(this.dir, name), png)) return this.entry(name);
    }
  }

  /** Newest first. */
  async list(limit: number): Promise<GalleryImage[]> {
    const names = (await readdir(this.dir)).filter(isGalleryName);
    const stats = await Promise.all(names.map(async (name) => ({ name, s: await stat(join(this.dir, name)).catch(() => undefined) })));
    const newest = stats
      .filter((x) => x.s?.isFile())
      .sort((a, b) => b.s!.mtimeMs - a.s!.mtimeMs || b.name.localeCompare(a.name))
      .slice(0, limit);
    return Promise.all(newest.map((x) => this.entry(x.name)));
  }

  async entry(name: string): Promise<GalleryImage> {
    const path = join(this.dir, name);
    const s = await stat(path);
    const key = `${s.size}:${s.mtimeMs}`;
    const cached = this.cache.get(name);
    if (cached?.key === key) return cached.image;
    const image: GalleryImage = { name, createdAt: s.mtimeMs, sizeBytes: s.size, warnings: [] };
    // The size from the PNG header (the UI shows large images through their tiles); an unreadable file has none.
    const size = await sharp(path, { limitInputPixels: false }).metadata().catch(() => undefined);
    if (size?.width && size.height) Object.assign(image, { width: size.width, height: size.height });
    try {
      Object.assign(image, await this.readMetadata(path, name));
    } catch (e) {
      image.warnings = [(e as Error).message];
    }
    this.cache.set(name, { key, image });
    return image;
  }
}

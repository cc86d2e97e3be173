// Large gallery images as a deep-zoom pyramid of 256-pixel PNG tiles, cut by sharp (libvips, in one pass over
// the image) into <outputs>/.tiles/<name>/ on first request, so the UI's viewer loads only the tiles it shows and
// a 16K PNG never reaches the page whole. Levels as Deep Zoom numbers them: level L is the image scaled by
// 2^(L − top), top = ceil(log2(longer side)); tile (col, row) of a level covers pixels [col·256, (col+1)·256).
//   GET /tiles/<name>/info.json              → TileInfo
//   GET /tiles/<name>/thumb.png              → the one tile of the finest level that fits in one (a thumbnail)
//   GET /tiles/<name>/<level>/<col>_<row>.png → one tile
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import sharp from 'sharp';
import { thumbLevel, type TileInfo } from '../../pipelines/jobs/api-studio.ts';
import { securityHeaders, sendFile, sendText } from './static-files.ts';

export const TILE_SIZE = 256;

export type TileAnswer = { file: string } | { info: TileInfo } | { status: 400 | 404; message: string };
const TILE_PATH = /^\/tiles\/([^/]+)\/(?:(info\.json)|(thumb\.png)|(\d{1,2})\/(\d{1,5})_(\d{1,5})\.png)$/;

export class ImageTiles {
  private readonly pyramids = new Map<string, Promise<TileInfo>>();

  constructor(
    private readonly cacheDir: string,
    /** The gallery's resolver: undefined for anything that is not an image of the outputs folder. */
    private readonly imagePath: (name: string) => string | undefined,
  ) {}

  /** The image's pyramid, cut once per file version (concurrent requests share the cutting). */
  pyramid(name: string): Promise<TileInfo> | undefined {
    const path = this.imagePath(name);
    if (!path || !existsSync(path)) return undefined;
    const key = `${name}@${statSync(path).mtimeMs}`;
    let made = this.pyramids.get(key);
    if (!made) {
      made = this.cut(path, this.dirOf(name));
      this.pyramids.set(key, made);
      made.catch(() => this.pyramids.delete(key));
    }
    return made;
  }

  /** What a /tiles/ path is: a tile file, the pyramid's info, or why not (404: not a gallery image or tile, 400: a bad path). */
  async answer(pathname: string): Promise<TileAnswer> {
    const m = TILE_PATH.exec(pathname);
    if (!m) return { status: 400, message: `not a tile path: ${pathname} (use /tiles/NAME/info.json, /tiles/NAME/thumb.png or /tiles/NAME/LEVEL/COL_ROW.png)` };
    let name: string;
    try {
      name = decodeURIComponent(m[1]);
    } catch {
      return { status: 400, message: 'bad image name' };
    }
    const pyramid = this.pyramid(name);
    if (!pyramid) return { status: 404, message: `no image "${name}" in the outputs folder` };
    const info = await pyramid;
    if (m[2]) return { info };
    const [level, col, row] = m[3] ? [String(thumbLevel(info)), '0', '0'] : [m[4], m[5], m[6]];
    const file = join(this.dirOf(name), 'image_files', level, `${col}_${row}.png`);
    return existsSync(file) ? { file } : { status: 404, message: `no tile ${level}/${col}_${row} in ${name} (levels 0–${info.levels - 1})` };
  }

  /** Answers a /tiles/ request over HTTP (`studio serve`). */
  async serve(pathname: string, res: ServerResponse): Promise<void> {
    const a = await this.answer(pathname);
    if ('info' in a) {
      res.writeHead(200, { ...securityHeaders(), 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' });
      res.end(JSON.stringify(a.info));
    } else if ('file' in a) {
      if (!sendFile(res, a.file, 'immutable')) sendText(res, 404, 'the tile went away');
    } else sendText(res, a.status, a.message);
  }

  private dirOf(name: string): string {
    return join(this.cacheDir, name);
  }

  private async cut(path: string, dir: string): Promise<TileInfo> {
    const { width, height } = await sharp(path, { limitInputPixels: false }).metadata();
    if (!width || !height) throw new Error(`${path}: sharp reads no size`);
    const info: TileInfo = { width, height, tileSize: TILE_SIZE, levels: Math.ceil(Math.log2(Math.max(width, height))) + 1 };
    if (existsSync(join(dir, 'image.dzi'))) return info;
    // Cut into a fresh folder and move it in place: a cut that fails half-way leaves nothing behind.
    const partial = `${dir}.partial`;
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial, { recursive: true });
    await sharp(path, { limitInputPixels: false }).png({ compressionLevel: 1 }).tile({ size: TILE_SIZE, overlap: 0, layout: 'dz' }).toFile(join(partial, 'image'));
    rmSync(dir, { recursive: true, force: true });
    renameSync(partial, dir);
    return info;
  }
}

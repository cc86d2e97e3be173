// Which tiles of a gallery image's pyramid (app/server/image-tiles.ts) a viewer shows: the level whose pixels
// are at least as fine as the screen's at this zoom, and only the tiles that meet the viewport.
import type { GalleryImage, TileInfo } from '../../pipelines/jobs/api-studio.ts';
import type { ApiClient } from './api-client.ts';

/** Images with a longer side above this are shown through their tiles, never whole. */
export const LARGE_IMAGE_SIDE = 2048;

export const isLarge = (image: Pick<GalleryImage, 'width' | 'height'>): boolean => Math.max(image.width ?? 0, image.height ?? 0) > LARGE_IMAGE_SIDE;

/** What an <img> shows of a gallery image: a large one's one-tile thumbnail (never the whole file), else the file. */
export function displayUrl(api: ApiClient, image: GalleryImage): string {
  return isLarge(image) ? api.tileUrl(image.name, 'thumb.png') : api.imageUrl(image.name);
}

/** A view: `scale` screen pixels per image pixel, the image point at the viewport's top-left corner, the viewport size. */
export interface View {
  scale: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Tile {
  level: number;
  col: number;
  row: number;
  /** Where it lies and how large it is, in pixels of the full-size image. */
  left: number;
  top: number;
  width: number;
  height: number;
}

/** The top level (full size) is levels − 1; each level below halves the image. */
export function levelSize(info: TileInfo, level: number): { width: number; height: number } {
  const k = 2 ** (info.levels - 1 - level);
  return { width: Math.ceil(info.width / k), height: Math.ceil(info.height / k) };
}

/** The coarsest level that still has a pixel per screen pixel (the top level when zoomed in further). */
export function levelFor(info: TileInfo, scale: number): number {
  const down = Math.max(0, Math.floor(Math.log2(1 / scale)));
  return Math.max(0, info.levels - 1 - down);
}

/** The tiles of the view's level that meet the viewport. */
export function visibleTiles(info: TileInfo, view: View): Tile[] {
  const level = levelFor(info, view.scale);
  const k = 2 ** (info.levels - 1 - level);
  const size = levelSize(info, level);
  const span = info.tileSize * k; // one tile, in full-size image pixels
  const cols = Math.ceil(size.width / info.tileSize);
  const rows = Math.ceil(size.height / info.tileSize);
  const [x1, y1] = [view.x + view.width / view.scale, view.y + view.height / view.scale];
  const tiles: Tile[] = [];
  for (let row = Math.max(0, Math.floor(view.y / span)); row < Math.min(rows, Math.ceil(y1 / span)); row++) {
    for (let col = Math.max(0, Math.floor(view.x / span)); col < Math.min(cols, Math.ceil(x1 / span)); col++) {
      const [w, h] = [Math.min(info.tileSize, size.width - col * info.tileSize), Math.min(info.tileSize, size.height - row * info.tileSize)];
      tiles.push({ level, col, row, left: col * span, top: row * span, width: w * k, height: h * k });
    }
  }
  return tiles;
}

/** The view that shows the whole image centred in a viewport. */
export function fitView(info: TileInfo, width: number, height: number): View {
  const scale = Math.min(width / info.width, height / info.height);
  return { scale, x: (info.width - width / scale) / 2, y: (info.height - height / scale) / 2, width, height };
}

/** Zooms by `factor` about the viewport point (px, py), keeping the image point under it in place. */
export function zoomAt(view: View, factor: number, px: number, py: number, limits: { min: number; max: number }): View {
  const scale = Math.min(limits.max, Math.max(limits.min, view.scale * factor));
  const [ix, iy] = [view.x + px / view.scale, view.y + py / view.scale];
  return { ...view, scale, x: ix - px / scale, y: iy - py / scale };
}

// Draws a step preview (base64 RGB from the engine) onto a canvas.
import type { Preview } from '../../pipelines/jobs/api-studio.ts';

export function drawPreview(canvas: HTMLCanvasElement, preview: Preview): void {
  const rgb = Uint8Array.from(atob(preview.rgbBase64), (c) => c.charCodeAt(0));
  const rgba = new Uint8ClampedArray(preview.width * preview.height * 4);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgba[j] = rgb[i];
    rgba[j + 1] = rgb[i + 1];
    rgba[j + 2] = rgb[i + 2];
    rgba[j + 3] = 255;
  }
  canvas.width = preview.width;
  canvas.height = preview.height;
  canvas.getContext('2d')?.putImageData(new ImageData(rgba, preview.width, preview.height), 0, 0);
}

/** File bytes → base64 for the readImageMetadata call (chunked: spreading a large array overflows the stack). */
export async function fileToBase64(file: Blob): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

// The mask editor's state: which gallery image is drawn over, the painted mask (a canvas at the image's
// own size: opaque where the user painted = repaint), the brush, and the outpainting margins. What the
// generate call sends is read from here (request.ts).
export type MaskTool = 'brush' | 'eraser';

export type Side = 'left' | 'right' | 'top' | 'bottom';

export interface Outpaint {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

const PAINT = 'rgb(80, 170, 255)';

export class InpaintState {
  /** Gallery name of the image painted over; undefined: the editor is closed (txt2img). */
  image = $state<string | undefined>(undefined);
  tool = $state<MaskTool>('brush');
  /** Brush diameter in image pixels. */
  brush = $state(12);
  strength = $state(0.75);
  outpaint = $state<Outpaint>({ left: 0, right: 0, top: 0, bottom: 0 });
  /** The largest margin the editor offers on one side. */
  readonly maxMargin = 1024;
  /** Any paint on the mask (an empty mask has nothing to repaint). */
  painted = $state(false);
  /** Set by the editor when the image has loaded. */
  canvas: HTMLCanvasElement | undefined;

  open(image: string): void {
    this.image = image;
    this.painted = false;
    this.outpaint = { left: 0, right: 0, top: 0, bottom: 0 };
  }

  close(): void {
    this.image = undefined;
    this.canvas = undefined;
  }

  /** One side's margin, to the nearest multiple of 8 (the VAE's block) from 0 to maxMargin. */
  setMargin(side: Side, pixels: number): void {
    this.outpaint[side] = Math.min(this.maxMargin, Math.max(0, Math.round(pixels / 8) * 8));
  }

  get outpainting(): boolean {
    const o = this.outpaint;
    return o.left + o.right + o.top + o.bottom > 0;
  }

  /** A round stroke from (x0, y0) to (x1, y1) in image pixels, painting or erasing. */
  stroke(x0: number, y0: number, x1: number, y1: number): void {
    const ctx = this.canvas?.getContext('2d');
    if (!ctx) return;
    ctx.globalCompositeOperation = this.tool === 'brush' ? 'source-over' : 'destination-out';
    ctx.strokeStyle = PAINT;
    ctx.lineWidth = this.brush;
    ctx.lineCap = 'round';
    ctx.beginPath();
    ctx.moveTo(x0, y0);
    ctx.lineTo(x1 + 0.01, y1);
    ctx.stroke();
    this.painted = this.anyPaint();
  }

  clear(): void {
    const c = this.canvas;
    c?.getContext('2d')?.clearRect(0, 0, c.width, c.height);
    this.painted = false;
  }

  /** Painted becomes unpainted and the other way round. */
  invert(): void {
    this.mapPixels((on) => !on);
  }

  /** The mask as a PNG (white = repaint, black = keep), base64, at the image's size. */
  maskPngBase64(): string | undefined {
    const c = this.canvas;
    const ctx = c?.getContext('2d');
    if (!c || !ctx) return undefined;
    const out = document.createElement('canvas');
    out.width = c.width;
    out.height = c.height;
    const src = ctx.getImageData(0, 0, c.width, c.height);
    const bw = new ImageData(c.width, c.height);
    for (let i = 0; i < src.data.length; i += 4) {
      const v = src.data[i + 3] >= 128 ? 255 : 0;
      bw.data[i] = bw.data[i + 1] = bw.data[i + 2] = v;
      bw.data[i + 3] = 255;
    }
    out.getContext('2d')?.putImageData(bw, 0, 0);
    return out.toDataURL('image/png').replace(/^data:image\/png;base64,/, '');
  }

  private anyPaint(): boolean {
    const c = this.canvas;
    const data = c?.getContext('2d')?.getImageData(0, 0, c.width, c.height).data;
    if (!data) return false;
    for (let i = 3; i < data.length; i += 4) if (data[i] >= 128) return true;
    return false;
  }

  private mapPixels(f: (on: boolean) => boolean): void {
    const c = this.canvas;
    const ctx = c?.getContext('2d');
    if (!c || !ctx) return;
    const img = ctx.getImageData(0, 0, c.width, c.height);
    for (let i = 0; i < img.data.length; i += 4) {
      const on = f(img.data[i + 3] >= 128);
      [img.data[i], img.data[i + 1], img.data[i + 2], img.data[i + 3]] = on ? [80, 170, 255, 255] : [0, 0, 0, 0];
    }
    ctx.putImageData(img, 0, 0);
    this.painted = this.anyPaint();
  }
}

// Edge maps for ControlNet control images, written here: sharp (the studio's image library) has no edge
// detector, and the npm Canny packages are small unmaintained ports, so the two short filters are ours.
// Both take one grey channel (0–255, row-major) and return one channel (0–255).

/** 3×3 Sobel gradients with replicated borders (OpenCV's default for Canny is reflect-101; the border row differs only). */
function sobel(grey: Uint8Array, width: number, height: number): { gx: Float32Array; gy: Float32Array } {
  const at = (x: number, y: number) => grey[Math.min(height - 1, Math.max(0, y)) * width + Math.min(width - 1, Math.max(0, x))];
  const gx = new Float32Array(width * height);
  const gy = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [a, b, c, d, f, g, h, i] = [at(x - 1, y - 1), at(x, y - 1), at(x + 1, y - 1), at(x - 1, y), at(x + 1, y), at(x - 1, y + 1), at(x, y + 1), at(x + 1, y + 1)];
      gx[y * width + x] = c + 2 * f + i - (a + 2 * d + g);
      gy[y * width + x] = g + 2 * h + i - (a + 2 * b + c);
    }
  }
  return { gx, gy };
}

/**
 * Canny as OpenCV's `cv2.Canny(img, low, high)` (A1111's ControlNet defaults 100 / 200): Sobel gradients,
 * L1 magnitude, thinning to the local maximum across the edge, then hysteresis: pixels above `high` are
 * edges, pixels above `low` are edges when connected (8-neighbours) to one. White edges on black.
 */
export function canny(grey: Uint8Array, width: number, height: number, low = 100, high = 200): Uint8Array {
  const { gx, gy } = sobel(grey, width, height);
  const n = width * height;
  const magnitude = new Float32Array(n);
  for (let i = 0; i < n; i++) magnitude[i] = Math.abs(gx[i]) + Math.abs(gy[i]);
  const mag = (x: number, y: number) => (x < 0 || y < 0 || x >= width || y >= height ? 0 : magnitude[y * width + x]);
  // 0 = none, 1 = weak, 2 = strong, after non-maximum suppression along the gradient's direction (4 sectors).
  const level = new Uint8Array(n);
  const tan22 = Math.tan(Math.PI / 8);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const m = magnitude[i];
      if (m <= low) continue;
      const [ax, ay] = [Math.abs(gx[i]), Math.abs(gy[i])];
      let [dx, dy] = [0, 0];
      if (ay <= ax * tan22) dx = 1;
      else if (ax <= ay * tan22) dy = 1;
      else [dx, dy] = gx[i] * gy[i] > 0 ? [1, 1] : [1, -1];
      // OpenCV keeps a pixel equal to its neighbour on one side only, so plateaus stay one pixel wide.
      if (m > mag(x - dx, y - dy) && m >= mag(x + dx, y + dy)) level[i] = m > high ? 2 : 1;
    }
  }
  const out = new Uint8Array(n);
  const stack: number[] = [];
  for (let i = 0; i < n; i++) if (level[i] === 2) { out[i] = 255; stack.push(i); }
  while (stack.length) {
    const i = stack.pop()!;
    const [x, y] = [i % width, Math.floor(i / width)];
    for (let oy = -1; oy <= 1; oy++) for (let ox = -1; ox <= 1; ox++) {
      const [nx, ny] = [x + ox, y + oy];
      if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
      const j = ny * width + nx;
      if (level[j] === 1 && out[j] === 0) { out[j] = 255; stack.push(j); }
    }
  }
  return out;
}

/**
 * Soft edges: the Sobel gradient's length of a (pre-blurred) grey image, scaled so the strongest
 * edges reach white, with no thresholds, so faint and thick edges stay as grey ramps (what soft-edge
 * ControlNets are trained on; HED and PiDiNet are networks, this is their model-free stand-in).
 */
export function softEdges(grey: Uint8Array, width: number, height: number): Uint8Array {
  const { gx, gy } = sobel(grey, width, height);
  const n = width * height;
  const magnitude = new Float32Array(n);
  for (let i = 0; i < n; i++) magnitude[i] = Math.hypot(gx[i], gy[i]);
  // The 99th percentile, not the maximum, so a few extreme pixels do not wash out the rest.
  const sorted = Float32Array.from(magnitude).sort();
  const top = sorted[Math.min(n - 1, Math.floor(0.99 * n))] || sorted[n - 1] || 1;
  return Uint8Array.from(magnitude, (m) => Math.round(Math.min(1, m / top) * 255));
}

// A contact sheet: the images of a sweep in a grid, column labels above (the X values), row labels
// on the left (the Y values), the prompt as a title. Labels are SVG text rendered by sharp.
import sharp from 'sharp';

export interface SheetLayout {
  title: string;
  cols: string[];
  rows: string[];
  /** Image files, row-major: rows.length × cols.length. */
  files: string[];
  /** Widest the sheet may be; cells shrink to fit (default 4096). */
  maxWidth?: number;
}

/** Where things are on the sheet (the tests check the label bands). */
export interface SheetGeometry {
  width: number;
  height: number;
  cellWidth: number;
  cellHeight: number;
  /** Height of the title plus column-label bands above the cells. */
  top: number;
  /** Width of the row-label band left of the cells. */
  left: number;
}

const GAP = 4;
const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function fit(text: string, maxChars: number): string {
  return text.length <= maxChars ? text : `${text.slice(0, Math.max(1, maxChars - 1))}…`;
}

export function sheetGeometry(layout: SheetLayout, image: { width: number; height: number }): SheetGeometry & { font: number; band: number } {
  const cols = layout.cols.length;
  const rows = layout.rows.length;
  const maxWidth = layout.maxWidth ?? 4096;
  const font = Math.max(12, Math.min(28, Math.round(image.width / 10)));
  const hasRowLabels = layout.rows.some((r) => r !== '');
  const left = hasRowLabels ? Math.ceil(Math.max(...layout.rows.map((r) => r.length)) * font * 0.62) + 2 * GAP : 0;
  const scale = Math.min(1, (maxWidth - left - GAP * (cols + 1)) / (cols * image.width));
  const cellWidth = Math.max(16, Math.floor(image.width * scale));
  const cellHeight = Math.max(16, Math.floor(image.height * scale));
  const band = Math.round(font * 1.8);
  const top = band * (layout.cols.some((c) => c !== '') ? 2 : 1);
  return {
    width: left + GAP + cols * (cellWidth + GAP),
    height: top + GAP + rows * (cellHeight + GAP),
    cellWidth,
    cellHeight,
    top,
    left,
    font,
    band,
  };
}

/** Renders the sheet as PNG bytes. */
export async function renderContactSheet(layout: SheetLayout): Promise<{ png: Buffer; geometry: SheetGeometry }> {
  if (layout.files.length !== layout.cols.length * layout.rows.length) {
    throw new Error(`a ${layout.cols.length}x${layout.rows.length} contact sheet needs ${layout.cols.length * layout.rows.length} images, got ${layout.files.length}`);
  }
  const meta = await sharp(layout.files[0]).metadata();
  const g = sheetGeometry(layout, { width: meta.width ?? 64, height: meta.height ?? 64 });
  const cellX = (c: number) => g.left + GAP + c * (g.cellWidth + GAP);
  const cellY = (r: number) => g.top + GAP + r * (g.cellHeight + GAP);

  const texts: string[] = [];
  const text = (x: number, y: number, s: string, anchor: 'start' | 'middle' | 'end', size = g.font) =>
    texts.push(`<text x="${x}" y="${y}" font-family="${FONT}" font-size="${size}" text-anchor="${anchor}" fill="#111">${escapeXml(s)}</text>`);
  text(GAP * 2, Math.round(g.band * 0.68), fit(layout.title, Math.floor((g.width - 4 * GAP) / (g.font * 0.6))), 'start');
  const colChars = Math.max(4, Math.floor(g.cellWidth / (g.font * 0.6)));
  layout.cols.forEach((label, c) => label && text(cellX(c) + g.cellWidth / 2, g.top - Math.round(g.band * 0.32), fit(label, colChars), 'middle'));
  layout.rows.forEach((label, r) => label && text(g.left - GAP, cellY(r) + g.cellHeight / 2 + g.font / 3, label, 'end'));
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${g.width}" height="${g.height}">${texts.join('')}</svg>`;

  const images = await Promise.all(
    layout.files.map(async (file, i) => ({
      input: await sharp(file).resize(g.cellWidth, g.cellHeight, { fit: 'contain', background: '#ffffff' }).png().toBuffer(),
      left: cellX(i % layout.cols.length),
      top: cellY(Math.floor(i / layout.cols.length)),
    })),
  );
  const png = await sharp({ create: { width: g.width, height: g.height, channels: 3, background: '#ffffff' } })
    .composite([...images, { input: Buffer.from(svg), left: 0, top: 0 }])
    .png()
    .toBuffer();
  const { width, height, cellWidth, cellHeight, top, left } = g;
  return { png, geometry: { width, height, cellWidth, cellHeight, top, left } };
}

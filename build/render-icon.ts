// Draws the app icon (build/icon.svg and the 1024 px build/icon.png electron-builder turns into
// .ico/.icns/hicolor icons): noise dots that settle into a disc, the studio's picture of denoising.
// Run `npx tsx build/render-icon.ts` after changing it.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const SIZE = 1024;
const out = (name: string) => fileURLToPath(new URL(name, import.meta.url));

function iconSvg(): string {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const dots: string[] = [];
  const c = SIZE / 2;
  for (let i = 0; i < 420; i++) {
    const angle = rand() * Math.PI * 2;
    // Dots far from the centre are scattered (noise), near it they sit on the disc (signal).
    const r = Math.sqrt(rand()) * 400;
    const settled = r < 250;
    const jitter = settled ? 0 : (rand() - 0.5) * 60;
    const x = c + Math.cos(angle) * r + jitter;
    const y = c + Math.sin(angle) * r + jitter;
    const size = settled ? 5 : 4 + rand() * 6;
    const opacity = settled ? 0.5 : 0.25 + rand() * 0.4;
    dots.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${size.toFixed(1)}" fill="#fff" fill-opacity="${opacity.toFixed(2)}"/>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}" viewBox="0 0 ${SIZE} ${SIZE}">
<defs>
<linearGradient id="bg" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#1c1f2e"/><stop offset="1" stop-color="#0d0f14"/></linearGradient>
<radialGradient id="disc" cx="0.42" cy="0.38" r="0.7"><stop offset="0" stop-color="#a9b4ff"/><stop offset="0.6" stop-color="#7c8cff"/><stop offset="1" stop-color="#4b4fc9"/></radialGradient>
</defs>
<rect x="32" y="32" width="${SIZE - 64}" height="${SIZE - 64}" rx="200" fill="url(#bg)"/>
<circle cx="${c}" cy="${c}" r="250" fill="url(#disc)"/>
${dots.join('\n')}
</svg>
`;
}

const svg = iconSvg();
writeFileSync(out('./icon.svg'), svg);
await sharp(Buffer.from(svg)).png({ compressionLevel: 9 }).toFile(out('./icon.png'));
console.log('wrote build/icon.svg and build/icon.png');

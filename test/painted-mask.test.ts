// A mask painted in the UI: written once into the outputs folder's masks/ (named by content) and the
// request pointed at it; bad masks are refused with what to do.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { withPaintedMask } from '../app/server/painted-mask.ts';
import { GenerateRequestSchema } from '../pipelines/jobs/api.ts';
import { encodePng } from '../pipelines/metadata/encode-png.ts';

test('a painted mask becomes a file under outputs/masks/ with the default blur; bad ones are refused', async () => {
  const outputs = mkdtempSync(join(tmpdir(), 'painted-mask-'));
  const png = Buffer.from(await encodePng({ width: 8, height: 8, pixels: new Uint8Array(8 * 8 * 3).fill(255) }));
  const request = GenerateRequestSchema.parse({ prompt: 'x', initImage: join(outputs, 'a.png') });
  const a = withPaintedMask(request, png.toString('base64'), outputs);
  const b = withPaintedMask(request, png.toString('base64'), outputs);
  assert.equal(a.mask, b.mask, 'the same mask is one file');
  assert.deepEqual(readdirSync(join(outputs, 'masks')), [a.mask!.split('/').pop()]);
  assert.ok(readFileSync(a.mask!).equals(png));
  assert.equal(a.maskBlur, 4);
  assert.throws(() => withPaintedMask(GenerateRequestSchema.parse({ prompt: 'x' }), png.toString('base64'), outputs), /choose the image to inpaint/);
  assert.throws(() => withPaintedMask(request, Buffer.from('GIF89a').toString('base64'), outputs), /not a PNG image/);
  const outpainting = GenerateRequestSchema.parse({ prompt: 'x', initImage: 'a.png', outpaint: { left: 8, right: 0, top: 0, bottom: 0 } });
  assert.throws(() => withPaintedMask(outpainting, png.toString('base64'), outputs), /either a painted mask, a mask file or outpainting/);
});

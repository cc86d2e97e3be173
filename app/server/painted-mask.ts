// A mask painted in the UI's mask editor arrives as PNG bytes; the engine reads masks from files, so it
// is written into the outputs folder's masks/ (named by its content, so the same mask is one file) and
// the request points at it. The gallery lists only the outputs folder itself, so masks stay out of it.
import { DEFAULT_MASK_BLUR, type GenerateRequest } from '../../pipelines/jobs/api.ts';
import { isPng } from '../../pipelines/metadata/png-chunks.ts';
import { BadRequestError } from './dispatch.ts';
import { storeByContent } from './uploaded-image.ts';

export function withPaintedMask(request: GenerateRequest, pngBase64: string, outputsDir: string): GenerateRequest {
  if (request.initImage === undefined) throw new BadRequestError('maskPngBase64: a mask paints over an image: choose the image to inpaint (initImage) too');
  if (request.mask !== undefined || request.outpaint !== undefined) throw new BadRequestError('maskPngBase64: send either a painted mask, a mask file or outpainting, not several');
  const bytes = Buffer.from(pngBase64, 'base64');
  if (!isPng(bytes)) throw new BadRequestError('maskPngBase64: not a PNG image (the mask editor sends its canvas as PNG)');
  const file = storeByContent(outputsDir, 'masks', 'mask-', bytes, 'png');
  return { ...request, mask: file, maskBlur: request.maskBlur ?? DEFAULT_MASK_BLUR };
}

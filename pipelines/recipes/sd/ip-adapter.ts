// IP-Adapter during denoising, as diffusers' pipelines do it: the image's tokens (and the unconditional
// ones) are computed once per generation; every UNet call gets, per batch row, the unconditional tokens on
// the negative-prompt rows and the image's on the others, plus the adapter's scale.
import type { IpAdapterSource } from '../../checkpoints/ip-adapter.ts';
import type { ImageEncoderSource } from '../../checkpoints/clip-vision.ts';
import { IP_SCALE, IP_TOKENS } from '../../models/ip-adapter/attention.ts';
import { buildImageTokensGraph } from '../../models/ip-adapter/image-tokens.ts';
import { PIXEL_VALUES } from '../../models/clip/vision-model.ts';
import type { ModelSessions } from '../../runtime/session-cache.ts';
import { tensor, type ort } from '../../runtime/session.ts';

/** A loaded IP-Adapter with its image encoder; its session lives in the pipeline's sessions. */
export class IpAdapter {
  constructor(readonly source: IpAdapterSource, readonly encoder: ImageEncoderSource, private readonly sessions: ModelSessions) {}

  /** The encoder's input size: images are prepared at size × size (../ip-adapter/clip-image.ts). */
  get imageSize(): number {
    return this.encoder.config.imageSize;
  }

  /** [2, tokens, width]: the unconditional tokens, then the image's; `pixels` [1, 3, size, size] CLIP-normalised. */
  async tokens(pixels: Float32Array): Promise<Float32Array> {
    const size = this.imageSize;
    if (pixels.length !== 3 * size * size) throw new RangeError(`IP-Adapter image: ${3 * size * size} pixel values expected (3×${size}×${size}), got ${pixels.length}`);
    const session = await this.sessions.get('tokens', () => buildImageTokensGraph(this.encoder, this.source));
    const out = await session.run({ [PIXEL_VALUES]: tensor(pixels, [1, 3, size, size]) });
    return out[IP_TOKENS].data as Float32Array;
  }
}

/** An image prompt of one generation. */
export interface ImagePrompt {
  adapter: IpAdapter;
  /** [1, 3, size, size], CLIP-normalised (clipImagePixels). */
  pixels: Float32Array;
  scale: number;
}

/** The UNet's `ip_tokens` / `ip_scale` feeds for rows whose unconditional ones are flagged. */
export async function imagePromptFeeds(p: ImagePrompt, unconditional: readonly boolean[]): Promise<Record<string, ort.Tensor>> {
  const both = await p.adapter.tokens(p.pixels);
  const { tokens, crossDim } = p.adapter.source;
  const per = tokens * crossDim;
  const rows = new Float32Array(unconditional.length * per);
  unconditional.forEach((uncond, r) => rows.set(both.subarray(uncond ? 0 : per, uncond ? per : 2 * per), r * per));
  return { [IP_TOKENS]: tensor(rows, [unconditional.length, tokens, crossDim]), [IP_SCALE]: tensor(new Float32Array([p.scale]), [1]) };
}

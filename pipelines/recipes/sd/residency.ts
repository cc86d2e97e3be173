// Which of an SD pipeline's sessions stay on the device for a whole image. diffusers' StableDiffusionPipeline
// keeps its text encoder(s), UNet and VAE on the GPU from start to end (nothing is offloaded unless
// enable_model_cpu_offload is called), and so does the studio while they fit. When the memory plan says the image
// does not fit with every model resident, the text encoders, which only the first moments of an image need, are
// released once the prompt is encoded (the next image creates them again: slower, but it runs).
import type { KeyedSource } from '../../checkpoints/sources.ts';
import type { UNetConfig } from '../../models/unet/config.ts';
import { planLadder, unetSizes } from '../hires/memory-plan.ts';

export const parameterCount = (source: KeyedSource): number => source.keys().reduce((a, k) => a + source.info(k).shape.reduce((x, y) => x * y, 1), 0);

export interface ResidencyInput {
  unet: KeyedSource;
  unetConfig: UNetConfig;
  vae: KeyedSource;
  textEncoders: readonly KeyedSource[];
  provider: string;
  bytesPerValue: 2 | 4;
  /** Memory the provider can use; undefined: unknown, everything stays resident. */
  availableBytes?: number;
  width: number;
  height: number;
  /** UNet batch rows per call, and images. */
  rows: number;
  images: number;
  attention: string;
}

export interface TextResidency {
  /** Release the text encoders once the prompt is encoded. */
  release: boolean;
  /** Why, for the run's notes. */
  note?: string;
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/** Keep the text encoders resident unless the image's planned peak with them exceeds the memory there is. */
export function textResidency(o: ResidencyInput): TextResidency {
  if (o.availableBytes === undefined) return { release: false };
  const text = o.textEncoders.reduce((a, t) => a + parameterCount(t), 0);
  const { peakBytes } = planLadder({
    unet: unetSizes(o.unet, o.unetConfig),
    otherParams: parameterCount(o.vae) + text,
    stages: [{ width: o.width, height: o.height, steps: 1 }],
    rows: o.rows,
    images: o.images,
    attention: o.attention,
    provider: o.provider,
    bytesPerValue: o.bytesPerValue,
    availableBytes: o.availableBytes,
  });
  if (peakBytes <= o.availableBytes) return { release: false };
  return {
    release: true,
    note: `text encoders released after encoding to make room (${gib(peakBytes)} planned with every model resident, ${gib(o.availableBytes)} on ${o.provider}; they hold ${gib(text * o.bytesPerValue)}); the next image loads them again`,
  };
}

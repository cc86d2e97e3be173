// The shape a text-conditioned latent transformer's graph (MMDiT, PixArt) is built for.
import type { DType } from '../onnx/graph.ts';

export interface TextLatentGraphShape {
  batch: number;
  /** Latent size. */
  height: number;
  width: number;
  /** Text tokens per row (SD3: 77 CLIP + the T5 length; PixArt: the T5 length). */
  textLength: number;
  dtype?: DType;
}

// How a UNet call trades time for peak memory at high resolution; recipes/hires/memory-plan.ts picks them per
// stage size (memoryFor), the graph builder applies the pieces (transformer.ts), the runner the rest (runner.ts).

export interface UNetMemory {
  /** The feed-forward (GEGLU, whose projection is 8× the block's width) over this many pieces of the tokens. */
  ffPieces: number;
  /** LinFusion's fp32 features over this many groups of (batch row × head). */
  attentionPieces: number;
  /** One session per down level, mid block and up level (pieces.ts), the skips held by the runner between them. */
  split?: boolean;
  /**
   * With `split`, one session per layer (a resnet with its transformer) instead of per level: ORT holds well above a
   * graph's own need within one session (kernel scratch, buffers kept for a later tensor of the same size), and that
   * grows with the layers a session spans (bench/NOTES.md, session 7).
   */
  layerSessions?: boolean;
  /** A split UNet's skips wait in host memory instead of the device's (less memory, a copy each way). */
  skipsOnHost?: boolean;
  /** CFG's rows one at a time through a graph of batch 1 instead of together. */
  rowByRow?: boolean;
}

export const WHOLE: UNetMemory = { ffPieces: 1, attentionPieces: 1 };

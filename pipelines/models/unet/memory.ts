// How a UNet graph trades time for peak memory at high resolution; recipes/hires/memory-plan.ts picks the
// pieces per stage size (memoryFor), the graph builder applies them (transformer.ts).

export interface UNetMemory {
  /** The feed-forward (GEGLU, whose projection is 8× the block's width) over this many pieces of the tokens. */
  ffPieces: number;
  /** LinFusion's fp32 features over this many groups of (batch row × head). */
  attentionPieces: number;
}

export const WHOLE: UNetMemory = { ffPieces: 1, attentionPieces: 1 };

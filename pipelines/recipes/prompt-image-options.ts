// The request every prompt-to-image recipe takes (SD3, PixArt), before its own extras.
export interface PromptImageOptions {
  prompt: string;
  negative?: string;
  steps: number;
  cfg: number;
  seed: number | bigint;
  width: number;
  height: number;
}

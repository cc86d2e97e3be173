// The seam between the front ends (CLI, server, desktop app) and the engine: one function that turns
// a validated request into RGB images. The Stable Diffusion pipeline is wired in here.
import type { GenerateOptions, GenerateRequest, GenerateResult } from './request.ts';

export class NotImplementedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotImplementedError';
  }
}

export async function runGenerate(request: GenerateRequest, options: GenerateOptions = {}): Promise<GenerateResult> {
  void request;
  void options;
  throw new NotImplementedError(
    'image generation is not wired yet: pipelines/recipes/generate.ts has no pipeline behind runGenerate',
  );
}

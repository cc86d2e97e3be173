// The text chunks of a story image: A1111's `parameters` (so other tools show prompt, seed and
// settings) and `studio-story`, the whole resolved story plus which image this is, from which the
// set can be made again.
import { A1111_KEYWORD, formatA1111 } from '../../metadata/a1111.ts';
import { a1111SamplingParams } from '../../metadata/generation-metadata.ts';
import type { StoryImage } from './story-model.ts';
import type { Story } from './story.ts';

export const STORY_KEYWORD = 'studio-story';
export const STORY_FORMAT = 'diffusion-studio-story';
export const STORY_METADATA_VERSION = 1;

export interface StoryMetadata {
  format: typeof STORY_FORMAT;
  version: number;
  image: { kind: StoryImage['kind']; index: number; seed: number; width: number; height: number };
  story: Story;
  model: string;
  studioVersion: string;
}

const boxText = (b: readonly number[]) => b.map((v) => +v.toFixed(3)).join(' ');

export function storyImageChunks(image: StoryImage, story: Story, model: string, studioVersion: string): Array<[string, string]> {
  const ir = image.kind === 'scene' && image.boxes;
  const parameters = formatA1111({
    prompt: image.prompt,
    negativePrompt: story.negative,
    params: [
      ...a1111SamplingParams({ ...image, steps: story.steps, sampler: story.sampler, cfg: story.cfg }),
      ['Model', model],
      ['RNG', 'CPU'],
      ['Story image', image.kind === 'reference' ? `reference of ${story.subjects[image.index].name}` : `scene ${image.index + 1}${image.kind === 'plain-scene' ? ' without IR' : ''}`],
      ['IR-Diffusion', ir ? irLabel(story) : undefined],
      ['Subject boxes', ir ? Object.entries(image.boxes!).map(([n, b]) => `${n}: ${boxText(b.box)} (${b.from})`).join('; ') : undefined],
      ['Version', `diffusion-studio ${studioVersion}`],
    ],
  });
  const meta: StoryMetadata = {
    format: STORY_FORMAT,
    version: STORY_METADATA_VERSION,
    image: { kind: image.kind, index: image.index, seed: image.seed, width: image.width, height: image.height },
    story,
    model,
    studioVersion,
  };
  return [[A1111_KEYWORD, parameters], [STORY_KEYWORD, JSON.stringify(meta)]];
}

function irLabel(story: Story): string {
  const ir = story.ir;
  const parts = [ir.isolation && 'isolation', ir.reposition && 'reposition', ir.mutualCrossAttention && 'mutual cross-attention'].filter(Boolean);
  return `${parts.join(' + ')}, dropout ${ir.dropout}, lambda ${ir.crossAttentionLambda}`;
}

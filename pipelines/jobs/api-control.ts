// The control.preview job: a control image as a ControlNet will see it after its preprocessor (canny, soft
// edges, or as it is), for the UI's preview beside each ControlNet unit. Data only (zod and types), so
// the renderer may import it.
import { z } from 'zod';
import { CONTROL_PREPROCESSORS, type Rgb8 } from './api-generate.ts';

/** Longest side of a preview: enough to judge the edges, small enough to send at once. */
export const CONTROL_PREVIEW_MAX_SIDE = 512;

export const ControlPreviewJobSchema = z.strictObject({
  kind: z.literal('control.preview'),
  /** The control image file. */
  image: z.string().min(1),
  preprocess: z.enum(CONTROL_PREPROCESSORS, { error: `must be one of: ${CONTROL_PREPROCESSORS.join(' ')}` }),
});
export type ControlPreviewJob = z.output<typeof ControlPreviewJobSchema>;

export interface ControlPreviewResult {
  /** The processed map at the image's own size (at most CONTROL_PREVIEW_MAX_SIDE on its longest side). */
  image: Rgb8;
}

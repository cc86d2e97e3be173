// The jobs API: every request the engine runs, as one discriminated union on `kind`, and what each
// job answers. The CLI, the server, batch and the Electron main process submit these through
// ./client.ts; the engine host runs them with ./run.ts. Data only (zod and types), so the renderer
// may import it.
import { z } from 'zod';
import { GenerateRequestSchema, PreviewOptionsSchema, type GenerateProgress, type GenerateResult, type HeadWeight, type Rgb8 } from './api-generate.ts';
import { HeadEffectsJobSchema, HeadSearchJobSchema, HeadsListJobSchema, HeadsResolveJobSchema, type HeadEffects, type HeadList, type HeadSearchResult } from './api-heads.ts';
import { ModelScanJobSchema, type ModelCatalog } from './api-models.ts';
import { StoryJobSchema, type StoryOutput } from './api-story.ts';
import { UpscaleJobSchema, type UpscaleResult } from './api-upscale.ts';
import { ControlPreviewJobSchema, type ControlPreviewResult } from './api-control.ts';

export * from './api-generate.ts';
export * from './api-heads.ts';
export * from './api-library.ts';
export * from './api-models.ts';
export * from './api-story.ts';
export * from './api-upscale.ts';
export * from './api-control.ts';

export const GenerateJobSchema = z.object({ kind: z.literal('generate'), request: GenerateRequestSchema, previews: PreviewOptionsSchema.optional() });

export const JobSchema = z.discriminatedUnion('kind', [
  GenerateJobSchema,
  HeadsListJobSchema,
  HeadsResolveJobSchema,
  HeadEffectsJobSchema,
  HeadSearchJobSchema,
  StoryJobSchema,
  ModelScanJobSchema,
  UpscaleJobSchema,
  ControlPreviewJobSchema,
]);
/** A job as callers write it (defaults not yet applied). */
export type JobInput = z.input<typeof JobSchema>;
/** A validated job. */
export type Job = z.output<typeof JobSchema>;
export type JobKind = Job['kind'];
export type JobOf<K extends JobKind> = Extract<Job, { kind: K }>;
export type JobInputOf<K extends JobKind> = Extract<JobInput, { kind: K }>;

/** A job validated with its kind kept in the type (for callers that run `run` directly). */
export const parseJob = <K extends JobKind>(job: JobInputOf<K>): JobOf<K> => JobSchema.parse(job) as JobOf<K>;

/** What each job answers. */
export interface JobResults {
  generate: GenerateResult;
  'heads.list': HeadList;
  'heads.resolve': HeadWeight[];
  'heads.effects': HeadEffects;
  'heads.search': HeadSearchResult;
  story: StoryOutput;
  'models.scan': ModelCatalog;
  upscale: UpscaleResult;
  'control.preview': ControlPreviewResult;
}
export type JobResult<K extends JobKind> = JobResults[K];

/** Progress of a running job: a phase ('load', 'denoise', 'HeadHunter', …) and its step. */
export interface JobProgress {
  phase: string;
  step: number;
  total: number;
  /** A generate ladder's stage and, once one is done, its image (GenerateProgress). */
  stage?: GenerateProgress['stage'];
  stageImage?: GenerateProgress['stageImage'];
}

/** What a running job reports to whoever submitted it. */
export interface JobListeners {
  progress?: (p: JobProgress) => void;
  /** A small picture of the current latents (generate's denoise steps). */
  preview?: (image: Rgb8) => void;
  signal?: AbortSignal;
}

// The engine's one entry: `run(job, listeners)` dispatches a job of the jobs API to its recipe.
// The engine host imports this module (its `jobs` export) and runs every job through it, one at a
// time, so sessions and the loaded model stay warm from job to job. Recipes are imported on first
// use: a host starts in well under a second, and one running a test engine never loads them.
import { defineJob } from '../host/jobs.ts';
import { JobSchema, type HeadList, type Job, type JobListeners, type JobResult, type JobResults, type Rgb8 } from './api.ts';
import { testEngine } from './test-engine.ts';

const headTools = () => import('../heads/tools.ts');

const NO_HEAD_LIST =
  'The engine cannot list attention heads for this model yet, so there is nothing to select. Head selection appears here once the engine reports the model’s self-attention layers.';

type Runner<K extends keyof JobResults> = (job: Extract<Job, { kind: K }>, l: Required<Pick<JobListeners, 'progress' | 'preview'>> & { signal: AbortSignal }) => Promise<JobResult<K>> | JobResult<K>;

const RUNNERS: { [K in keyof JobResults]: Runner<K> } = {
  async generate(job, l) {
    const fake = await testEngine();
    const generate = fake?.runGenerate ?? (await import('../recipes/generate.ts')).runGenerate;
    return generate(job.request, {
      signal: l.signal,
      previews: job.previews,
      onProgress: (p) => {
        // The preview first: the host sends it with the progress of the same step.
        if (p.preview) l.preview({ width: p.preview.width, height: p.preview.height, pixels: p.preview.pixels });
        l.progress({ phase: p.phase, step: p.step, total: p.total, ...(p.stage ? { stage: p.stage } : {}), ...(p.stageImage ? { stageImage: p.stageImage } : {}) });
      },
    });
  },

  async 'heads.list'(job): Promise<HeadList> {
    const fake = await testEngine();
    const { listHeads } = await headTools();
    if (!fake) return listHeads(job);
    // The test engine stands in for the layers the UI shows; the architecture is still the real model's.
    const layers = fake.listHeads ? (await fake.listHeads(job)).layers : [];
    const real = listHeads(job);
    return { ...real, layers, ...(layers.length ? {} : { message: NO_HEAD_LIST }) };
  },

  'heads.resolve': async (job) => (await import('../heads/request-heads.ts')).requestHeads(job.text, job.model, job.modelsDir),
  'heads.effects': async (job, l) => (await headTools()).headEffects(job, { signal: l.signal, progress: (step, total) => l.progress({ phase: 'head effects', step, total }) }),
  'heads.search': async (job, l) => (await headTools()).headSearch(job, { signal: l.signal, progress: (step, total) => l.progress({ phase: 'HeadHunter', step, total }) }),
  story: async (job, l) => (await import('./story.ts')).runStoryJob(job, { signal: l.signal, onProgress: (p) => l.progress(p) }),
  'models.scan': async (job, l) => (await import('../library/catalog.ts')).modelsScan(job, { progress: (step, total) => l.progress({ phase: 'hash', step, total }) }),
  upscale: async (job, l) => (await import('../recipes/upscale/upscale.ts')).runUpscale(job, { signal: l.signal, progress: (step, total) => l.progress({ phase: 'upscale', step, total }) }),
  'control.preview': async (job) => (await import('../recipes/controlnet/control-image.ts')).controlPreview(job),
};

/** Runs one validated job. */
export async function run<J extends Job>(job: J, listeners: JobListeners = {}): Promise<JobResult<J['kind']>> {
  const runner = RUNNERS[job.kind] as Runner<J['kind']>;
  return runner(job as never, {
    progress: listeners.progress ?? (() => {}),
    preview: listeners.preview ?? (() => {}),
    signal: listeners.signal ?? new AbortController().signal,
  });
}

/** Name of the one host job that carries every job of the API. */
export const ENGINE_JOB = 'engine.run';

/** What the engine host runs: every job through `run`; a preview rides with the next progress message. */
export const jobs = {
  [ENGINE_JOB]: defineJob({
    input: JobSchema,
    run: (job, ctx) => {
      let preview: Rgb8 | undefined;
      return run(job, {
        signal: ctx.signal,
        preview: (image) => (preview = image),
        progress: (p) => {
          const data = { ...(preview ? { preview } : {}), ...(p.stage ? { stage: p.stage } : {}), ...(p.stageImage ? { stageImage: p.stageImage } : {}) };
          ctx.progress({ step: p.step, total: p.total, message: p.phase, ...(Object.keys(data).length ? { data } : {}) });
          preview = undefined;
        },
      });
    },
  }),
};

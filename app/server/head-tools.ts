// The studio's side of the head tools: effect maps (cached per model, prompt and seed) and HeadHunter
// rounds, each one engine job whose progress goes out as `task` events; the engine's 8-bit images
// become the UI's base64 previews.
import { BadRequestError, type JobProgress, type Rgb8 } from '../../pipelines/jobs/api.ts';
import type { EventName, EventOf, ParsedParamsOf, Preview, ResultOf } from '../../pipelines/jobs/api-studio.ts';
import { EngineJobError, HostCrashedError, type EngineJobs } from '../../pipelines/jobs/client.ts';

type Emit = <E extends EventName>(event: E, data: EventOf<E>) => void;

/** Effect map sets kept (each is a few kilobytes of thumbnails). */
const KEEP_EFFECTS = 32;

export class HeadTools {
  private readonly effects = new Map<string, ResultOf<'headEffects'>>();

  constructor(
    private readonly engine: EngineJobs,
    private readonly modelsDir: string,
    private readonly emit: Emit,
  ) {}

  async headEffects(params: ParsedParamsOf<'headEffects'>): Promise<ResultOf<'headEffects'>> {
    const key = JSON.stringify(params);
    const known = this.effects.get(key);
    if (known) return { ...known, cached: true };
    const out = await this.run('headEffects', () =>
      this.engine.submit({ kind: 'heads.effects', ...params, modelsDir: this.modelsDir }, { progress: (p) => this.progress('headEffects', p) }),
    );
    const result = {
      base: preview(out.base, 'the unperturbed preview'),
      maps: out.maps.map((m) => ({ layer: m.layer, head: m.head, mean: m.mean, thumbnail: preview(m.thumbnail, `the effect map of layer ${m.layer} head ${m.head}`) })),
      cached: false,
    };
    this.effects.set(key, result);
    if (this.effects.size > KEEP_EFFECTS) this.effects.delete(this.effects.keys().next().value!);
    return result;
  }

  async headHunt({ picks, ...params }: ParsedParamsOf<'headHunt'>): Promise<ResultOf<'headHunt'>> {
    const out = await this.run('headHunt', () =>
      this.engine.submit({ kind: 'heads.search', ...params, modelsDir: this.modelsDir, objective: { kind: 'picks', picks } }, { progress: (p) => this.progress('headHunt', p) }),
    );
    if (out.status === 'done') return { status: 'done', heads: out.heads, rounds: out.rounds, family: out.family, size: out.size };
    return {
      ...out,
      baseline: out.baseline.map((b) => preview(b, 'the current set’s preview')),
      candidates: out.candidates.map((c) => ({ ...c, images: c.images.map((img) => preview(img, `the preview of candidate ${c.name}`)) })),
    };
  }

  private progress(task: 'headEffects' | 'headHunt', p: JobProgress): void {
    this.emit('task', { task, step: p.step, total: p.total });
  }

  private async run<T>(what: string, job: () => Promise<T>): Promise<T> {
    try {
      return await job();
    } catch (e) {
      if (e instanceof BadRequestError) throw new BadRequestError(`${what}: ${e.message}`);
      if (e instanceof EngineJobError) throw new Error(`${what}: ${e.message}`);
      if (e instanceof HostCrashedError) throw new Error(`${what}: the engine stopped (it ${e.how}); it has been restarted, so try again`);
      throw e;
    }
  }
}

/** The engine is another component: its images are checked before they are sent on. */
export function preview(img: Rgb8, what: string): Preview {
  if (!(img?.pixels instanceof Uint8Array) || img.pixels.length !== img.width * img.height * 3) {
    throw new Error(`the engine returned ${what} in an unexpected shape`);
  }
  return { width: img.width, height: img.height, rgbBase64: Buffer.from(img.pixels.buffer, img.pixels.byteOffset, img.pixels.byteLength).toString('base64') };
}

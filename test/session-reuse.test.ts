// The engine's one session cache, counted through its own counters: jobs go through run() (the
// engine host's entry), models load through WarmModels, and every session a pipeline, VAE, text
// encoder or story model uses is created by the cache. A second job on the same model creates none;
// another model releases the first one's; clearing the cache (host.releaseSessions) lets the warm
// model go, so the next job creates its sessions again.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { releaseModels } from '../pipelines/families/load.ts';
import { parseJob, type GenerateRequestInput } from '../pipelines/jobs/api.ts';
import { run } from '../pipelines/jobs/run.ts';
import { engineSessions } from '../pipelines/runtime/session-cache.ts';
import { fixture, skipWithoutFixtures } from './fixtures.ts';

after(() => releaseModels());

/** What the cache counted while `job` ran. */
async function counted(job: () => Promise<unknown>): Promise<{ created: number; hits: number; released: number }> {
  const before = { ...engineSessions.stats };
  await job();
  const s = engineSessions.stats;
  return { created: s.created - before.created, hits: s.hits - before.hits, released: s.released - before.released };
}

const generate = (request: GenerateRequestInput) => () => run(parseJob({ kind: 'generate', request }));

test('a second generate job on the built-in model reuses every session; another model releases them', async (t) => {
  await engineSessions.clear();
  const first = await counted(generate({ model: 'emoji-lit', prompt: 'a smiling cat face', seed: 1, steps: 2 }));
  // Text encoder, VAE decoder and the denoiser for one guided image.
  assert.equal(first.created, 3, 'the first job creates the model\'s sessions');
  const held = engineSessions.size;
  assert.equal(held, first.created, 'the cache holds what the job created');

  const second = await counted(generate({ model: 'emoji-lit', prompt: 'a pizza', seed: 2, steps: 3, batch: 2 }));
  assert.equal(second.created, 1, 'another batch size is one new denoiser graph; the text encoder and decoder are reused');
  const third = await counted(generate({ model: 'emoji-lit', prompt: 'a red apple', seed: 3, steps: 2 }));
  assert.deepEqual({ created: third.created, released: third.released }, { created: 0, released: 0 }, 'the same shapes again: no session created, none released');
  assert.ok(third.hits >= 1, `the denoiser comes from the cache (hits ${third.hits})`);

  const other = await counted(generate({ model: 'emoji-dico', prompt: 'a smiling cat face', seed: 1, steps: 2 }));
  assert.equal(other.released, held + second.created, 'loading another model releases every session of the last one');
  assert.equal(engineSessions.size, other.created, 'only the new model is held');

  // host.releaseSessions clears the cache: the warm model goes with it, and the next job starts cold.
  await engineSessions.clear();
  assert.equal(engineSessions.size, 0);
  const cold = await counted(generate({ model: 'emoji-dico', prompt: 'a smiling cat face', seed: 1, steps: 2 }));
  assert.equal(cold.created, other.created, 'after a clear the same job creates its sessions again');
  t.diagnostic(`emoji-lit: first job ${JSON.stringify(first)}, batch 2 ${JSON.stringify(second)}, same shapes ${JSON.stringify(third)}; emoji-dico after it ${JSON.stringify(other)}`);
});

test('a second story on the same model reuses the story sessions', async (t) => {
  await engineSessions.clear();
  const story = (seed: number) => () =>
    run(parseJob({
      kind: 'story',
      studioVersion: 'test',
      story: { seed, steps: 2, cfg: 3.5, subjects: [{ name: 'cat', words: 'cat face' }, { name: 'pizza' }], scenes: [{ prompt: 'a cat face and a pizza', boxes: { cat: [0, 0.25, 0.5, 0.75], pizza: [0.5, 0.25, 1, 0.75] } }] },
    }));
  const first = await counted(story(21));
  assert.ok(first.created >= 4, `text, decoder, the probed and the story graph (created ${first.created})`);
  const second = await counted(story(22));
  assert.equal(second.created, 0, 'the second story creates no session');
  assert.ok(second.hits >= 2, `its graphs come from the cache (hits ${second.hits})`);
  t.diagnostic(`emoji-dit story: first ${JSON.stringify(first)}, second ${JSON.stringify(second)}`);
});

test('a second job on a Stable Diffusion checkpoint reuses the UNet, text encoder and VAE sessions', { skip: skipWithoutFixtures }, async (t) => {
  await engineSessions.clear();
  const request = (seed: number): GenerateRequestInput => ({ model: fixture('sd15-tiny'), prompt: 'a red apple', seed, steps: 2, sampler: 'euler', width: 64, height: 64 });
  const first = await counted(generate(request(1)));
  assert.ok(first.created >= 3, `text encoder, UNet and VAE decoder (created ${first.created})`);
  const second = await counted(generate(request(2)));
  assert.deepEqual({ created: second.created, released: second.released }, { created: 0, released: 0 });
  assert.ok(second.hits >= 3, `UNet per step, text encoder, VAE decoder from the cache (hits ${second.hits})`);
  t.diagnostic(`sd15-tiny: first ${JSON.stringify(first)}, second ${JSON.stringify(second)}`);
});

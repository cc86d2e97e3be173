import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { TorchGenerator } from '../pipelines/random/torch-randn.ts';
import { SAMPLERS, getSampler, img2imgStartIndex, type ModelFn, type SamplerName, type SchedulerConfig } from '../pipelines/samplers/index.ts';
import { spacedTimesteps } from '../pipelines/samplers/schedule.ts';
import type { PredictionType } from '../pipelines/samplers/config.ts';
import { fixture, relL2, skipWithoutFixtures } from './fixtures.ts';

interface FixtureEntry {
  class: string;
  config: SchedulerConfig;
  num_inference_steps: number;
  timesteps: number[];
  sigmas: number[] | null;
  init_noise_sigma?: number;
  model?: string;
}

// Fixture keys are diffusers-flavoured; the registry uses the CLI names.
const REGISTRY_NAME: Record<string, SamplerName> = { euler_ancestral: 'euler_a' };
const TOLERANCE = 1e-4;

function loadFixture(): { notes: Record<string, string>; entries: Record<string, FixtureEntry>; golden: SafetensorsFile } {
  const json = JSON.parse(readFileSync(fixture('schedulers.json'), 'utf8')) as { schedulers: Record<string, FixtureEntry> } & Record<string, unknown>;
  const notes = Object.fromEntries(Object.entries(json).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
  return { notes, entries: json.schedulers, golden: SafetensorsFile.open(fixture('schedulers.safetensors')) };
}

/** The fixture's stand-in model: 0.1*x_in + 0.001*t (flow: v = 0.2*x - 0.05). */
function standIn(flow: boolean): ModelFn {
  return async (x, t) => x.map((v) => (flow ? 0.2 * v - 0.05 : 0.1 * v + 0.001 * t));
}

/** Float32 steps between a and b. */
function ulps(a: number, b: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat32(0, a);
  view.setFloat32(4, b);
  return Math.abs(view.getInt32(0) - view.getInt32(4));
}

test('every fixture scheduler: timesteps, sigmas, first step and final latents match diffusers', { skip: skipWithoutFixtures }, async () => {
  const { notes, entries, golden } = loadFixture();
  assert.match(notes.model, /0\.1\*x_in \+ 0\.001\*t/, 'the fixture changed its stand-in model');
  assert.equal(Object.keys(entries).length, 12);
  for (const [key, entry] of Object.entries(entries)) {
    const flow = key === 'flow_euler';
    if (flow) assert.equal(entry.model, 'v = 0.2*x - 0.05', 'the fixture changed its flow stand-in model');
    const sampler = getSampler(REGISTRY_NAME[key] ?? key);
    const steps = entry.num_inference_steps;
    const plan = sampler.plan(entry.config, steps);

    assert.equal(plan.timesteps.length, entry.timesteps.length, `${key}: number of timesteps`);
    plan.timesteps.forEach((t, i) => {
      // Integer timesteps exactly; fractional (Karras) ones to one float32 ulp, as numpy's float32
      // log differs across CPUs by that much.
      const exp = entry.timesteps[i];
      if (Number.isInteger(exp)) assert.equal(t, exp, `${key}: timestep ${i}`);
      else assert.ok(ulps(t, exp) <= 1, `${key}: timestep ${i} is ${t}, expected ${exp}`);
    });
    if (entry.sigmas) {
      assert.ok(plan.sigmas, `${key}: sigmas missing`);
      assert.ok(relL2(plan.sigmas, entry.sigmas) < 1e-6, `${key}: sigmas ${plan.sigmas} vs ${entry.sigmas}`);
    } else {
      assert.equal(plan.sigmas, null, `${key}: diffusers has no sigmas here`);
    }
    if (entry.init_noise_sigma !== undefined) assert.equal(plan.initNoiseSigma, entry.init_noise_sigma, `${key}: init_noise_sigma`);

    const xInitGolden = golden.readFloat32(`${key}_x_init`);
    const x = new TorchGenerator(0).randn(golden.info(`${key}_x_init`).shape).map((v) => v * plan.initNoiseSigma);
    assert.ok(relL2(x, xInitGolden) < 1e-7, `${key}: x_init = randn(seed 0) * init_noise_sigma`);

    let afterFirst: Float32Array | undefined;
    const final = await sampler.sample({
      model: standIn(flow),
      x,
      config: entry.config,
      steps,
      generator: new TorchGenerator(42),
      onStep: (i, latents) => {
        if (i === 0) afterFirst = latents.slice();
      },
    });
    if (golden.tensors.has(`${key}_x_after_first_step`)) {
      const err = relL2(afterFirst!, golden.readFloat32(`${key}_x_after_first_step`));
      assert.ok(err < TOLERANCE, `${key}: x after the first step, rel L2 ${err}`);
    }
    const err = relL2(final, golden.readFloat32(`${key}_x_final`));
    assert.ok(err < TOLERANCE, `${key}: final x, rel L2 ${err}`);
  }
});

test('v- and x0-predicting models give the same trajectories as the equivalent eps model', { skip: skipWithoutFixtures }, async () => {
  const { entries } = loadFixture();
  const eps = standIn(false);
  // At noise level s the model input is alpha·x0 + sigma·eps with alpha = 1/sqrt(1+s²), sigma = s·alpha.
  const asPrediction = (kind: 'v_prediction' | 'sample'): ModelFn => async (xIn, t, s) => {
    const e = await eps(xIn, t, s);
    const alpha = 1 / Math.sqrt(1 + s * s);
    const sigma = s * alpha;
    return xIn.map((xi, i) => {
      const x0 = (xi - sigma * e[i]) / alpha;
      return kind === 'v_prediction' ? alpha * e[i] - sigma * x0 : x0;
    });
  };
  for (const [key, entry] of Object.entries(entries)) {
    if (key === 'flow_euler') continue;
    const sampler = getSampler(REGISTRY_NAME[key] ?? key);
    const x = new TorchGenerator(0).randn([256]).map((v) => v * sampler.plan(entry.config, 10).initNoiseSigma);
    const run = (model: ModelFn, prediction_type: PredictionType) =>
      sampler.sample({ model, x, config: { ...entry.config, prediction_type }, steps: 10, generator: new TorchGenerator(42) });
    const reference = await run(eps, 'epsilon');
    // Diffusers' PNDM converts the multistep *combination* of v outputs at the current step, which
    // is not the same as combining eps; this port mirrors that, so PNDM is left out here.
    if (key === 'pndm') continue;
    for (const kind of ['v_prediction', 'sample'] as const) {
      const err = relL2(await run(asPrediction(kind), kind), reference);
      assert.ok(err < 1e-5, `${key} with ${kind}: rel L2 ${err} from the eps run`);
    }
  }
});

test('with many steps every deterministic sampler and option reaches the same ODE solution', async () => {
  // A smooth stand-in in terms of the noise level, so that all samplers integrate the same ODE.
  const model: ModelFn = async (x, _t, s) => x.map((v) => 0.1 * v + (0.01 * s) / (1 + s));
  const base: SchedulerConfig = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, timestep_spacing: 'trailing', set_alpha_to_one: true, clip_sample: false };
  const noise = new TorchGenerator(5).randn([64]);
  const run = (name: SamplerName, extra: SchedulerConfig = {}) => {
    const config = { ...base, ...extra };
    const x = noise.map((v) => v * SAMPLERS[name].plan(config, 100).initNoiseSigma);
    return SAMPLERS[name].sample({ model, x, config, steps: 100 });
  };
  const reference = await run('dpmpp_2m');
  const firstOrder: Array<[SamplerName, SchedulerConfig?]> = [['ddim'], ['euler'], ['euler_karras'], ['heun'], ['heun_karras'], ['lms'], ['lms_karras']];
  const higherOrder: Array<[SamplerName, SchedulerConfig?]> = [
    ['pndm'], ['dpmpp_2m', { solver_type: 'heun' }], ['dpmpp_2m_karras'],
    ['unipc'], ['unipc', { solver_order: 3 }], ['unipc', { solver_type: 'bh1' }], ['unipc_karras'],
  ];
  for (const [cases, tolerance] of [[firstOrder, 1e-2], [higherOrder, 1e-3]] as const) {
    for (const [name, extra] of cases) {
      const err = relL2(await run(name, extra), reference);
      assert.ok(err < tolerance, `${name} ${JSON.stringify(extra ?? {})}: rel L2 ${err} from DPM++ 2M`);
    }
  }
});

test('img2img starts where diffusers get_timesteps does and continues the full run exactly', async () => {
  const config: SchedulerConfig = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, steps_offset: 1, timestep_spacing: 'leading' };
  assert.equal(img2imgStartIndex(SAMPLERS.euler, config, 10, 0.6), 4);
  assert.equal(img2imgStartIndex(SAMPLERS.heun, config, 10, 0.6), 8);
  assert.equal(img2imgStartIndex(SAMPLERS.pndm, config, 10, 0.6), 4);
  assert.equal(img2imgStartIndex(SAMPLERS.ddim, config, 10, 1), 0);
  assert.throws(() => img2imgStartIndex(SAMPLERS.ddim, config, 10, 0.05), /runs no step/);
  assert.throws(() => img2imgStartIndex(SAMPLERS.ddim, config, 10, 1.5), /strength must be a number in \[0, 1\]/);

  const model = standIn(false);
  for (const name of ['ddim', 'euler', 'heun', 'flow_euler'] as const) {
    const sampler = SAMPLERS[name];
    const x = new TorchGenerator(1).randn([64]).map((v) => v * sampler.plan(config, 10).initNoiseSigma);
    const trajectory: Float32Array[] = [];
    const full = await sampler.sample({ model, x, config, steps: 10, onStep: (_, latents) => void trajectory.push(latents) });
    const startIndex = img2imgStartIndex(sampler, config, 10, 0.6);
    const resumed = await sampler.sample({ model, x: trajectory[startIndex - 1], config, steps: 10, startIndex });
    assert.deepEqual(resumed, full, `${name}: resuming at ${startIndex} changes the result`);
  }

  const x0 = new TorchGenerator(2).randn([16]);
  const noise = new TorchGenerator(3).randn([16]);
  const sigma = SAMPLERS.euler.plan(config, 10).sigmas![4];
  const noisy = SAMPLERS.euler.addNoise(config, 10, 4, x0, noise);
  noisy.forEach((v, i) => assert.ok(Math.abs(v - (x0[i] + sigma * noise[i])) < 1e-6));
  // The VP form of the same noise level: the Euler latents scaled to unit variance.
  const vp = SAMPLERS.ddim.addNoise(config, 10, 4, x0, noise);
  assert.ok(relL2(vp, noisy.map((v) => v / Math.sqrt(1 + sigma * sigma))) < 1e-6);
});

test('the step callback sees every step and can cancel sampling by throwing', async () => {
  const config: SchedulerConfig = {};
  let calls = 0;
  const model: ModelFn = async (x) => {
    calls++;
    return x.map((v) => 0.1 * v);
  };
  const seen: number[] = [];
  await SAMPLERS.dpmpp_2m.sample({ model, x: new Float32Array(4).fill(1), config, steps: 5, onStep: (i, _x, total) => void seen.push(i, total) });
  assert.deepEqual(seen, [0, 5, 1, 5, 2, 5, 3, 5, 4, 5]);
  calls = 0;
  await assert.rejects(
    SAMPLERS.euler.sample({ model, x: new Float32Array(4).fill(1), config, steps: 5, onStep: (i) => { if (i === 1) throw new Error('cancelled'); } }),
    /cancelled/,
  );
  assert.equal(calls, 2);
});

test('timestep spacing follows numpy: half-even rounding, trailing and leading offsets', () => {
  // np.linspace(0, 999, 7).round() has the halves 166.5 -> 166 and 499.5 -> 500.
  assert.deepEqual(spacedTimesteps('linspace', 1000, 7, 0), [999, 832, 666, 500, 333, 166, 0]);
  assert.deepEqual(spacedTimesteps('trailing', 1000, 4, 0), [999, 749, 499, 249]);
  assert.deepEqual(spacedTimesteps('leading', 1000, 4, 1), [751, 501, 251, 1]);
  // DPM-Solver/UniPC space 5 points 200 apart and drop the last (0).
  assert.deepEqual(spacedTimesteps('leading', 1000, 4, 1, { extraStep: true }), [801, 601, 401, 201]);
});

test('bad names, configs and arguments fail with clear errors', async () => {
  const model = standIn(false);
  const x = new Float32Array(4);
  assert.throws(() => getSampler('euler_b'), /unknown sampler "euler_b"; choose one of: ddim, pndm/);
  assert.throws(() => SAMPLERS.ddim.plan({ beta_schedule: 'cosine' as never }, 10), /beta_schedule is "cosine"; expected one of/);
  assert.throws(() => SAMPLERS.ddim.plan({}, 0), /steps must be an integer >= 1/);
  assert.throws(() => SAMPLERS.ddim.plan({}, 1001), /cannot exceed num_train_timesteps/);
  assert.throws(() => SAMPLERS.euler.plan({ use_exponential_sigmas: true }, 10), /use_exponential_sigmas = true is not supported/);
  assert.throws(() => SAMPLERS.dpmpp_2m.plan({ solver_type: 'logrho' }, 10), /solver_type logrho is not supported/);
  assert.throws(() => SAMPLERS.pndm.plan({ skip_prk_steps: false }, 10), /skip_prk_steps = false/);
  await assert.rejects(SAMPLERS.euler_a.sample({ model, x, config: {}, steps: 4 }), /pass a generator/);
  await assert.rejects(SAMPLERS.ddim.sample({ model, x, config: {}, steps: 4, startIndex: 4 }), /startIndex 4 must be an integer in \[0, 4\)/);
  await assert.rejects(SAMPLERS.heun.sample({ model, x, config: {}, steps: 4, startIndex: 1 }), /multiple of 2/);
  await assert.rejects(SAMPLERS.ddim.sample({ model: async () => new Float32Array(3), x, config: {}, steps: 4 }), /model returned 3 values for 4 latent values/);
});

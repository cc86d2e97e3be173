// The ladder's memory plan: what it refuses and what it suggests (decisions, not timings), on the SD 1.5
// UNet's real tensor sizes (bench/lib/unet-tensors.ts lists them without weights).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GenerateRequestSchema, ladderStages, type LadderStage } from '../pipelines/jobs/api.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import { budgetAboveDevice, describePlan, memoryFor, planLadder, refusal, unetSizes, type PlanInput, type UNetSizes } from '../pipelines/recipes/hires/memory-plan.ts';
import { SD15_UNET_CONFIG, SDXL_UNET_CONFIG, unetTensorSpecs } from '../bench/lib/unet-tensors.ts';

const GiB = 2 ** 30;
/** The plan's view of a UNet whose tensors bench/lib/unet-tensors.ts lists. */
function sizesOf(name: string, config: typeof SD15_UNET_CONFIG | typeof SDXL_UNET_CONFIG): UNetSizes {
  const c = parseUNetConfig(config, `${name} config`);
  const specs = new Map(unetTensorSpecs(c).map((s) => [s.name, s]));
  return unetSizes({ path: name, keys: () => [...specs.keys()], has: (k) => specs.has(k), info: (k) => ({ name: k, dtype: 'F16', shape: specs.get(k)!.shape, offset: 0, byteLength: 0, file: name }) }, c);
}
const sd15 = sizesOf('sd15', SD15_UNET_CONFIG);
const sdxl = sizesOf('sdxl', SDXL_UNET_CONFIG);

const stages = ladderStages({ width: 1024, height: 512 }, { width: 16384, height: 8192, mode: 'ladder', keepStages: false }, 50) as LadderStage[];
const input = (o: Partial<PlanInput> = {}): PlanInput => ({
  unet: sd15, otherParams: 207e6, stages, rows: 2, images: 1, attention: 'linfusion', provider: 'cuda', bytesPerValue: 2, ...o,
});

test("the plan reads the UNet's sizes off its tensors: 859.5 M parameters, most at the deeper levels", () => {
  assert.equal(sd15.total, 859_520_964);
  assert.equal(sd15.baseChannels, 320);
  // Skips per latent token: 3 × 320 at level 0, then 320/4 (downsampler), 2 × 640/4, 640/16, 2 × 1280/16, 1280/64, 2 × 1280/64.
  assert.equal(sd15.skipValues, 960 + 80 + 320 + 40 + 160 + 20 + 40);
  assert.equal(sd15.attention.length, 16);
  assert.ok(sd15.perTokenByLevel[0] < sd15.perTokenByLevel[2], 'level 0 (320 channels) holds fewer parameters than level 2 (1280)');
});

test("each stage's least memory grows with its size; the ladder's peak is its largest stage's", () => {
  const least = planLadder(input({ availableBytes: 1 }));
  for (let i = 1; i < least.stages.length; i++) assert.ok(least.stages[i].peakBytes > least.stages[i - 1].peakBytes);
  const plan = planLadder(input());
  // With room, a stage runs its fastest way: 8192×4096 whole may hold more than 16K split into sessions.
  assert.equal(plan.peakBytes, Math.max(...plan.stages.map((st) => st.peakBytes)));
  assert.equal(plan.tooBig, undefined, 'unknown memory: nothing refused');
  assert.equal(refusal(input()), undefined);
});

test('a stage that does not fit even split into sessions with one row at a time is refused, naming the largest final size that does', () => {
  const least = planLadder(input({ availableBytes: 1 })).stages.map((st) => st.peakBytes);
  const between = (least[3] + least[4]) / 2;
  const why = refusal(input({ availableBytes: between }));
  assert.match(why ?? '', /stage 16384×8192 needs about [\d.]+ GiB on cuda \(UNet split into sessions, skips in host memory, CFG rows one at a time, feed-forward in 32 pieces, VAE tiles \d+ px(, \d per run)?\), more than the [\d.]+ GiB available/);
  assert.match(why ?? '', /--hires 8192x4096 \(3 stages\) fits/);
  assert.doesNotMatch(why ?? '', /linfusion:PATH/, 'LinFusion is already on');
  assert.equal(refusal(input({ availableBytes: least[4] * 1.01 })), undefined);
  const capped = refusal(input({ availableBytes: 140 * GiB, budgetBytes: between })) ?? '';
  assert.match(capped, /more than the ladder's [\d.]+ GiB budget \(--hires-memory\)/);
  assert.match(capped, new RegExp(`Try: --hires-memory ${Math.ceil(least[4] / GiB)} \\(the least this ladder needs\\); or --hires 8192x4096 \\(3 stages\\) fits`));
  assert.equal(refusal(input({ availableBytes: 140 * GiB, budgetBytes: Math.ceil(least[4] / GiB) * GiB })), undefined, 'the budget it names fits');
  assert.equal(GenerateRequestSchema.parse({ prompt: 'x', hires: { width: 2048, height: 1024, memoryGiB: 24 } }).hires?.memoryGiB, 24);
  assert.match(JSON.stringify(GenerateRequestSchema.safeParse({ prompt: 'x', hires: { width: 2048, height: 1024, memoryGiB: 0 } }).error?.issues), /memoryGiB.*must be above 0|must be above 0.*memoryGiB/);
});

test("a --hires-memory above what the device reports is taken on the user's word, and a refusal offers it", () => {
  const least = planLadder(input({ availableBytes: 1 })).peakBytes;
  const n = Math.ceil(least / GiB);
  const device = least * 0.7;
  const why = refusal(input({ availableBytes: device })) ?? '';
  assert.match(why, new RegExp(`more than the [\\d.]+ GiB available .*; or --hires-memory ${n} to run it anyway`));
  const trusted = input({ availableBytes: device, budgetBytes: n * GiB });
  assert.equal(refusal(trusted), undefined, 'the user\'s budget, not the device\'s report');
  assert.match(budgetAboveDevice(trusted) ?? '', new RegExp(`--hires-memory ${n}\\.0 GiB is above the [\\d.]+ GiB this device reports: planned on your word`));
  assert.equal(budgetAboveDevice(input({ availableBytes: device, budgetBytes: device / 2 })), undefined, 'a budget below the device needs no word');
  const short = refusal(input({ availableBytes: device, budgetBytes: least / 2 })) ?? '';
  assert.match(short, /more than the ladder's [\d.]+ GiB budget \(--hires-memory\)/);
  assert.match(short, new RegExp(`--hires-memory ${n} \\(the least this ladder needs, above the [\\d.]+ GiB this device reports\\)`));
  assert.doesNotMatch(short, /to run it anyway/, 'a budget was given: the refusal names the one that fits instead');
});

test('within the memory, each stage runs the fastest way that fits: whole, then split into sessions with the skips on the device, then in host memory', () => {
  const roomy = planLadder(input({ availableBytes: 1000 * GiB }));
  assert.ok(roomy.stages.slice(0, -1).every((st) => !st.unet.split && !st.unet.rowByRow), 'whole with room to spare, up to 8192×4096');
  const last = roomy.stages.at(-1)!;
  assert.ok(last.unet.split && last.unet.rowByRow && !last.unet.skipsOnHost, '16K as it has run on the GPU (2 M tokens a run, split, one row at a time), not as one untried 4 M-token graph');
  const budgets = [1000, 60, 40, 30, 24, 16, 12, 8].map((g) => planLadder(input({ availableBytes: 140 * GiB, budgetBytes: g * GiB })).stages[3]);
  const ways = budgets.map((st) => `${st.unet.split ? 'split' : 'whole'}${st.unet.skipsOnHost ? ' host' : ''}${st.unet.rowByRow ? ' row by row' : ''}`);
  assert.deepEqual([...new Set(ways)], ways.filter((w, i) => ways.indexOf(w) === i), 'each way once, in order');
  assert.equal(ways[0], 'whole');
  assert.match(ways.at(-1)!, /^split( host)? row by row$/);
  assert.ok(ways.includes('split'), ways.join('; '));
  for (let i = 1; i < budgets.length; i++) {
    assert.ok(budgets[i].bytes.unet <= budgets[i - 1].bytes.unet, 'less memory for the UNet as the budget shrinks');
    assert.ok(budgets[i].unetCallSeconds >= budgets[i - 1].unetCallSeconds, 'and no faster: skips in host memory are copied there and back');
  }
});

test('without LinFusion the refusal also offers it, with the time it saves; batches are told to use --batch 1', () => {
  const softmax = planLadder(input({ attention: 'softmax' }));
  const linfusion = planLadder(input());
  assert.ok(softmax.seconds > 10 * linfusion.seconds, 'softmax attention is quadratic in the tokens');
  const why = refusal(input({ attention: 'softmax', images: 2, rows: 4, availableBytes: 12 * GiB }));
  assert.match(why ?? '', /--batch 1/);
  assert.match(why ?? '', /--attention linfusion:PATH \(.+ instead of .+\)/);
});

test('the VAE tile shrinks until it fits; stages up to 2048 px run whole when they fit', () => {
  const roomy = planLadder(input({ availableBytes: 1000 * GiB }));
  assert.deepEqual(roomy.stages.map((s) => [s.vaeTile, s.vaeTilesPerRun]), [[undefined, undefined], [undefined, undefined], [128, 4], [128, 4], [128, 4]], '1024 px tiles four to a run: the fastest per pixel');
  const tight = planLadder(input({ availableBytes: 5 * GiB }));
  assert.ok(tight.stages[1].vaeTile !== undefined, 'a 2048 px stage tiles when it must');
  assert.ok(tight.stages[2].vaeTile! < 128 || tight.stages[2].vaeTilesPerRun === undefined, 'fewer tiles to a run, then smaller tiles');
  assert.ok(tight.stages.every((st) => st.vaeTile === undefined || st.vaeTile * 8 < Math.max(st.width, st.height)), 'never a tile as large as the image');
  assert.equal(refusal(input({ availableBytes: 0.5 * GiB }))?.includes('a smaller --width/--height and --hires'), true, 'not even the base fits');
});

test('above 2048² the plan computes the feed-forward and LinFusion in pieces, and counts what that saves', () => {
  const plan = planLadder(input());
  assert.deepEqual(plan.stages.map((s) => [s.unet.ffPieces, s.unet.attentionPieces]), [[1, 1], [1, 1], [2, 2], [8, 8], [32, 16]], '16K: 32 token pieces, LinFusion in 2 rows × 8 heads');
  assert.deepEqual(memoryFor(256 * 256, 2, 8), { ffPieces: 1, attentionPieces: 1 });
  // Against the same stage in one piece (20 + 12 of the 120 values per row × token × channel at 1/32 and 1/16).
  const whole = onePiece(plan.stages[4]);
  assert.ok(plan.stages[4].peakBytes < 0.8 * whole, `${(plan.stages[4].peakBytes / GiB).toFixed(0)} GiB in pieces, ${(whole / GiB).toFixed(0)} GiB whole`);
  assert.match(describePlan(plan, 'cuda'), /16384×8192 [\d.]+ GiB, ~\d+ (s|min) \(UNet split into sessions, CFG rows one at a time, feed-forward in 32 pieces, VAE tiles 1024 px, 4 per run\)/);
});

/** The 16K stage's peak as it would be in one piece: weights + 120 values per row × token × base channel (fp16). */
function onePiece(s: { width: number; height: number }): number {
  return (sd15.total + 207e6) * 2 + 0.5 * GiB + 120 * 2 * (s.width / 8) * (s.height / 8) * sd15.baseChannels * 2;
}

test("on CUDA the plan predicts the H200's measured UNet calls: time within 20 %, memory within 10 % (bench/NOTES.md, session 6: native sessions, batch 2, fp16)", () => {
  // [UNet, width, height, attention, the way it ran, ms per CFG call, GPU GiB above the process start (weights and
  // LinFusion's modules included, which the plan leaves out)].
  const whole = { ffPieces: 1, attentionPieces: 1 };
  const measured: [UNetSizes, number, number, string, PlanInput['unetMemory'], number, number][] = [
    // SD 1.5, lead's window 1b (`gn-probe`, after the fused GroupNorm).
    [sd15, 1024, 1024, 'softmax', whole, 33.2, 3.48],
    [sd15, 1024, 1024, 'linfusion', whole, 37.6, 3.87],
    [sd15, 2048, 2048, 'softmax', whole, 282.1, 6.16],
    [sd15, 2048, 2048, 'linfusion', whole, 132.2, 7.31],
    // Split into sessions, skips held on the device, CFG rows one at a time, FF in 32 pieces: the time on the H200
    // (window 2, `lead16k`), the memory on the H100, the whole stage's process with the pieces and the VAE on CUDA's
    // pool (session 11, `h16d`).
    [sd15, 16384, 8192, 'linfusion', { ffPieces: 32, attentionPieces: 16, split: true, rowByRow: true }, 3390, 21.1],
    // SDXL-size + LinFusion, the plan's ways within 48 GiB (s6-b2's window 2, `hires-sdxl`).
    [sdxl, 2048, 2048, 'linfusion', whole, 250, 9.9],
    [sdxl, 4096, 4096, 'linfusion', { ffPieces: 4, attentionPieces: 4 }, 1280, 18.9],
    [sdxl, 8192, 4096, 'linfusion', { ffPieces: 8, attentionPieces: 8, rowByRow: true }, 4580, 18.6],
  ];
  for (const [unet, width, height, attention, unetMemory, ms, gib] of measured) {
    const s = planLadder(input({ unet, stages: [{ width, height, steps: 1, strength: 1 }], attention, otherParams: 0, unetMemory })).stages[0];
    // The UNet's process: its weights and activations (the stage's peak may be the VAE's).
    const planned = (s.bytes.weights + s.bytes.unet) / GiB;
    const what = `${unet === sdxl ? 'SDXL' : 'SD 1.5'} ${width}×${height} ${attention}: plan ${(s.unetCallSeconds * 1000).toFixed(1)} ms, ${planned.toFixed(2)} GiB; measured ${ms} ms, ${gib} GiB`;
    assert.deepEqual(s.unet, unetMemory, 'the plan estimates the way given, not its own choice');
    assert.equal(s.sharedArena, unetMemory?.split === true, "a split UNet's stage runs its VAE on the shared arena, a whole one's on its own");
    assert.ok(Math.abs(s.unetCallSeconds * 1000 / ms - 1) <= 0.2, what);
    assert.ok(Math.abs(planned / gib - 1) <= 0.1, what);
  }
});

test("on CUDA the plan's 16384×8192 split stage is within 10 % of the H100's whole-process peak, SD 1.5 and SDXL (bench/NOTES.md, session 11, `h16d`)", () => {
  // GPU GiB above the process start: weights, the VAE's tiles and the CUDA context included; LinFusion's modules are
  // left out of the plan as above. Rows one at a time, FF in 32 pieces, LinFusion in the run's pieces.
  const measured: [UNetSizes, number, number][] = [[sd15, 16, 21.1], [sdxl, 20, 24.5]];
  for (const [unet, attentionPieces, gib] of measured) {
    const s = planLadder(input({ unet, stages: [{ width: 16384, height: 8192, steps: 1, strength: 1 }], otherParams: 0, unetMemory: { ffPieces: 32, attentionPieces, split: true, rowByRow: true } })).stages[0];
    const planned = s.peakBytes / GiB;
    assert.ok(Math.abs(planned / gib - 1) <= 0.1, `${unet === sdxl ? 'SDXL' : 'SD 1.5'} 16384×8192 split: plan ${planned.toFixed(2)} GiB, measured ${gib} GiB`);
  }
});

test("on the CPU the plan's UNet activations cover the native sessions' measured peaks, at most 35 % over (bench/NOTES.md, session 8: batch 2, fp32)", () => {
  // [width, attention, peak RSS above the session in GiB] from bench/cpu-sessions.ts on the full-size SD 1.5 UNet.
  const measured: [number, string, number][] = [
    [512, 'softmax', 0.34],
    [512, 'linfusion', 0.36],
    [1024, 'softmax', 1.76],
    [1024, 'linfusion', 1.78],
  ];
  for (const [size, attention, gib] of measured) {
    const s = planLadder(input({ provider: 'cpu', bytesPerValue: 4, stages: [{ width: size, height: size, steps: 1, strength: 1 }], attention, otherParams: 0, unetMemory: { ffPieces: 1, attentionPieces: 1 } })).stages[0];
    const planned = s.bytes.unet / GiB;
    const what = `SD 1.5 ${size}² ${attention} on the CPU: plan ${planned.toFixed(2)} GiB, measured ${gib} GiB`;
    assert.ok(planned >= gib && planned <= 1.35 * gib, what);
  }
});

// The studio UI end to end: Debian's Chromium (playwright-core) on a real `startServer` with a real
// engine host process. Typing, Ctrl+Enter, progress and previews, the gallery, the head grid, the
// queue, dropped PNGs of several apps, and an engine host killed mid-run. Screenshots of the main
// screens go to test-artifacts/.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { DEFAULT_MODEL as DEFAULT_MODEL_NAME } from '../pipelines/families/registry.ts';
import { embeddedModels } from '../pipelines/families/scan.ts';
import { writeSafetensors } from '../pipelines/io/safetensors.ts';
import { encodePng } from '../pipelines/metadata/encode-png.ts';
import { readImageMetadata } from '../pipelines/metadata/read-metadata.ts';
import { MAX_DROPPED_FILE_BYTES } from '../pipelines/jobs/api-limits.ts';
import { browserSkipReason, openStudio, studioPerSuite, type Studio } from './e2e-harness.ts';
import { CONTROLNET_FIXTURES } from './mini-sd.ts';

const skip = browserSkipReason();

/** Browser globals used inside page.evaluate callbacks. */
interface BrowserGlobals {
  DataTransfer: new () => { items: { add(file: File): void } };
}

/** A small PNG carrying the given text chunks, as another app would have written it. */
async function pngWith(chunks: [string, string][]): Promise<Buffer> {
  const pixels = new Uint8Array(16 * 16 * 3).fill(128);
  return Buffer.from(await encodePng({ width: 16, height: 16, pixels }, chunks));
}

const A1111_TEXT = [
  'a castle on a hill, (sunset:1.2)',
  'Negative prompt: fog, [people]',
  'Steps: 31, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 123456789, Size: 640x448, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, Hires upscale: 1.5, Hires steps: 12, Hires upscaler: Lanczos, Version: v1.10.1',
].join('\n');

const COMFY_PROMPT = JSON.stringify({
  '3': { class_type: 'KSampler', inputs: { seed: 4242, steps: 17, cfg: 5, sampler_name: 'euler_ancestral', scheduler: 'normal', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] } },
  '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'dreamshaper_8.safetensors' } },
  '5': { class_type: 'EmptyLatentImage', inputs: { width: 768, height: 512, batch_size: 1 } },
  '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a red fox in the snow', clip: ['4', 1] } },
  '7': { class_type: 'CLIPTextEncode', inputs: { text: 'lowres', clip: ['4', 1] } },
});

describe('studio in Chromium', { skip }, () => {
  let s: Studio;
  studioPerSuite(openStudio, (opened) => (s = opened));

  const field = (label: string) => s.page.getByLabel(label, { exact: true });
  const job = (status: string) => s.page.locator(`.jobs li.${status}`);
  /** Asserts what the labelled fields show. */
  const expectFields = async (want: Record<string, string>) =>
    assert.deepEqual(Object.fromEntries(await Promise.all(Object.keys(want).map(async (label) => [label, await field(label).inputValue()]))), want);
  /** What the sampling fields show, as their input values. */
  const shown = async () => ({
    sampler: await field('Sampler').inputValue(),
    steps: await field('Steps').inputValue(),
    cfg: await field('CFG scale').inputValue(),
    width: await field('Width').inputValue(),
    height: await field('Height').inputValue(),
  });
  /** A shipped model's defaults as the fields show them (from its config.json, as listModels reads it). */
  const shippedDefaults = (name: string) => {
    const d = embeddedModels().find((m) => m.name === name)!.defaults;
    return { sampler: d.sampler, steps: String(d.steps), cfg: String(d.cfg), width: String(d.width), height: String(d.height) };
  };
  const MODEL_SETTINGS = ['sampler', 'steps', 'cfg', 'width', 'height'];
  /** The model settings a request carried (the ones it left out are the model's defaults). */
  const sentSettings = (r: Record<string, unknown>) => Object.fromEntries(MODEL_SETTINGS.filter((k) => k in r).map((k) => [k, r[k]]));

  async function drop(name: string, bytes: Buffer, type: string): Promise<void> {
    const dataTransfer = await s.page.evaluateHandle(
      ({ b64, name, type }) => {
        // Runs in the page; this file compiles against Node's types, which have no DataTransfer.
        const dt = new (globalThis as unknown as BrowserGlobals).DataTransfer();
        dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, { type }));
        return dt;
      },
      { b64: bytes.toString('base64'), name, type },
    );
    await s.page.dispatchEvent('main', 'dragover', { dataTransfer });
    await s.page.dispatchEvent('main', 'drop', { dataTransfer });
  }

  test('type a prompt, Ctrl+Enter: progress and a preview show, the image lands in the gallery with its metadata', async () => {
    const defaults = shippedDefaults(DEFAULT_MODEL_NAME);
    // The model's settings reach the form after the page loads: wait for that state before reading it.
    while ((await field('Sampler').inputValue()) === '') await s.page.waitForTimeout(20);
    assert.deepEqual(await shown(), defaults, 'the form starts on the default model’s own settings');
    assert.deepEqual([defaults.width, defaults.sampler], ['64', 'flow_euler']);
    assert.ok(await s.page.getByRole('button', { name: 'Reset to model defaults' }).isDisabled(), 'nothing edited yet');
    await field('Prompt').fill('a lighthouse at dusk, (oil painting:1.2)');
    await field('Steps').fill('12');
    await field('Prompt').focus();
    await s.page.keyboard.press('Control+Enter');

    await s.page.getByText(/denoise: step \d+ of 12/).waitFor();
    await s.page.getByLabel('Preview of the image being generated').waitFor();
    await s.screenshot('studio-generating');

    const thumb = s.page.getByRole('button', { name: /^a lighthouse at dusk/ });
    await thumb.waitFor();
    await job('done').first().waitFor();
    const files = readdirSync(s.outputsDir).filter((f) => f.endsWith('.png'));
    assert.equal(files.length, 1);
    const meta = readImageMetadata(readFileSync(join(s.outputsDir, files[0])), files[0]);
    assert.equal(meta.settings?.prompt, 'a lighthouse at dusk, (oil painting:1.2)');
    assert.equal(meta.settings?.steps, 12);
    assert.match(meta.text.get('parameters') ?? '', /^Steps: 12, /m);
    // The gallery image really loads over HTTP (token, path and CSP all allow it); this engine draws
    // 64 pixels wide when the request leaves the size to the model.
    const loaded = await thumb.locator('img').evaluate((el) => {
      const img = el as unknown as { decode(): Promise<void>; naturalWidth: number };
      return img.decode().then(() => img.naturalWidth);
    });
    assert.equal(loaded, 64);
    assert.equal(s.requests().length, 1);
    assert.equal(s.requests()[0].prompt, 'a lighthouse at dusk, (oil painting:1.2)');
    assert.deepEqual(sentSettings(s.requests()[0]), { steps: 12 }, 'only the edited field is sent; the engine fills the rest');
    assert.equal(s.requests()[0].ep, 'auto', 'jobs run on the fastest provider that works unless Settings says otherwise');
  });

  test('the prompt’s weighting syntax is highlighted, and the highlight matches the text exactly', async () => {
    const prompt = 'a (red:1.3) [cat] BREAK dog \\(x\\) (open';
    await field('Prompt').fill(prompt);
    const backdrop = s.page.locator('.field:has(#prompt) .backdrop');
    assert.equal(await backdrop.locator('.tok-weight').textContent(), ':1.3');
    assert.equal(await backdrop.locator('.tok-keyword').textContent(), 'BREAK');
    assert.deepEqual(await backdrop.locator('.tok-escape').allTextContents(), ['\\(', '\\)']);
    assert.equal(await backdrop.locator('.tok-open').count(), 3);
    assert.equal(await backdrop.textContent(), `${prompt}\n `);
    await s.page.getByText('1 bracket not closed').waitFor();
  });

  test('heads picked in the grid (mouse and keyboard) are sent with the request, with their strengths', async () => {
    await field('Prompt').fill('a tabby cat on a windowsill');
    await field('Steps').fill('6');
    await s.page.getByRole('button', { name: 'layer 2 head 5' }).click();
    assert.equal(await field('PAG scale').inputValue(), '3', 'selecting a head turns PAG on');
    const first = s.page.getByRole('button', { name: 'layer 0 head 0', exact: true });
    await first.focus();
    for (let i = 0; i < 3; i++) await s.page.keyboard.press('ArrowRight');
    await s.page.keyboard.press('Space');
    await s.page.getByLabel('Strength of layer 0 head 3').fill('0.4');
    await s.page.getByText('2 selected', { exact: true }).waitFor();
    await s.screenshot('studio-heads');

    await s.page.getByRole('button', { name: /^Generate/ }).click();
    await job('done').nth(1).waitFor();
    const sent = s.requests().at(-1) as { pag?: { scale: number; layers: string[]; heads: unknown[] } };
    assert.equal(sent.pag?.scale, 3);
    assert.deepEqual(
      [...(sent.pag?.heads ?? [])].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      [
        { layer: 0, head: 3, strength: 0.4 },
        { layer: 2, head: 5, strength: 1 },
      ],
    );
    assert.deepEqual(sent.pag?.layers, ['down_blocks.0.attentions.0.transformer_blocks.0.attn1', 'mid_block.attentions.0.transformer_blocks.0.attn1']);
    await s.page.getByRole('button', { name: 'Clear' }).click();
  });

  test('the UI answers while the engine runs, and queued and running jobs can be cancelled', async () => {
    await field('Prompt').fill('a long job');
    await field('Steps').fill('400');
    await s.page.keyboard.press('Control+Enter');
    await field('Prompt').fill('a queued job');
    await s.page.keyboard.press('Control+Enter');
    await s.page.getByText(/denoise: step \d+ of 400/).waitFor();

    // An interaction during the run: typing updates the highlighted negative prompt while the job still runs.
    await field('Negative prompt').fill('(blurry:1.4)');
    assert.equal(await s.page.locator('.field:has(#negative) .tok-weight').textContent(), ':1.4');
    assert.equal(await job('running').count(), 1, 'the interaction finished while the engine was still running');

    const requestsBefore = s.requests().length;
    await s.page.getByRole('button', { name: /^Cancel job-4$/ }).click();
    await s.page.getByRole('button', { name: /^Cancel job-3$/ }).click();
    await job('cancelled').nth(1).waitFor();
    assert.equal(s.requests().length, requestsBefore, 'the queued job never reached the engine');
    assert.match(await job('cancelled').first().textContent() ?? '', /cancelled before it started/);
    await field('Steps').fill('6');
  });

  test('dropping an A1111 PNG loads its settings into the form', async () => {
    await drop('castle.png', await pngWith([['parameters', A1111_TEXT]]), 'image/png');
    await s.page.getByText('Loaded the settings of "castle.png" (A1111).', { exact: false }).waitFor();
    await expectFields({
      Prompt: 'a castle on a hill, (sunset:1.2)',
      'Negative prompt': 'fog, [people]',
      Steps: '31',
      'CFG scale': '6.5',
      Seed: '123456789',
      Width: '640',
      Height: '448',
      Sampler: 'dpmpp_2m_karras',
      'Upscale by': '1.5',
      Upscaler: 'lanczos',
      'Hires steps': '12',
      'Denoising strength': '0.45',
    });
    assert.ok(await s.page.getByLabel('Upscale and refine').isChecked(), "A1111's hires fix is on");
    assert.ok(await s.page.getByRole('radio', { name: 'Fixed' }).isChecked());
    await s.page.getByText('model "v1-5-pruned-emaonly" (hash 6ce0161689) is not in the library; keeping the current model', { exact: false }).waitFor();
    await s.screenshot('studio-recalled');
    await s.page.getByLabel('Upscale and refine').uncheck(); // the later jobs draw without it
  });

  test('a ComfyUI PNG loads through the file picker (the keyboard way)', async () => {
    await s.page.setInputFiles('input[type=file]', { name: 'fox.png', mimeType: 'image/png', buffer: await pngWith([['prompt', COMFY_PROMPT]]) });
    await s.page.getByText('Loaded the settings of "fox.png" (ComfyUI).', { exact: false }).waitFor();
    await expectFields({
      Prompt: 'a red fox in the snow',
      'Negative prompt': 'lowres',
      Steps: '17',
      Seed: '4242',
      Width: '768',
      Sampler: 'euler_a',
    });
  });

  test('dropping an InvokeAI PNG, then one of the studio’s own, recalls each', async () => {
    const invoke = JSON.stringify({ positive_prompt: 'a paper boat', negative_prompt: 'text', seed: 99, steps: 23, cfg_scale: 4.5, scheduler: 'dpmpp_2m_k', width: 576, height: 832, model: { name: 'sd15', base: 'sd-1' } });
    await drop('boat.png', await pngWith([['invokeai_metadata', invoke]]), 'image/png');
    await s.page.getByText('Loaded the settings of "boat.png" (InvokeAI).', { exact: false }).waitFor();
    await expectFields({
      Prompt: 'a paper boat',
      Steps: '23',
      Height: '832',
      Sampler: 'dpmpp_2m_karras',
    });

    const own = readdirSync(s.outputsDir).find((f) => f.endsWith('.png'))!;
    await drop(own, readFileSync(join(s.outputsDir, own)), 'image/png');
    await s.page.getByText(`Loaded the settings of "${own}" (Diffusion Studio).`, { exact: false }).waitFor();
    await expectFields({
      Prompt: 'a lighthouse at dusk, (oil painting:1.2)',
      Seed: String(s.requests()[0].seed),
    });
  });

  test('dropping a non-image or a PNG without metadata says so and changes nothing', async () => {
    const before = await field('Prompt').inputValue();
    await drop('notes.txt', Buffer.from('just some notes'), 'text/plain');
    const alert = s.page.getByRole('alert');
    await alert.getByText('"notes.txt" is not a PNG image', { exact: false }).waitFor();
    await drop('plain.png', await pngWith([]), 'image/png');
    await alert.getByText('"plain.png" is a PNG without generation settings', { exact: false }).waitFor();
    assert.equal(await field('Prompt').inputValue(), before);
    await s.screenshot('studio-drop-error');
    const dismiss = alert.getByRole('button', { name: 'Dismiss message' });
    while ((await dismiss.count()) > 0) await dismiss.first().click();
  });

  test('a dropped file over the size limit is refused in the page, before it is encoded or sent', async () => {
    // The page's API socket opened with the page: its frames are watched through the DevTools protocol.
    const sent: string[] = [];
    const cdp = await s.page.context().newCDPSession(s.page);
    cdp.on('Network.webSocketFrameSent', (e) => sent.push(e.response.payloadData));
    await cdp.send('Network.enable');
    const calls = () => sent.filter((f) => f.includes('readImageMetadata')).length;
    // Made in the page: a file one byte over the limit (the UI once base64-encoded drops of any size).
    const dataTransfer = await s.page.evaluateHandle((bytes) => {
      const dt = new (globalThis as unknown as BrowserGlobals).DataTransfer();
      dt.items.add(new File([new Uint8Array(bytes)], 'huge.png', { type: 'image/png' }));
      return dt;
    }, MAX_DROPPED_FILE_BYTES + 1);
    await s.page.dispatchEvent('main', 'dragover', { dataTransfer });
    await s.page.dispatchEvent('main', 'drop', { dataTransfer });
    const alert = s.page.getByRole('alert');
    await alert.getByText(`"huge.png" is 32 MiB; the studio reads settings from PNGs up to ${MAX_DROPPED_FILE_BYTES / 2 ** 20} MiB.`).waitFor();
    // A drop under the limit is sent, so the frames are being watched; the big one never was.
    await drop('plain.png', await pngWith([]), 'image/png');
    await alert.getByText('"plain.png" is a PNG without generation settings', { exact: false }).waitFor();
    assert.equal(calls(), 1);
    await cdp.detach();
    const dismiss = alert.getByRole('button', { name: 'Dismiss message' });
    while ((await dismiss.count()) > 0) await dismiss.first().click();
  });

  test('a gallery image shows its parameters and recalls them exactly', async () => {
    await s.page.getByRole('button', { name: /^a lighthouse at dusk/ }).click();
    const details = s.page.getByLabel(/^Parameters of /);
    await details.getByText('a lighthouse at dusk, (oil painting:1.2)').waitFor();
    await details.getByRole('button', { name: 'Recall these settings' }).click();
    await expectFields({
      Prompt: 'a lighthouse at dusk, (oil painting:1.2)',
      Steps: '12',
      Seed: String(s.requests()[0].seed),
      Width: '64',
    });
  });

  test('settings list the execution providers the engine host found, and choose where jobs run', async () => {
    await s.page.getByRole('button', { name: 'Settings', exact: true }).click();
    const cpu = s.page.getByRole('row', { name: /^cpu yes float32/ });
    await cpu.waitFor({ timeout: 20_000 });
    const runOn = field('Run jobs on');
    assert.match(await runOn.evaluate((el) => (el as unknown as { selectedOptions: { text: string }[] }).selectedOptions[0].text), /^auto: \w+ \(float(16|32)\), the fastest that works$/);
    await s.screenshot('studio-settings');
    await runOn.selectOption({ label: 'cpu (float32)' });
    await s.page.getByRole('button', { name: 'Close', exact: true }).click();
    const before = s.requests().length;
    await field('Prompt').fill('on the cpu');
    await s.page.keyboard.press('Control+Enter');
    await s.page.getByRole('button', { name: /^on the cpu/ }).waitFor();
    assert.equal(s.requests().length, before + 1);
    assert.equal(s.requests().at(-1)?.ep, 'cpu');
  });

  test('the engine host killed mid-run: the UI says what happened and the next job runs', async () => {
    await field('Prompt').fill('a job the engine will not finish');
    await field('Steps').fill('400');
    await s.page.keyboard.press('Control+Enter');
    await s.page.getByText(/denoise: step \d+ of 400/).waitFor();
    const pid = Number(/pid (\d+)/.exec((await s.page.locator('.top .engine').textContent()) ?? '')?.[1]);
    assert.ok(pid > 0 && pid !== process.pid, 'the header names the engine host process');
    process.kill(pid, 'SIGKILL');

    await s.page.getByRole('alert').getByText(/engine host was killed by SIGKILL/).waitFor();
    await s.page.locator('.jobs li.failed', { hasText: 'a job the engine will not finish' }).getByText(/it was killed by SIGKILL\); it has been restarted/).waitFor();

    await field('Prompt').fill('after the crash');
    await field('Steps').fill('4');
    await s.page.keyboard.press('Control+Enter');
    await s.page.getByRole('button', { name: /^after the crash/ }).waitFor();
  });

  test('the sampling fields follow the chosen model until edited, and "Reset to model defaults" drops the edits', async () => {
    const tensor = (name: string) => ({ [name]: { dtype: 'F32' as const, shape: [1], data: new Float32Array([0]) } });
    writeSafetensors(join(s.modelsDir, 'tiny-sd15.safetensors'), { ...tensor('model.diffusion_model.input_blocks.0.0.weight'), ...tensor('cond_stage_model.transformer.text_model.final_layer_norm.weight') });
    writeSafetensors(join(s.modelsDir, 'tiny-xl.safetensors'), { ...tensor('conditioner.embedders.1.model.ln_final.weight'), ...tensor('model.diffusion_model.input_blocks.0.0.weight') });
    await s.page.reload(); // a fresh form, and the picker lists the new files
    const reset = s.page.getByRole('button', { name: 'Reset to model defaults' });
    const sd = { sampler: 'dpmpp_2m_karras', steps: '20', cfg: '7.5' };

    await field('Model').selectOption({ label: 'tiny-sd15 (sd1)' });
    assert.deepEqual(await shown(), { ...sd, width: '512', height: '512' });
    await field('Steps').fill('30');
    await field('CFG scale').fill(''); // cleared: the model's default, sent absent
    await field('Model').selectOption({ label: 'tiny-xl (sdxl)' });
    assert.deepEqual(await shown(), { ...sd, steps: '30', cfg: '', width: '1024', height: '1024' });
    await field('Model').selectOption('emoji-dico');
    assert.deepEqual(await shown(), { ...shippedDefaults('emoji-dico'), steps: '30', cfg: '' });

    await field('Prompt').fill('a model switch');
    await s.page.keyboard.press('Control+Enter');
    await s.page.getByRole('button', { name: /^a model switch/ }).waitFor();
    const sent = s.requests().at(-1)!;
    assert.equal(sent.model, 'emoji-dico');
    assert.deepEqual(sentSettings(sent), { steps: 30 });

    await reset.click();
    assert.deepEqual(await shown(), shippedDefaults('emoji-dico'));
    assert.ok(await reset.isDisabled());
    await field('Model').selectOption('');
    assert.deepEqual(await shown(), shippedDefaults(DEFAULT_MODEL_NAME));
  });

  test('an A1111 PNG finds its LoRAs by hash in the models folder (renamed there); one it cannot find is named and left out', async () => {
    const lora = join(s.modelsDir, 'Lora', 'sketch-v2.safetensors');
    mkdirSync(dirname(lora), { recursive: true });
    writeSafetensors(lora, { 'lora_unet_mid_block_attentions_0_proj_in.lora_down.weight': { dtype: 'F32', shape: [1, 8], data: new Float32Array(8).fill(0.25) }, 'lora_unet_mid_block_attentions_0_proj_in.lora_up.weight': { dtype: 'F32', shape: [8, 1], data: new Float32Array(8).fill(0.5) } });
    const hash = createHash('sha256').update(readFileSync(lora)).digest('hex').slice(0, 10);
    await s.page.reload(); // the library is listed with the page
    await field('Prompt').waitFor();
    const text = ['a quiet harbour <lora:sketchy:0.7> <lora:gone:1>', `Steps: 9, Sampler: Euler, CFG scale: 5, Seed: 5, Size: 64x64, Lora hashes: "sketchy: ${hash}, gone: 0123456789", Version: v1.10.1`].join('\n');
    await drop('harbour.png', await pngWith([['parameters', text]]), 'image/png');
    await s.page.getByText('LoRA "gone" (hash 0123456789) is not in the library; it is left out', { exact: false }).waitFor();
    await expectFields({ Prompt: 'a quiet harbour', 'LoRA 1 name or file': lora, 'LoRA 1 weight': '0.7' });
    assert.equal(await field('LoRA 2 name or file').count(), 0);
  });

  test("an A1111 PNG's ControlNet and IP-Adapter units: the ControlNet in the library comes back without its control image; the others are named", async () => {
    const edges = join(s.modelsDir, 'ControlNet', 'edges-mini');
    cpSync(join(CONTROLNET_FIXTURES, 'controlnet-mini'), edges, { recursive: true });
    await s.page.reload();
    await field('Prompt').waitFor();
    const units = [
      'ControlNet 0: "Module: softedge_pidinet, Model: edges-mini [0badcafe], Weight: 0.7, Resize Mode: Crop and Resize, Guidance Start: 0.2, Guidance End: 0.8, Control Mode: Balanced"',
      'ControlNet 1: "Module: depth_midas, Model: control_v11f1p_sd15_depth [cfd03158], Weight: 1, Guidance Start: 0, Guidance End: 1, Control Mode: Balanced"',
      'ControlNet 2: "Module: ip-adapter_clip_sd15, Model: ip-adapter_sd15 [6a3f6166], Weight: 0.6, Guidance Start: 0, Guidance End: 1, Control Mode: Balanced"',
    ];
    const text = ['a lighthouse', `Steps: 9, Sampler: Euler, CFG scale: 5, Seed: 5, Size: 64x64, ${units.join(', ')}, Version: v1.10.1`].join('\n');
    await drop('lighthouse.png', await pngWith([['parameters', text]]), 'image/png');
    const notice = s.page.getByRole('status').getByText('Loaded the settings of "lighthouse.png" (A1111).', { exact: false });
    await notice.waitFor();
    const said = await notice.innerText();
    assert.match(said, /ControlNet "control_v11f1p_sd15_depth" is not in the library; unit 2 is left out/);
    assert.match(said, /The ControlNet needs its control image again/);
    assert.match(said, /IP-Adapter "ip-adapter_sd15" is not in the library; the image prompt is left off/);
    assert.deepEqual(
      [await field('ControlNet 1 model').inputValue(), await field('ControlNet 1 preprocessor').inputValue(), await field('ControlNet 1 weight').inputValue(),
        await field('ControlNet 1 start').inputValue(), await field('ControlNet 1 end').inputValue(), await field('ControlNet 1 guess mode').isChecked()],
      [edges, 'softedge', '0.7', '0.2', '0.8', false],
    );
    await s.page.getByRole('group', { name: 'ControlNet 1' }).getByText('Pick or drop a control image…').waitFor();
    assert.equal(await s.page.getByRole('group', { name: 'ControlNet 2' }).count(), 0);
  });

  test('no script errors or CSP violations on the page', () => {
    assert.deepEqual(s.pageErrors, []);
  });
});

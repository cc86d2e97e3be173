// The desktop app's main-process logic under plain Node (the Electron binary is not installed here):
// window security, the studio:// protocol, IPC trust, app folders, the menu, the engine host launcher
// in a utilityProcess-shaped child (crash → restart), the bundles the app ships, and the
// electron-builder configuration checked with electron-builder's own schema validator.
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { builtinModules, createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import shellConfig from '../electron.config.ts';
import { bundleElectron } from '../build/bundle-electron.ts';
import { TEST_ENGINE_ENV } from '../pipelines/jobs/test-engine.ts';
import { appFolders, ensureFolders } from '../app/electron/app-folders.ts';
import { handleIpcCall } from '../app/electron/ipc.ts';
import { menuTemplate } from '../app/electron/menu.ts';
import { isExternalLinkAllowed, isTrustedUrl, windowOptions } from '../app/electron/security.ts';
import { resolveStudioUrl } from '../app/electron/studio-protocol.ts';
import { utilityProcessHost, type ForkUtility, type UtilityProcessLike } from '../app/electron/utility-host.ts';
import { Studio } from '../app/server/studio.ts';
import { ImageTiles } from '../app/server/image-tiles.ts';
import sharp from 'sharp';
import { EngineClient, HostCrashedError } from '../pipelines/host/client.ts';
import type { jobs as runtimeJobs } from './runtime-jobs.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'studio-electron-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** utilityProcess.fork's shape over a Node child process that sees `process.parentPort` as Electron gives it. */
function forkLikeElectron(calls: { module: string; env: Record<string, string | undefined> }[]): ForkUtility {
  return (module, args, options) => {
    calls.push({ module, env: options.env });
    const child = fork(module, args, {
      env: options.env as NodeJS.ProcessEnv,
      execArgv: ['--import', 'tsx', '--import', fileURLToPath(new URL('./electron-parent-port.ts', import.meta.url))],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return {
      postMessage: (m: unknown) => void child.send(m as never),
      on: ((event: 'message' | 'exit', listener: (arg: unknown) => void) => {
        if (event === 'exit') child.on('exit', (code) => listener(code ?? 1));
        else child.on('message', listener);
      }) as UtilityProcessLike['on'],
      kill: () => child.kill('SIGKILL'),
    };
  };
}

describe('window security', () => {
  test('the renderer is isolated, sandboxed and has no Node', () => {
    const o = windowOptions(shellConfig, '/app/preload.cjs');
    assert.equal(o.webPreferences?.contextIsolation, true);
    assert.equal(o.webPreferences?.sandbox, true);
    assert.equal(o.webPreferences?.nodeIntegration, false);
    assert.equal(o.webPreferences?.nodeIntegrationInSubFrames, false);
    assert.equal(o.webPreferences?.webSecurity, true);
    assert.equal(o.webPreferences?.webviewTag, false);
    assert.equal(o.webPreferences?.preload, '/app/preload.cjs');
  });

  test('only studio://app pages are trusted, compared exactly', () => {
    assert.ok(isTrustedUrl('studio://app/', 'studio'));
    assert.ok(isTrustedUrl('studio://app/index.html?x=1', 'studio'));
    for (const url of ['studio://app.evil/', 'studio://evil/', 'studio://user@app/', 'https://app/', 'file:///app/index.html', 'not a url', undefined]) {
      assert.equal(isTrustedUrl(url, 'studio'), false, String(url));
    }
  });

  test('only https links open outside the app', () => {
    assert.ok(isExternalLinkAllowed('https://example.org/docs'));
    for (const url of ['http://example.org', 'file:///etc/passwd', 'javascript:alert(1)', 'studio://app/']) assert.equal(isExternalLinkAllowed(url), false, url);
  });
});

describe('studio:// protocol', () => {
  const rendererDir = join(tmp, 'renderer');
  const outputs = join(tmp, 'outputs');
  const studio = new Studio({ modelsDir: join(tmp, 'models'), outputsDir: outputs, version: 'test', shell: 'electron' });
  after(() => studio.close());
  const roots = { rendererDir, imagePath: (n: string) => studio.imagePath(n) };

  test('serves the UI and gallery images', () => {
    assert.deepEqual(resolveStudioUrl('studio://app/', roots), { file: join(rendererDir, 'index.html') });
    assert.deepEqual(resolveStudioUrl('studio://app/assets/index-abc.js', roots), { file: join(rendererDir, 'assets/index-abc.js') });
    assert.deepEqual(resolveStudioUrl('studio://app/outputs/20260101-1-0.png', roots), { file: join(outputs, '20260101-1-0.png') });
  });

  test('large images as tiles: studio://app/tiles/ paths answer as `studio serve` answers them (the same ImageTiles)', async () => {
    // 3000×1000: levels 0–12, its thumbnail at level 8 (188×63), the full-size level 12 cut in 12 × 4 tiles.
    await sharp({ create: { width: 3000, height: 1000, channels: 3, background: '#3a6' } }).png().toFile(join(outputs, '20260101-2-0.png'));
    const tiles = new ImageTiles(join(outputs, '.tiles'), (n) => studio.imagePath(n));
    assert.deepEqual(await tiles.answer('/tiles/20260101-2-0.png/info.json'), { info: { width: 3000, height: 1000, tileSize: 256, levels: 13 } });
    const thumb = await tiles.answer('/tiles/20260101-2-0.png/thumb.png');
    assert.ok('file' in thumb && thumb.file.endsWith('/image_files/8/0_0.png'), JSON.stringify(thumb));
    assert.deepEqual((await sharp((thumb as { file: string }).file).metadata()).width, 188);
    assert.ok('file' in (await tiles.answer('/tiles/20260101-2-0.png/12/11_3.png')));
    assert.deepEqual(await tiles.answer('/tiles/20260101-2-0.png/12/12_0.png'), { status: 404, message: 'no tile 12/12_0 in 20260101-2-0.png (levels 0–12)' });
    assert.equal(((await tiles.answer('/tiles/..%2fsecret.png/info.json')) as { status: number }).status, 404);
    assert.equal(((await tiles.answer('/tiles/x.png/../../etc/passwd')) as { status: number }).status, 400);
  });

  test('refuses anything outside its folders', () => {
    for (const url of ['studio://app/%2e%2e/%2e%2e/etc/passwd', 'studio://app/..%2f..%2fetc%2fpasswd', 'studio://app/outputs/..%2fsecret.png', 'studio://app/outputs/sub%2fx.png', 'studio://app/outputs/.hidden.png', 'studio://other/index.html']) {
      const r = resolveStudioUrl(url, roots);
      assert.ok('status' in r || r.file.startsWith(rendererDir + '/'), `${url} resolved to ${JSON.stringify(r)}`);
    }
    assert.equal((resolveStudioUrl('studio://app/outputs/..%2fsecret.png', roots) as { status: number }).status, 404);
  });

  test('IPC answers the studio’s own pages only, through the same dispatcher as the WebSocket', async () => {
    const refused = await handleIpcCall(studio, 'studio', 'https://evil.example/', 'info', {});
    assert.equal(refused.ok, false);
    assert.match(!refused.ok ? refused.error.message : '', /only its own pages/);
    const info = await handleIpcCall(studio, 'studio', 'studio://app/', 'info', {});
    assert.deepEqual(info, { ok: true, result: { version: 'test', modelsDir: join(tmp, 'models'), outputsDir: outputs, shell: 'electron' } });
    const bad = await handleIpcCall(studio, 'studio', 'studio://app/', 'cancel', { jobId: 7 });
    assert.equal(!bad.ok && bad.error.code, 'bad-request');
  });
});

describe('app folders and menu', () => {
  test('folders live under user data unless the environment points elsewhere, and are created', () => {
    const f = appFolders(join(tmp, 'userData'), {});
    assert.deepEqual(f, { models: join(tmp, 'userData/models'), outputs: join(tmp, 'userData/outputs'), presets: join(tmp, 'userData/presets'), plugins: join(tmp, 'userData/plugins') });
    assert.equal(appFolders('/u', { STUDIO_MODELS_DIR: '/data/models' }).models, '/data/models');
    ensureFolders(f);
    writeFileSync(join(tmp, 'a-file'), '');
    assert.throws(() => ensureFolders({ ...f, plugins: join(tmp, 'a-file/plugins') }), /cannot create the plugins folder .*a-file\/plugins/);
  });

  test('the menu opens the folders; macOS gets its app menu, developer builds get dev tools', () => {
    const opened: string[] = [];
    const actions = { openModelsFolder: () => opened.push('models'), openOutputsFolder: () => opened.push('outputs') };
    const linux = menuTemplate({ ...actions, platform: 'linux', developer: false });
    const file = linux.find((m) => m.label === '&File');
    for (const item of file?.submenu as { label?: string; click?: () => void }[]) item.click?.();
    assert.deepEqual(opened, ['models', 'outputs']);
    assert.ok(!linux.some((m) => m.role === 'appMenu'));
    assert.equal(menuTemplate({ ...actions, platform: 'darwin', developer: false })[0].role, 'appMenu');
    const roles = (dev: boolean) => (menuTemplate({ ...actions, platform: 'linux', developer: dev }).find((m) => m.label === '&View')?.submenu as { role?: string }[]).map((i) => i.role);
    assert.ok(roles(true).includes('toggleDevTools'));
    assert.ok(!roles(false).includes('toggleDevTools'));
  });
});

describe('engine host in a utility process', () => {
  test('runs jobs through process.parentPort, with MALLOC_TRIM_THRESHOLD_=0, and is restarted after a crash', async () => {
    const calls: { module: string; env: Record<string, string | undefined> }[] = [];
    const entry = join(ROOT, 'pipelines/host/entry.ts');
    const client = new EngineClient<typeof runtimeJobs>({ host: utilityProcessHost(forkLikeElectron(calls), entry), jobModules: [new URL('./runtime-jobs.ts', import.meta.url)] });
    try {
      const first = await client.run('test.steps', { steps: 3 });
      assert.equal(first.y0, 7);
      assert.notEqual(first.pid, process.pid);
      assert.equal((await client.run('host.info', {})).mallocTrimThreshold, '0');
      await assert.rejects(client.run('test.crash', { afterSteps: 1 }), (e) => e instanceof HostCrashedError && /exited with code 1/.test(e.message));
      const again = await client.run('test.steps', { steps: 2 });
      assert.equal(again.y0, 3);
      assert.notEqual(again.pid, first.pid, 'a new host process');
      assert.equal(calls.length, 2);
      assert.equal(calls[0].module, entry);
    } finally {
      await client.close();
    }
  });
});

describe('bundles and packaging', () => {
  test('the bundles the app ships: externals only as configured, and the engine host + studio jobs run a generate job', async (t) => {
    // Inside the checkout (dist/ is ignored), so the bundles resolve onnxruntime-node and sharp as the app does.
    const out = join(ROOT, 'dist/test-electron-bundle');
    t.after(() => rmSync(out, { recursive: true, force: true }));
    await bundleElectron(out);
    const allowed = new Set([...shellConfig.external, ...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    for (const b of ['main', 'engineHost', 'engineJobs'] as const) {
      const code = readFileSync(join(out, shellConfig.bundles[b].file), 'utf8');
      const imported = [...code.matchAll(/^import\s[^'"]*?from\s*["']([^"']+)["']/gm)].map((m) => m[1]);
      for (const spec of imported) assert.ok(allowed.has(spec), `${b} imports "${spec}" at run time`);
    }
    const preload = readFileSync(join(out, shellConfig.bundles.preload.file), 'utf8');
    assert.deepEqual([...new Set([...preload.matchAll(/require\(["']([^"']+)["']\)/g)].map((m) => m[1]))], ['electron'], 'a sandboxed preload may require electron only');

    const env = { ...process.env, [TEST_ENGINE_ENV]: join(ROOT, 'test/e2e-engine.ts'), STUDIO_TEST_ENGINE_STEP_MS: '1' };
    const client = new EngineClient({ host: utilityProcessHost(forkLikeElectron([]), join(out, 'engine-host.js'), env), jobModules: [pathToFileURL(join(out, 'engine-jobs.js'))] });
    try {
      const steps: number[] = [];
      const result = (await client.run('engine.run', { kind: 'generate', request: { prompt: 'bundled', steps: 3, width: 64, height: 64, seed: 5 } }, { onProgress: (p) => steps.push(p.step ?? -1) })) as {
        images: { width: number; pixels: Uint8Array }[];
      };
      assert.deepEqual(steps, [1, 2, 3]);
      assert.equal(result.images[0].width, 64);
      assert.equal(result.images[0].pixels.length, 64 * 64 * 3);
    } finally {
      await client.close();
    }
  });

  test('package.json main and the config agree', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { main: string };
    assert.equal(pkg.main, `${shellConfig.outDir}/${shellConfig.bundles.main.file}`);
  });

  test('build/electron-builder.json passes electron-builder’s own schema validation, and a wrong key fails it', async () => {
    const require = createRequire(import.meta.url);
    const { validateConfiguration } = require('app-builder-lib/out/util/config/config.js') as {
      validateConfiguration(config: unknown, debug: { isEnabled: boolean }): Promise<void>;
    };
    const config = JSON.parse(readFileSync(join(ROOT, 'build/electron-builder.json'), 'utf8')) as Record<string, Record<string, unknown>>;
    await validateConfiguration(config, { isEnabled: false });
    for (const target of ['nsis', 'dmg', 'linux', 'deb', 'win', 'mac']) assert.ok(config[target], `${target} is configured`);
    const linuxTargets = (config.linux.target as { target: string }[]).map((t) => t.target);
    assert.deepEqual(linuxTargets, ['AppImage', 'deb']);
    await assert.rejects(validateConfiguration({ ...config, nsis: { ...config.nsis, oneClik: false } }, { isEnabled: false }), /configuration\.nsis/);
    assert.equal(config.appId, shellConfig.appId);
    assert.equal(config.productName, shellConfig.productName);
  });
});

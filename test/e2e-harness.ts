// What the studio's end-to-end tests share: the built UI (rebuilt when its sources are newer), a real
// `startServer` on a random loopback port with its engine host, and Debian's Chromium driven by
// playwright-core. Until runGenerate has a pipeline behind it, the engine host loads test/e2e-engine.ts.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { TEST_ENGINE_ENV } from '../pipelines/jobs/test-engine.ts';
import { startServer, type ServerOptions, type StudioServer } from '../app/server/index.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const ARTIFACTS = join(ROOT, 'test-artifacts');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const UI_DIR = join(ROOT, 'dist/renderer');
/** Sources the UI bundle is built from. */
const UI_SOURCES = ['renderer', 'pipelines/jobs', 'pipelines/samplers/names.ts', 'pipelines/attention/options.ts', 'vite.config.ts', 'svelte.config.js'];

/** Why the browser tests cannot run here, or undefined when they can (for node:test's `skip`). */
export function browserSkipReason(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM}: run scripts/install-test-tools.sh (or set CHROMIUM_PATH)`;
}

function newestMtime(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(s.mtimeMs, ...readdirSync(path).map((n) => newestMtime(join(path, n))));
}

/** Builds dist/renderer with Vite when it is missing or older than its sources. */
export async function ensureUiBuilt(): Promise<void> {
  const index = join(UI_DIR, 'index.html');
  const sources = Math.max(...UI_SOURCES.map((p) => newestMtime(join(ROOT, p))));
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  const { build } = await import('vite');
  await build({ configFile: join(ROOT, 'vite.config.ts'), logLevel: 'warn' });
}

/** A studio server on a temporary folder and a Chromium page on it. */
export interface StudioPage {
  server: StudioServer;
  browser: Browser;
  page: Page;
  outputsDir: string;
  modelsDir: string;
  /** Console errors and page errors (CSP violations show up here). */
  pageErrors: string[];
  /** Closes the browser and the server and removes the folder. */
  close(): Promise<void>;
}

/**
 * Starts a server on `dir`/outputs and `dir`/models (made here) and opens its page in Chromium,
 * recording the page's errors. `timeoutMs`: Playwright's default timeout unless STUDIO_E2E_TIMEOUT_MS
 * sets one.
 */
export async function openStudioPage(dir: string, o: { viewportHeight: number; timeoutMs: number; redis?: ServerOptions['redis'] }): Promise<StudioPage> {
  const outputsDir = join(dir, 'outputs');
  const modelsDir = join(dir, 'models');
  mkdirSync(modelsDir);
  const server = await startServer({ port: 0, outputsDir, modelsDir, redis: o.redis });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--disable-gpu', '--disable-dev-shm-usage'] });
  const page = await browser.newPage({ viewport: { width: 1400, height: o.viewportHeight } });
  page.setDefaultTimeout(Number(process.env.STUDIO_E2E_TIMEOUT_MS ?? o.timeoutMs));
  const pageErrors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(server.url);
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    server,
    browser,
    page,
    outputsDir,
    modelsDir,
    pageErrors,
    close: async () => {
      await browser.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Studio extends StudioPage {
  /** JSON lines: every request the engine received. */
  engineLog: string;
  requests(): Record<string, unknown>[];
  screenshot(name: string): Promise<void>;
}

/** Opens a studio (`open`) before the tests of the enclosing describe(), hands it to `use`, and closes it after them. */
export function studioPerSuite<S extends { close(): Promise<void> }>(open: () => Promise<S>, use: (studio: S) => void): void {
  let studio: S | undefined;
  before(async () => {
    studio = await open();
    use(studio);
  });
  after(async () => {
    await studio?.close();
  });
}

export async function openStudio(o: { stepMs?: number } = {}): Promise<Studio> {
  await ensureUiBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'studio-e2e-'));
  const engineLog = join(dir, 'engine.jsonl');
  // The engine host is a child process: it inherits these.
  process.env[TEST_ENGINE_ENV] = join(ROOT, 'test/e2e-engine.ts');
  process.env.STUDIO_TEST_ENGINE_LOG = engineLog;
  process.env.STUDIO_TEST_ENGINE_STEP_MS = String(o.stepMs ?? 40);
  // Failures show in seconds, not after Playwright's default 30 s.
  const studio = await openStudioPage(dir, { viewportHeight: 900, timeoutMs: 10_000 });
  return {
    ...studio,
    engineLog,
    requests: () => (existsSync(engineLog) ? readFileSync(engineLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []),
    screenshot: async (name) => void (await studio.page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true })),
  };
}

// The studio end to end with the REAL engine: like e2e-harness.ts's openStudio, but the engine host
// runs pipelines/recipes/generate.ts and the head and story recipes on the embedded emoji models
// (64×64, fractions of a second per image), so what the tests see is what the user gets.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { TEST_ENGINE_ENV } from '../app/cli/engine.ts';
import { startServer, type StudioServer } from '../app/server/index.ts';
import { ARTIFACTS, ensureUiBuilt, ROOT } from './e2e-harness.ts';

export { browserSkipReason } from './e2e-harness.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const DOCS_SCREENSHOTS = join(ROOT, 'docs/screenshots');

export interface RealStudio {
  server: StudioServer;
  browser: Browser;
  page: Page;
  outputsDir: string;
  modelsDir: string;
  pageErrors: string[];
  /**
   * Saves test-artifacts/NAME.png (the whole page); with `docs`, also docs/screenshots/NAME.png (the
   * README shows those): the window, or just the given part of the page.
   */
  screenshot(name: string, o?: { docs?: boolean | Locator; docsName?: string }): Promise<void>;
  close(): Promise<void>;
}

export async function openRealStudio(): Promise<RealStudio> {
  await ensureUiBuilt();
  delete process.env[TEST_ENGINE_ENV]; // the engine host (a child process) inherits this
  const dir = mkdtempSync(join(tmpdir(), 'studio-e2e-real-'));
  const outputsDir = join(dir, 'outputs');
  const modelsDir = join(dir, 'models');
  mkdirSync(modelsDir);
  const server = await startServer({ port: 0, outputsDir, modelsDir });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--disable-gpu', '--disable-dev-shm-usage'] });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(Number(process.env.STUDIO_E2E_TIMEOUT_MS ?? 30_000));
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
    screenshot: async (name, o = {}) => {
      await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
      const docs = join(DOCS_SCREENSHOTS, `${o.docsName ?? name}.png`);
      if (o.docs === true) await page.screenshot({ path: docs });
      else if (o.docs) await o.docs.screenshot({ path: docs });
    },
    close: async () => {
      await browser.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Chooses a model shipped with the studio in the picker (the form takes its size, sampler, steps and CFG). */
export async function chooseEmbedded(page: Page, name: string): Promise<void> {
  await page.getByLabel('Model', { exact: true }).selectOption(name);
}

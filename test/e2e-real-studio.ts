// The studio end to end with the REAL engine: like e2e-harness.ts's openStudio, but the engine host
// runs pipelines/recipes/generate.ts and the head and story recipes on the embedded emoji models
// (64×64, fractions of a second per image), so what the tests see is what the user gets.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { TEST_ENGINE_ENV } from '../pipelines/jobs/test-engine.ts';
import { ARTIFACTS, ensureUiBuilt, openStudioPage, ROOT, type StudioPage } from './e2e-harness.ts';

export { browserSkipReason } from './e2e-harness.ts';

export const DOCS_SCREENSHOTS = join(ROOT, 'docs/screenshots');

export interface RealStudio extends StudioPage {
  /**
   * Saves test-artifacts/NAME.png (the whole page); with `docs`, also docs/screenshots/NAME.png (the
   * README shows those): the window, or just the given part of the page.
   */
  screenshot(name: string, o?: { docs?: boolean | Locator; docsName?: string }): Promise<void>;
}

export async function openRealStudio(): Promise<RealStudio> {
  await ensureUiBuilt();
  delete process.env[TEST_ENGINE_ENV]; // the engine host (a child process) inherits this
  const studio = await openStudioPage(mkdtempSync(join(tmpdir(), 'studio-e2e-real-')), { viewportHeight: 1000, timeoutMs: 30_000 });
  const { page } = studio;
  return {
    ...studio,
    screenshot: async (name, o = {}) => {
      await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
      const docs = join(DOCS_SCREENSHOTS, `${o.docsName ?? name}.png`);
      if (o.docs === true) await page.screenshot({ path: docs });
      else if (o.docs) await o.docs.screenshot({ path: docs });
    },
  };
}

/** Chooses a model shipped with the studio in the picker (the form takes its size, sampler, steps and CFG). */
export async function chooseEmbedded(page: Page, name: string): Promise<void> {
  await page.getByLabel('Model', { exact: true }).selectOption(name);
}

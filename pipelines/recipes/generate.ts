// The generate job: a validated request → the model's family (pipelines/families) → RGB images.
// Without a model it draws with the embedded default; the loaded pipeline stays warm for the next
// request on the same model.
import { loadModel } from '../families/load.ts';
import { checkRequest, resolveModel } from '../families/registry.ts';
import { providersFor } from '../families/results.ts';
import type { GenerateOptions, GenerateRequest, GenerateResult } from '../jobs/api.ts';
import { extractLoraTags, resolveLoras } from '../lora/library.ts';
import { modelLabel } from '../metadata/generation-metadata.ts';
import { embeddingsUsed } from '../text/embeddings.ts';
import { providerOrCpu } from '../runtime/providers.ts';

export async function runGenerate(request: GenerateRequest, options: GenerateOptions = {}): Promise<GenerateResult> {
  const resolved = resolveModel(request.model, request.modelsDir);
  const { family, probe } = resolved;
  const adapted = family.adapt?.(request) ?? { request, notes: [] };
  // `<lora:NAME:W>` tags join the request's LoRAs and leave the text (A1111 ignores them in negatives).
  const tagged = extractLoraTags(adapted.request.prompt);
  const negative = extractLoraTags(adapted.request.negative).prompt;
  const asked = { ...adapted.request, prompt: tagged.prompt, negative, loras: [...(adapted.request.loras ?? []), ...tagged.loras] };
  checkRequest(family, probe, asked, request.model);
  const loras = resolveLoras(asked.loras, request.loraDir, request.modelsDir);
  const t0 = performance.now();
  options.onProgress?.({ phase: 'load', step: 0, total: 1 });
  const ep = await providerOrCpu(request.ep);
  const pipeline = await loadModel(resolved, { modelsDir: request.modelsDir, vae: request.vae, config: request.config, loras, providers: providersFor(ep.provider) });
  const loadMs = performance.now() - t0;
  // The family plans with the provider that runs it (auto resolved), not the one asked for.
  const result = await family.generate(pipeline, probe, { ...asked, ep: ep.provider }, options);
  const notes = [...(ep.note ? [ep.note] : []), ...adapted.notes, ...(result.notes ?? [])];
  const files = usedFiles(asked, loras.map((l) => l.path));
  return { ...result, ...files, timings: { ...result.timings, load: loadMs }, ...(notes.length ? { notes } : {}) };
}

/** The LoRA and embedding files a run used, named as the prompt names them (what A1111's hashes are keyed by). */
function usedFiles(asked: GenerateRequest, loraFiles: string[]): Pick<GenerateResult, 'loras' | 'embeddings'> {
  const loras = (asked.loras ?? []).map((ref, i) => ({ name: modelLabel(ref.name), file: loraFiles[i], weight: ref.weight }));
  const embeddings = asked.embeddingsDir ? embeddingsUsed(asked.embeddingsDir, [asked.prompt, asked.negative]).map((file) => ({ name: modelLabel(file), file })) : [];
  return { ...(loras.length ? { loras } : {}), ...(embeddings.length ? { embeddings } : {}) };
}

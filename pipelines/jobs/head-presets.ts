// Head presets for the studio: the shipped ones and the user's (the presets folder, by default
// `<models>/presets/heads`, where `studio generate --heads NAME` looks too), listed with whether they
// fit the chosen model, loaded (one, or several composed) and saved. Presets are checked against the
// model's architecture fingerprint, which the engine reads (a heads.list job) without loading weights.
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { architectureMismatch, type ArchitectureFingerprint } from '../heads/architecture.ts';
import { composePresets, makeHeadPreset, presetPicks, readHeadPreset, type HeadPreset } from '../heads/presets.ts';
import { SHIPPED_PRESETS_DIR } from '../heads/resolve.ts';
import type { HeadPresetSummary, HeadWeight, ParsedParamsOf, ResultOf } from './api-studio.ts';
import type { EngineJobs } from './client.ts';
import { BadRequestError } from './api.ts';

interface Found {
  file: string;
  shipped: boolean;
  preset?: HeadPreset;
  error?: string;
}

const toWeights = (preset: Pick<HeadPreset, 'heads'>): HeadWeight[] => preset.heads.map(({ layer, head, u }) => ({ layer, head, strength: u }));

export class HeadPresets {
  private readonly fingerprints = new Map<string, ArchitectureFingerprint>();

  constructor(
    readonly dir: string,
    private readonly modelsDir: string,
    private readonly engine: EngineJobs,
  ) {}

  /** The model's architecture (cached per model), read by the engine; a model that cannot be read is a bad request. */
  async fingerprint(model: string | undefined): Promise<ArchitectureFingerprint> {
    const key = model ?? '';
    let found = this.fingerprints.get(key);
    if (!found) {
      try {
        found = (await this.engine.submit({ kind: 'heads.list', model, modelsDir: this.modelsDir })).architecture;
      } catch (e) {
        throw new BadRequestError(`cannot read the attention layers of ${model ?? 'the default model'}: ${(e as Error).message}`);
      }
      this.fingerprints.set(key, found);
    }
    return found;
  }

  async list({ model }: ParsedParamsOf<'listPresets'>): Promise<ResultOf<'listPresets'>> {
    const target = await this.fingerprint(model);
    const presets = [...this.files().entries()].map(([name, f]): HeadPresetSummary => {
      if (!f.preset) return { name, family: '?', hash: '?', scale: 0, heads: [], shipped: f.shipped, problem: f.error };
      const p = f.preset;
      const why = architectureMismatch(p.architecture, target);
      return {
        name,
        ...(p.description ? { description: p.description } : {}),
        family: p.architecture.family,
        hash: p.architecture.hash,
        scale: p.scale,
        heads: toWeights(p),
        shipped: f.shipped,
        ...(why ? { problem: `made for another model: ${why}` } : {}),
      };
    });
    return { dir: this.dir, presets };
  }

  async load({ names, model }: ParsedParamsOf<'loadPresets'>): Promise<ResultOf<'loadPresets'>> {
    const files = this.files();
    const presets = names.map((name) => {
      const f = files.get(name);
      if (!f) throw new BadRequestError(`no head preset is named "${name}" (presets: ${[...files.keys()].join(', ') || 'none yet'})`);
      if (!f.preset) throw new BadRequestError(f.error!);
      return f.preset;
    });
    const preset = presets.length === 1 ? presets[0] : this.compose(presets);
    const target = await this.fingerprint(model);
    try {
      presetPicks(preset, target, `head preset "${preset.name}"`);
    } catch (e) {
      throw new BadRequestError((e as Error).message);
    }
    return { name: preset.name, scale: preset.scale, heads: toWeights(preset) };
  }

  async save(p: ParsedParamsOf<'savePreset'>): Promise<ResultOf<'savePreset'>> {
    if (existsSync(join(SHIPPED_PRESETS_DIR, `${p.name}.json`))) throw new BadRequestError(`"${p.name}" is the name of a preset shipped with the studio; choose another name`);
    const file = join(this.dir, `${p.name}.json`);
    if (existsSync(file) && !p.overwrite) throw new BadRequestError(`a head preset named "${p.name}" already exists in ${this.dir}; choose another name or replace it`);
    let preset: HeadPreset;
    try {
      preset = makeHeadPreset({
        name: p.name,
        description: p.description,
        architecture: await this.fingerprint(p.model),
        scale: p.scale,
        heads: p.heads.map(({ layer, head, strength }) => ({ layer, head, u: strength })),
        search: p.search,
      });
    } catch (e) {
      throw new BadRequestError((e as Error).message);
    }
    mkdirSync(this.dir, { recursive: true });
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(preset, null, 2)}\n`);
    renameSync(temp, file);
    return { name: p.name, file };
  }

  private compose(presets: HeadPreset[]): HeadPreset {
    try {
      return composePresets(presets);
    } catch (e) {
      throw new BadRequestError((e as Error).message);
    }
  }

  /** Presets by name: shipped first (as `--heads NAME` resolves them), then the presets folder. */
  private files(): Map<string, Found> {
    const found = new Map<string, Found>();
    for (const [dir, shipped] of [[SHIPPED_PRESETS_DIR, true], [this.dir, false]] as const) {
      if (!existsSync(dir)) continue;
      for (const entry of readdirSync(dir).filter((f) => f.endsWith('.json') && !f.endsWith('.cache.json')).sort()) {
        const name = entry.slice(0, -'.json'.length);
        if (found.has(name)) continue;
        const file = join(dir, entry);
        try {
          found.set(name, { file, shipped, preset: readHeadPreset(file) });
        } catch (e) {
          found.set(name, { file, shipped, error: (e as Error).message });
        }
      }
    }
    return found;
  }
}

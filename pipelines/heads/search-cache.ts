// HeadHunter's memory between runs: objective values per evaluated head set and the picks made in
// each round, in a JSON file rewritten after every evaluation, so a stopped search resumes where it
// stopped. The file is tied to the settings that change the previews; other settings are refused.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { HeadPick } from '../attention/head-perturbation.ts';
import { headName } from './architecture.ts';

const FORMAT = 'studio-headhunter-cache';
const VERSION = 1;

/** Everything that changes a head set's score. */
export interface SearchSettings {
  model: string;
  architecture: string;
  objective: string;
  scale: number;
  size: number;
  samples: Array<{ seed: number; prompt?: string }>;
}

interface CacheData {
  format: typeof FORMAT;
  version: typeof VERSION;
  settings: SearchSettings;
  scores: Record<string, number>;
  picks: Record<string, string[]>;
}

/** A head set's key: its heads with their strengths, sorted; `none` for the empty set. */
export function setKey(picks: readonly HeadPick[]): string {
  if (picks.length === 0) return 'none';
  return [...picks].sort((a, b) => a.layer - b.layer || a.head - b.head).map((p) => `${headName(p.layer, p.head)}:${p.u}`).join(',');
}

export class SearchCache {
  private constructor(
    private readonly data: CacheData,
    private readonly file?: string,
  ) {}

  /** The cache in `file` (created on first save), or one kept in memory only. */
  static open(file: string | undefined, settings: SearchSettings): SearchCache {
    const fresh: CacheData = { format: FORMAT, version: VERSION, settings, scores: {}, picks: {} };
    if (!file || !existsSync(file)) return new SearchCache(fresh, file);
    let data: CacheData;
    try {
      data = JSON.parse(readFileSync(file, 'utf8')) as CacheData;
    } catch (e) {
      throw new Error(`head search cache ${file}: not readable JSON (${(e as Error).message}); delete it to start over`);
    }
    if (data?.format !== FORMAT || data.version !== VERSION || typeof data.scores !== 'object' || typeof data.picks !== 'object') {
      throw new Error(`head search cache ${file}: not a version ${VERSION} head search cache; delete it or choose another cache file`);
    }
    const diff = (Object.keys(settings) as Array<keyof SearchSettings>).filter((k) => JSON.stringify(data.settings?.[k]) !== JSON.stringify(settings[k]));
    if (diff.length) {
      const say = (k: keyof SearchSettings) => `${k} ${JSON.stringify(data.settings?.[k])} there, ${JSON.stringify(settings[k])} now`;
      throw new Error(`head search cache ${file} was made with other settings (${diff.map(say).join('; ')}); delete it or choose another cache file`);
    }
    return new SearchCache(data, file);
  }

  score(key: string): number | undefined {
    return this.data.scores[key];
  }

  setScore(key: string, value: number): void {
    this.data.scores[key] = value;
    this.save();
  }

  picks(key: string): string[] | undefined {
    return this.data.picks[key];
  }

  setPicks(key: string, names: string[]): void {
    this.data.picks[key] = names;
    this.save();
  }

  /** Replaces the file in one rename, so a stop mid-write leaves the previous version. */
  private save(): void {
    if (!this.file) return;
    const temp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(this.data)}\n`);
    renameSync(temp, this.file);
  }
}

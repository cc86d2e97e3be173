// The models.scan job: the model picker's catalogue and, when asked, the whole library with hashes.
import type { JobOf, ModelCatalog } from '../jobs/api.ts';
import { modelCatalog, modelFileEntry, modelFolderEntry } from '../families/scan.ts';
import { defaultHashCacheFile, HashCache } from './hash-cache.ts';
import { scanLibrary } from './scan.ts';

export async function modelsScan(job: JobOf<'models.scan'>, o: { progress?: (done: number, total: number) => void } = {}): Promise<ModelCatalog> {
  const catalog = modelCatalog(job.dir);
  if (!job.library) return catalog;
  const hashes = job.hashes ? HashCache.open(job.hashCache ?? defaultHashCacheFile()) : undefined;
  const library = await scanLibrary(job.dir, { hashes, progress: o.progress });
  // The picker also offers the checkpoints of the A1111 / ComfyUI checkpoint folders.
  const listed = new Set(catalog.models.map((m) => m.path));
  const more = library.entries
    .filter((e) => e.kind === 'checkpoint' && !e.problem && !listed.has(e.path))
    .map((e) => (e.folder ? { ...modelFolderEntry(e.path, e.sizeBytes), name: e.relativePath } : { ...modelFileEntry(e.path), name: e.relativePath.replace(/\.[^.]+$/, '') }));
  return { ...catalog, models: [...catalog.models, ...more], library };
}

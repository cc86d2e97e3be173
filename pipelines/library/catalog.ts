// The models.scan job: the model picker's catalogue and, when asked, the whole library with hashes.
import type { JobOf, ModelCatalog } from '../jobs/api.ts';
import { modelCatalog } from '../families/scan.ts';
import { defaultHashCacheFile, HashCache } from './hash-cache.ts';
import { scanLibrary } from './scan.ts';

export async function modelsScan(job: JobOf<'models.scan'>, o: { progress?: (done: number, total: number) => void } = {}): Promise<ModelCatalog> {
  const catalog = modelCatalog(job.dir);
  if (!job.library) return catalog;
  const hashes = job.hashes ? HashCache.open(job.hashCache ?? defaultHashCacheFile()) : undefined;
  return { ...catalog, library: await scanLibrary(job.dir, { hashes, progress: o.progress }) };
}

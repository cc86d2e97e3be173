// T5's bidirectional relative-position buckets, computed once per sequence length when the graph is
// built. Half the buckets are for keys after the query; within each half, distances below half of it
// are exact and longer ones share log-spaced buckets up to max_distance. The log step runs in float32
// as transformers computes it, so bucket edges fall where the reference puts them.
const f32 = Math.fround;

export function relativePositionBucket(relative: number, buckets: number, maxDistance: number): number {
  const half = Math.floor(buckets / 2);
  let bucket = relative > 0 ? half : 0;
  const distance = Math.abs(relative);
  const maxExact = Math.floor(half / 2);
  if (distance < maxExact) return bucket + distance;
  const ratio = f32(f32(Math.log(f32(distance / maxExact))) / f32(Math.log(maxDistance / maxExact)));
  const large = maxExact + Math.trunc(f32(ratio * (half - maxExact)));
  bucket += Math.min(large, half - 1);
  return bucket;
}

/** Bucket of key j for query i, as [seq·seq] row-major (query-major). */
export function bucketTable(seq: number, buckets: number, maxDistance: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < seq; i++) for (let j = 0; j < seq; j++) out.push(relativePositionBucket(j - i, buckets, maxDistance));
  return out;
}

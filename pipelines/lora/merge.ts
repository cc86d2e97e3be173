// Merges LoRA layers into a model's weights in the weight loader: each changed weight W becomes
// W + Σ w·ΔW, computed one tensor at a time in float32 (a small ORT graph over the stored W and the
// LoRA files' tensors, so the products run in ORT's GEMM rather than in JS loops), stored back in W's
// dtype and written to a weight file of the load's own. The model's graphs then read the merged
// tensors as external data like any other weight, so they carry no LoRA nodes, and memory beyond the
// model itself is one layer's W and ΔW at a time. (Leaving the merge to ORT's constant folding at
// session creation held every LoRA's fp32 ΔW at once: 23 GB for five LoCon LoRAs on SD 1.5.)
// The file lives as long as the loaded model (the warm model is keyed by its LoRA set) and is removed
// with it; files of engine processes that died without cleaning up are removed by the next merge.
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, parse } from 'node:path';
import type { PipelineSources } from '../checkpoints/index.ts';
import { f32ToBf16 } from '../io/float16.ts';
import { DTYPE_BYTES, SafetensorsFile, SafetensorsWriter, type SafetensorsDType } from '../io/safetensors.ts';
import { FROM_SAFETENSORS } from '../onnx/graph.ts';
import { Session } from '../runtime/session.ts';
import { PatchedSource } from './apply.ts';

/** The merged weights of one loaded model's LoRA set, in a folder removed by `release()`. */
export class MergedLoraWeights {
  constructor(
    readonly dir: string,
    /** How many weights were merged, and their bytes on disk. */
    readonly tensors: number,
    readonly bytes: number,
  ) {}

  release(): void {
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this.dir);
  }
}

export class LoraMergeError extends Error {
  override name = 'LoraMergeError';
}

const PREFIX = 'studio-lora-';
const live = new Set<string>();
let exitHookSet = false;

/** The dtype a merged weight is stored in: the model's own where ORT and this writer handle it, else float32. */
function storedDtype(d: SafetensorsDType): SafetensorsDType {
  return d === 'F16' || d === 'BF16' || d === 'F32' || d === 'F64' ? d : 'F32';
}

/**
 * Writes the merged weights of every patched source in `sources` and switches those sources to them.
 * `root` is where the folder goes (default: the OS temp folder); undefined when there are no LoRAs.
 */
export async function mergeLoraWeights(sources: PipelineSources, root = process.env.STUDIO_LORA_TMP ?? tmpdir()): Promise<MergedLoraWeights | undefined> {
  const patched = [sources.unet, ...sources.textEncoders].filter((s): s is PatchedSource => s instanceof PatchedSource && s.contributions.size > 0);
  if (!patched.length) return undefined;
  const plans = patched.map((source) => [...source.contributions.keys()].sort().map((name) => {
    const info = source.inner.info(name);
    return { name, dtype: storedDtype(info.dtype), shape: [...info.shape] };
  }));
  const bytes = plans.flat().reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1) * DTYPE_BYTES[t.dtype], 0);
  mkdirSync(root, { recursive: true });
  // ORT resolves every external weight against one filesystem root, so the merged file must sit on the model's drive.
  const modelRoot = parse(realpathSync(patched[0].inner.info(plans[0][0].name).file)).root;
  if (parse(realpathSync(root)).root !== modelRoot) {
    throw new LoraMergeError(`the merged LoRA weights would go to ${root}, on another drive than the model (${modelRoot}): set STUDIO_LORA_TMP to a folder on ${modelRoot}`);
  }
  removeDeadProcessFolders(root);
  const free = Number(statfsSync(root).bavail) * Number(statfsSync(root).bsize);
  if (free < bytes * 1.05) {
    throw new LoraMergeError(`merging the LoRAs needs ${gb(bytes)} GB of disk for the changed weights in ${root}, which has ${gb(free)} GB free: free some space there or set STUDIO_LORA_TMP to a folder with room`);
  }
  const dir = mkdtempSync(join(root, `${PREFIX}${process.pid}-`));
  live.add(dir);
  if (!exitHookSet) {
    exitHookSet = true;
    process.on('exit', () => live.forEach((d) => rmSync(d, { recursive: true, force: true })));
  }
  try {
    for (const [i, source] of patched.entries()) {
      const file = join(dir, `part-${i}.safetensors`);
      const writer = new SafetensorsWriter(file, plans[i]);
      for (const t of plans[i]) writer.write(t.name, await mergeOne(source, t.name, t.dtype));
      writer.finish();
      source.useMerged(SafetensorsFile.open(file));
    }
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    live.delete(dir);
    throw e;
  }
  return new MergedLoraWeights(dir, plans.flat().length, bytes);
}

/** One weight, merged by a throwaway CPU session (not a model session: it runs once and holds nothing). */
async function mergeOne(source: PatchedSource, name: string, dtype: SafetensorsDType): Promise<ArrayBufferView> {
  const graph = source.mergeGraph(name, dtype === 'BF16' ? 'float32' : FROM_SAFETENSORS[dtype]);
  const session = await Session.create(graph, { providers: ['cpu'], optimize: false });
  try {
    const data = (await session.run({})).merged.data as ArrayBufferView;
    return dtype === 'BF16' ? f32ToBf16(data as Float32Array) : data;
  } finally {
    await session.release();
  }
}

const gb = (n: number) => (n / 1e9).toFixed(2);

/** Folders `studio-lora-<pid>-…` left by engine processes that no longer run (killed before they cleaned up). */
function removeDeadProcessFolders(root: string): void {
  for (const name of readdirSync(root)) {
    const pid = Number(/^studio-lora-(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid || alive(pid)) continue;
    rmSync(join(root, name), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

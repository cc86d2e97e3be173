// ORT's allocation planner hands a dead tensor's buffer to a later tensor of the same size and holds it until then
// (SessionOptions::enable_mem_reuse, on by default). ORT's own comment on the field says it "can lead to memory being
// held for longer than needed"; without it the arena alone recycles freed chunks. Measured on this machine's CPU
// (bench/ort-memory-overhead.ts, bench/NOTES.md session 8): a narrowed SD 1.5 UNet at a 128×64 latent holds 73.7 U
// with it and 20.7 U without, against 20.0 U of liveness; same outputs, same time.
//
// The C API has no entry for it (Python's SessionOptions.enable_mem_reuse sets the struct field), so this module
// writes the field in the OrtSessionOptions object itself, but only where its place is proven first: ORT declares it
// between enable_mem_pattern and enable_cpu_mem_arena (core/framework/session_options.h), and those two are found by
// flipping each through its own C API entry and seeing exactly one byte change. Any other layout leaves the
// planner as it is and says so.
import koffi from 'koffi';
import type { OrtCApi } from './ort-c-api.ts';

/** How many leading bytes of OrtSessionOptions the proof reads: the three flags sit within the first hundred. */
const PROBED_BYTES = 256;

let proven: { offset: number } | { refusal: string } | undefined;

/**
 * Turns the planner's buffer reuse off in `options` (a fresh OrtSessionOptions). Returns undefined when done, or why
 * it could not be (then the session keeps ORT's default).
 */
export function disablePlannerReuse(api: OrtCApi, options: unknown): string | undefined {
  proven ??= proveOffset(api);
  if ('refusal' in proven) return proven.refusal;
  koffi.encode(options, proven.offset, 'uint8_t', 0);
  return undefined;
}

function proveOffset(api: OrtCApi): { offset: number } | { refusal: string } {
  const options = api.out('CreateSessionOptions');
  try {
    const bytes = () => Uint8Array.from(koffi.decode(options, 'uint8_t', PROBED_BYTES) as number[]);
    /** The one byte that `off` turns from 1 to 0 (and `on` turns back), or -1. */
    const flagOffset = (off: 'DisableMemPattern' | 'DisableCpuMemArena', on: 'EnableMemPattern' | 'EnableCpuMemArena') => {
      const before = bytes();
      api.check(api.call[off](options), off);
      const after = bytes();
      api.check(api.call[on](options), on);
      const changed = [...before.keys()].filter((i) => before[i] !== after[i]);
      return changed.length === 1 && before[changed[0]] === 1 && after[changed[0]] === 0 && bytes()[changed[0]] === 1 ? changed[0] : -1;
    };
    const pattern = flagOffset('DisableMemPattern', 'EnableMemPattern');
    const arena = flagOffset('DisableCpuMemArena', 'EnableCpuMemArena');
    if (pattern < 0 || arena !== pattern + 2 || bytes()[pattern + 1] !== 1) {
      return { refusal: `ORT ${api.version}'s session options are not laid out as this studio knows (memory pattern flag at ${pattern}, CPU arena flag at ${arena}); ORT's planner keeps its buffer reuse` };
    }
    return { offset: pattern + 1 };
  } finally {
    api.call.ReleaseSessionOptions(options);
  }
}

// fp16 UNet calls that overflow: at high resolution (or with extreme latents) an fp16 activation can pass
// 65504 and the output comes back NaN/Inf. Such a call is computed again by the same graph in fp32, and the
// job says how many calls needed it; the fp32 session is built only on the first overflow.
import type { ort } from '../../runtime/session.ts';
import type { UNetRunner } from '../../models/unet/runner.ts';
import { allFinite } from '../../runtime/result-checks.ts';

export interface RecoveredRun {
  output: Float32Array;
  /** The fp16 output held NaN/Inf and this is the fp32 graph's. */
  recovered: boolean;
}

export async function runRecovering(unet: UNetRunner, fp32: (() => Promise<UNetRunner>) | undefined, feeds: Record<string, ort.Tensor>): Promise<RecoveredRun> {
  const first = await unet.run(feeds);
  if (!fp32 || allFinite(first)) return { output: first, recovered: false };
  return { output: await (await fp32()).run(feeds), recovered: true };
}

export const unetRecoveryNotes = (calls: number): string[] =>
  calls > 0 ? [`${calls} fp16 UNet call${calls > 1 ? 's' : ''} gave NaN/Inf (fp16 overflow); computed again in fp32`] : [];

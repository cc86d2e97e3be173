// Checks on what a model produced, in one place: NaN/Inf values, and decoded images that came out
// all black (what an fp16 overflow turns into once written as 8-bit pixels).

export type BrokenOutput = 'non-finite' | 'black';

/** The first NaN or ±Inf among `values`, or undefined when every value is finite. */
export function firstNonFinite(values: ArrayLike<number>): number | undefined {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return values[i];
  return undefined;
}

export const allFinite = (values: ArrayLike<number>): boolean => firstNonFinite(values) === undefined;

/**
 * Why a decoded image in [-1, 1] is unusable: NaN/Inf values (fp16 overflow), or every value below
 * -1 + 1/255, i.e. an all-black 8-bit image.
 */
export function brokenImage(image: Float32Array): BrokenOutput | undefined {
  let allBlack = image.length > 0;
  for (let i = 0; i < image.length; i++) {
    const v = image[i];
    if (!Number.isFinite(v)) return 'non-finite';
    if (v >= -1 + 1 / 255) allBlack = false;
  }
  return allBlack ? 'black' : undefined;
}

/**
 * brokenImage from two numbers a graph computed over the image (on the device, so the host need not read every
 * value): the sum of its values (non-finite exactly when a value is: finite fp16 values cannot sum past fp32's
 * range) and the largest value.
 */
export function brokenImageFrom(sum: number, max: number): BrokenOutput | undefined {
  if (!Number.isFinite(sum)) return 'non-finite';
  return max < -1 + 1 / 255 ? 'black' : undefined;
}

/** The run note for a decode that had to be redone in fp32. */
export const recoveryNotes = (recoveredFrom: BrokenOutput | undefined): string[] =>
  recoveredFrom ? [`the fp16 VAE decode was ${recoveredFrom}; decoded again in fp32`] : [];

// `studio upscale IMAGE --scale N --model SDXL [--prompt …] [generate options]`: LinFusion's SDXL SuperRes,
// run as `studio generate --init-image IMAGE --hires WxH --hires-mode superres …`, so the output, its metadata
// and the progress are the generate command's.
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { UsageError } from './exit-codes.ts';
import { OPTIONS as GENERATE_OPTIONS } from './generate-args.ts';
import { generateCommand } from './generate-command.ts';

const OPTIONS = { ...GENERATE_OPTIONS, scale: { type: 'string' } } as const;

/** The multiples of 64 nearest to `side`. */
const near64 = (side: number) => [...new Set([Math.max(64, Math.floor(side / 64) * 64), Math.ceil(side / 64) * 64])];

/**
 * `studio upscale` arguments with --model → `studio generate` arguments: IMAGE becomes --init-image, --scale N (of
 * `imageSize`, read only when needed) becomes --hires WxH, the mode superres; every other option is passed as given.
 */
export async function superresGenerateArgs(argv: string[], imageSize: (image: string) => Promise<{ width: number; height: number }>): Promise<string[]> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true, tokens: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals, tokens } = parsed;
  if (positionals.length !== 1) throw new UsageError(`give exactly one image, got ${positionals.length}`);
  for (const flag of ['init-image', 'hires-mode'] as const) if (values[flag] !== undefined) throw new UsageError(`--${flag}: studio upscale --model sets it (the image is IMAGE, the mode superres)`);
  if ((values.scale === undefined) === (values.hires === undefined)) throw new UsageError('give the output size as --scale N (e.g. 2) or as --hires WxH');
  const image = positionals[0];
  let size = values.hires!;
  if (values.scale !== undefined) {
    const scale = Number(values.scale);
    if (!(scale > 1)) throw new UsageError(`--scale: expected a number above 1, got ${JSON.stringify(values.scale)}`);
    const input = await imageSize(image);
    const [width, height] = [Math.round(input.width * scale), Math.round(input.height * scale)];
    if (width % 64 || height % 64) {
      const options = near64(width).flatMap((w) => near64(height).map((h) => `${w}x${h}`)).join(', ');
      throw new UsageError(`--scale ${values.scale}: ${input.width}×${input.height} × ${scale} is ${width}×${height}, but SuperRes sizes are multiples of 64 on both sides: give --hires WxH instead, nearest ${options}`);
    }
    size = `${width}x${height}`;
  }
  const dropped = new Set<number>();
  for (const t of tokens) {
    if (t.kind === 'positional') dropped.add(t.index);
    if (t.kind === 'option' && (t.name === 'scale' || t.name === 'hires')) [t.index, ...(t.inlineValue ? [] : [t.index + 1])].forEach((i) => dropped.add(i));
  }
  return [...argv.filter((_, i) => !dropped.has(i)), '--init-image', image, '--hires', size, '--hires-mode', 'superres'];
}

async function imageFileSize(image: string): Promise<{ width: number; height: number }> {
  try {
    const { width, height } = await sharp(image).metadata();
    return { width: width!, height: height! };
  } catch (e) {
    throw new UsageError(`IMAGE: cannot read ${image} as an image (${(e as Error).message})`);
  }
}

export async function superresCommand(argv: string[]): Promise<number> {
  return generateCommand(await superresGenerateArgs(argv, imageFileSize));
}

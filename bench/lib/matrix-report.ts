// bench/gpu-matrix.ts's results as a dated Markdown table, the JSON behind it, and a chart (an SVG drawn
// here, rendered to PNG by sharp): per-step time of each CUDA/WebGPU row over PyTorch's in the same call.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Row } from './gpu-matrix-plan.ts';
import type { RunResult } from './unet-run.ts';
import type { ImageResult } from './whole-image.ts';

export interface TorchRow {
  model: string;
  variant: string;
  size: number;
  median_ms?: number;
  allocated_peak_gb?: number;
  error?: string;
  gpuGb?: number;
}

export interface MeasuredRow extends Row {
  result?: RunResult;
  skipped?: string;
  gpuGb?: number;
  relL2?: number;
}

export interface ImageRows {
  /** The studio through the native session with the CUDA tuning, and through onnxruntime-node's binding. */
  ort?: ImageResult & { gpuGb?: number; note?: string };
  ortBinding?: ImageResult & { gpuGb?: number; note?: string };
  torch?: { runs_ms: number[]; load_s: number; gpuGb?: number; error?: string };
}

export interface Report {
  date: string;
  device: string;
  torch: string;
  setup: string[];
  rows: MeasuredRow[];
  torchRows: TorchRow[];
  image: ImageRows;
}

export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (r: MeasuredRow) => (r.result ? median(r.result.stepsMs) : undefined);
const torchFor = (report: Report, r: Pick<Row, 'model' | 'variant' | 'size'>) =>
  report.torchRows.find((t) => t.model === r.model && t.variant === r.variant && t.size === r.size);
const f = (v: number | undefined, digits = 1) => (v === undefined ? '–' : v.toFixed(digits));

export function markdown(report: Report): string {
  const out: string[] = [`# GPU matrix, ${report.date}`, '', `${report.device}; PyTorch ${report.torch} (diffusers, SDPA, fp16). Batch 2 (CFG), random weights; ms per UNet step (median); GPU memory = nvidia-smi device total at its highest while the process ran, minus idle, for both sides.`, ''];
  for (const s of report.setup) out.push(`- ${s}`);
  out.push('', '| model | variant | image | provider | dtype | fused | ms/step | PyTorch ms | ratio | GPU GiB | PyTorch GPU GiB | memory ratio | rel-L2 vs PyTorch | session s | note |', `|${' --- |'.repeat(15)}`);
  for (const r of report.rows) {
    const t = torchFor(report, r);
    const m = ms(r);
    const ratio = m !== undefined && t?.median_ms ? `${(m / t.median_ms).toFixed(2)}×` : '–';
    const memRatio = r.gpuGb !== undefined && t?.gpuGb ? `${(r.gpuGb / t.gpuGb).toFixed(2)}×` : '–';
    const cuda = r.ep !== 'cuda' ? report.rows.find((c) => c.ep === 'cuda' && c.group === 'main' && c.model === r.model && c.variant === r.variant && c.size === r.size) : undefined;
    const cudaMs = cuda && ms(cuda);
    const vsCuda = m !== undefined && cudaMs ? `${(m / cudaMs).toFixed(1)}× the CUDA row` : undefined;
    const note = [r.skipped, vsCuda, r.result?.note, r.result && !r.result.finite ? 'NaN/Inf in output' : undefined].filter(Boolean).join('; ');
    out.push(`| ${r.model} | ${r.variant} | ${r.size}² | ${r.ep}${r.tuning ? ` native (${r.tuning})` : ''} | ${r.dtype === 'float16' ? 'fp16' : 'fp32'} | ${r.fused ? 'yes' : 'no'} | ${m !== undefined ? `${m.toFixed(1)} (N=${r.result!.stepsMs.length})` : '–'} | ${f(t?.median_ms)} | ${ratio} | ${f(r.gpuGb, 2)} | ${f(t?.gpuGb, 2)} | ${memRatio} | ${r.relL2 === undefined ? '–' : r.relL2.toExponential(1)} | ${f(r.result?.sessionS)} | ${note} |`);
  }
  const missing = report.torchRows.filter((t) => t.error);
  if (missing.length) out.push('', ...missing.map((t) => `- PyTorch ${t.model} ${t.variant} ${t.size}²: ${t.error}`));
  const { ort, ortBinding, torch } = report.image;
  out.push('', '## Whole SD 1.5 image, 512², 25 Euler steps, CFG 7.5 (text encoding + steps + VAE decode)', '', '| pipeline | first run ms | warm run ms (median) | GPU GiB | note |', '| --- | --- | --- | --- | --- |');
  for (const [label, o] of [['native session, CUDA tuning', ort], ['onnxruntime-node binding', ortBinding]] as const) {
    if (o) out.push(`| studio (${o.provider}, fp16, ${label}) | ${o.runsMs[0].toFixed(0)} | ${median(o.runsMs.slice(1)).toFixed(0)} | ${f(o.gpuGb, 2)} | stages of the last run: ${Object.entries(o.stagesMs).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}${o.note ? `; ${o.note}` : ''} |`);
  }
  if (torch?.runs_ms) out.push(`| diffusers StableDiffusionPipeline (fp16) | ${torch.runs_ms[0].toFixed(0)} | ${median(torch.runs_ms.slice(1)).toFixed(0)} | ${f(torch.gpuGb, 2)} | loaded in ${torch.load_s.toFixed(1)} s |`);
  if (torch?.error) out.push(`| diffusers | – | – | – | ${torch.error} |`);
  return out.join('\n') + '\n';
}

/** Bars of ours ÷ PyTorch per row (CUDA fp16 rows that have a PyTorch figure), with the 0.8× target line. */
/** What a row's tuning changes from the studio's (`studio,graph=0` → ` graph=0`); the studio's own: nothing. */
const tuningChange = (tuning: string): string => tuning.split(',').slice(1).map((c) => ` ${c}`).join('');

export function chartSvg(report: Report): string {
  const bars = report.rows.flatMap((r) => {
    const t = torchFor(report, r);
    const m = ms(r);
    return m !== undefined && t?.median_ms && r.dtype === 'float16' ? [{ label: `${r.model} ${r.variant} ${r.size}² ${r.ep}${r.tuning ? tuningChange(r.tuning) : ' binding'}${r.fused ? '' : ' plain'}${r.group === 'profile' ? ' profiled' : ''}`, ratio: m / t.median_ms, ep: r.ep }] : [];
  });
  const rowH = 22, left = 360, width = 1000, top = 40;
  const maxRatio = Math.max(1.5, ...bars.map((b) => b.ratio));
  const x = (v: number) => left + ((width - left - 40) * v) / maxRatio;
  const height = top + bars.length * rowH + 40;
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14">ms per UNet step ÷ PyTorch (diffusers, fp16) in the same call, ${esc(report.date)}; lower is better</text>`];
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    parts.push(`<text x="${left - 6}" y="${y + 15}" text-anchor="end">${esc(b.label)}</text>`,
      `<rect x="${left}" y="${y + 3}" width="${Math.max(1, x(b.ratio) - left)}" height="${rowH - 6}" fill="${b.ep === 'cuda' ? '#3b7a57' : '#6a5acd'}"/>`,
      `<text x="${x(b.ratio) + 4}" y="${y + 15}">${b.ratio.toFixed(2)}×</text>`);
  });
  for (const [v, color] of [[0.8, '#c0392b'], [1, '#555']] as const) {
    parts.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${top - 4}" y2="${height - 30}" stroke="${color}" stroke-dasharray="4 3"/>`, `<text x="${x(v)}" y="${height - 14}" text-anchor="middle" fill="${color}">${v}×</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** Writes NAME.md, NAME.json and NAME.png into `dir`; returns their paths. */
export async function writeReport(report: Report, dir: string, name: string): Promise<string[]> {
  const files = ['md', 'json', 'png'].map((ext) => join(dir, `${name}.${ext}`));
  writeFileSync(files[0], markdown(report));
  writeFileSync(files[1], JSON.stringify(report, null, 1));
  // Loaded here only: the CUDA children run from a folder where sharp cannot be resolved.
  const sharp = (await import('sharp')).default;
  await sharp(Buffer.from(chartSvg(report))).png().toFile(files[2]);
  return files;
}

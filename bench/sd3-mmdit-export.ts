// Builds the SD3-medium MMDiT graph (fp16, batch 2 = CFG, 1024² → 128² latent, 77 + 256 text tokens)
// for the GPU bench without its 4 GB of weights: the graph points into a safetensors file whose header
// is written here and whose data the device script fills with random values (bench/sd3_mmdit_gpu.py).
//   npx tsx bench/sd3-mmdit-export.ts <out dir>   → sd3m.onnx, sd3m-header.bin, sd3m-tensors.json
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DTYPE_BYTES, type TensorInfo } from '../pipelines/io/safetensors.ts';
import type { KeyedSource } from '../pipelines/checkpoints/sources.ts';
import { SD3_MEDIUM, mmditTensorShapes } from '../pipelines/models/mmdit/config.ts';
import { buildMmditGraph } from '../pipelines/models/mmdit/model.ts';

/** Where the device script writes the weights (ORT resolves external data from the filesystem root). */
const WEIGHTS = '/tmp/bench19/sd3m.safetensors';

const out = process.argv[2] ?? 'bench-out';
mkdirSync(out, { recursive: true });
const shapes = mmditTensorShapes(SD3_MEDIUM);
const names = Object.keys(shapes).sort();
const header: Record<string, unknown> = {};
let offset = 0;
for (const n of names) {
  const bytes = shapes[n].reduce((a, b) => a * b, 1) * DTYPE_BYTES.F16;
  header[n] = { dtype: 'F16', shape: shapes[n], data_offsets: [offset, offset + bytes] };
  offset += bytes;
}
let json = Buffer.from(JSON.stringify(header));
json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
const prefix = Buffer.alloc(8);
prefix.writeBigUInt64LE(BigInt(json.length));
writeFileSync(join(out, 'sd3m-header.bin'), Buffer.concat([prefix, json]));

const dataStart = 8 + json.length;
const source: KeyedSource = {
  path: WEIGHTS,
  keys: () => names,
  has: (n) => n in header,
  info: (n): TensorInfo => {
    const h = header[n] as { shape: number[]; data_offsets: [number, number] };
    return { name: n, dtype: 'F16', shape: h.shape, offset: dataStart + h.data_offsets[0], byteLength: h.data_offsets[1] - h.data_offsets[0], file: WEIGHTS };
  },
};
// serialize() resolves the weights' real path, so the file must exist here too (an empty stand-in).
mkdirSync('/tmp/bench19', { recursive: true });
writeFileSync(WEIGHTS, '');
const graph = buildMmditGraph(source, SD3_MEDIUM, { batch: 2, height: 128, width: 128, textLength: 333, dtype: 'float16' });
const { bytes } = graph.serialize();
writeFileSync(join(out, 'sd3m.onnx'), bytes);
writeFileSync(join(out, 'sd3m-tensors.json'), JSON.stringify({ weights: WEIGHTS, names, bytes: offset, parameters: offset / 2, summary: graph.summary().ops }));
console.log(`graph ${bytes.length} bytes, ${(offset / 2 / 1e9).toFixed(3)} B parameters, weights ${(offset / 2 ** 30).toFixed(2)} GiB`);

// A single file in a model's original layout seen under diffusers' names, without copying weights:
// renames; fused projections split into row ranges of the file (rows of a row-major matrix are
// contiguous); and tensors stored [shift; scale] where diffusers has [scale; shift], whose halves are
// swapped into a small side file in the temp folder (the only bytes copied). SD3 and FLUX keymaps fill one.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DTYPE_BYTES, SafetensorsFile, writeSafetensors, type TensorInfo, type TensorToWrite } from '../io/safetensors.ts';
import { CheckpointShapeError } from '../onnx/weights.ts';
import type { KeyedSource } from './sources.ts';

type Entry = { info: TensorInfo } | { swapped: string };

export class OriginalLayoutSource implements KeyedSource {
  private readonly entries = new Map<string, Entry>();
  private side?: SafetensorsFile;

  /** `prefix` is put before every original key; `what` names the file in messages ("an SD3 single file"). */
  constructor(private readonly file: SafetensorsFile, private readonly prefix: string, private readonly what: string) {}

  /** Original keys (without the prefix) present in the file. */
  originalKeys(): string[] {
    return this.file.keys().filter((k) => k.startsWith(this.prefix)).map((k) => k.slice(this.prefix.length));
  }

  rename(name: string, key: string): void {
    if (this.file.has(this.prefix + key)) this.entries.set(name, { info: this.file.info(this.prefix + key) });
  }

  /** The row blocks of a fused tensor, in order; `rows` gives each block's share (equal thirds etc. by default). */
  split(names: readonly string[], key: string, rows: readonly number[] = names.map(() => 1)): void {
    if (!this.file.has(this.prefix + key)) return;
    const info = this.file.info(this.prefix + key);
    const total = rows.reduce((a, b) => a + b, 0);
    if (info.shape[0] % total) throw new CheckpointShapeError(this.path, this.prefix + key, `${info.shape[0]} rows do not split into [${rows}] parts`);
    const unit = info.shape[0] / total;
    const bytesPerRow = info.byteLength / info.shape[0];
    let at = 0;
    names.forEach((name, i) => {
      const n = rows[i] * unit;
      this.entries.set(name, { info: { ...info, name, shape: [n, ...info.shape.slice(1)], offset: info.offset + at * bytesPerRow, byteLength: n * bytesPerRow } });
      at += n;
    });
  }

  swap(name: string, key: string): void {
    if (this.file.has(this.prefix + key)) this.entries.set(name, { swapped: this.prefix + key });
  }

  get path(): string {
    return this.file.path;
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  info(name: string): TensorInfo {
    const e = this.entries.get(name);
    if (!e) throw new CheckpointShapeError(this.path, name, `not in this ${this.what}`);
    if ('info' in e) return e.info;
    return this.sideFile().info(e.swapped);
  }

  /** The swapped tensors, written once per checkpoint (keyed by its path, size and time). */
  private sideFile(): SafetensorsFile {
    if (this.side) return this.side;
    const st = statSync(this.path);
    const key = createHash('sha256').update(`${this.path}|${st.size}|${st.mtimeMs}`).digest('hex').slice(0, 16);
    const dir = join(tmpdir(), 'diffusion-studio');
    const file = join(dir, `swapped-halves-${key}.safetensors`);
    if (!existsSync(file)) {
      mkdirSync(dir, { recursive: true });
      const out: Record<string, TensorToWrite> = {};
      for (const e of this.entries.values()) {
        if (!('swapped' in e)) continue;
        const info = this.file.info(e.swapped);
        const bytes = this.file.readBytes(e.swapped);
        const half = bytes.byteLength / 2;
        if (half % DTYPE_BYTES[info.dtype]) throw new CheckpointShapeError(this.path, e.swapped, 'cannot be split into shift and scale halves');
        out[e.swapped] = { dtype: info.dtype, shape: [...info.shape], data: Buffer.concat([bytes.subarray(half), bytes.subarray(0, half)]) };
      }
      writeSafetensors(file, out);
    }
    this.side = SafetensorsFile.open(file);
    return this.side;
  }
}

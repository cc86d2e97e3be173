// The queue's journal: a JSON-lines file whose first line is a header and every other line one
// change. A change counts once its line is fsynced; a last line cut short by a crash was never
// acknowledged and is dropped. Compaction writes a fresh file (temp + fsync + rename) under a new
// generation id, so processes that read the file incrementally know to read it again from the top.
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const FORMAT = 'studio-queue';
const VERSION = 1;

export interface JournalLine {
  /** 1-based line number in the file, for messages. */
  line: number;
  value: unknown;
}

export interface JournalRead {
  /** True when the file was rewritten since the last read: `lines` is then the whole journal. */
  reset: boolean;
  lines: JournalLine[];
  /** Lines that could not be read (skipped), as `file:line: why`. */
  warnings: string[];
}

/** fsync of a folder makes a rename in it durable; not every platform can open a folder, which is fine. */
function syncFolder(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Windows cannot open folders; its renames are durable once they return.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Writes `text` to `path` through a temporary file, fsync and rename: readers see the old or the new file. */
export function replaceFileAtomic(path: string, text: string): void {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fd = openSync(temp, 'wx');
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
    syncFolder(dirname(path));
  } finally {
    rmSync(temp, { force: true });
  }
}

function headerLine(generation: string): string {
  return `${JSON.stringify({ format: FORMAT, version: VERSION, generation })}\n`;
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

export class Journal {
  private generation?: string;
  /** Bytes of complete lines already read. */
  private offset = 0;
  private lineCount = 0;

  constructor(readonly path: string) {}

  /** Creates an empty journal if there is none (call under the lock). */
  ensure(): void {
    if (!existsSync(this.path)) replaceFileAtomic(this.path, headerLine(randomBytes(8).toString('hex')));
  }

  /** Lines in the file, header included, as of the last read or write. */
  get lines(): number {
    return this.lineCount;
  }

  private readHeader(fd: number): { generation: string; bytes: number } {
    const head = readAt(fd, 0, 4096);
    const end = head.indexOf(0x0a);
    const text = head.subarray(0, end < 0 ? head.length : end).toString('utf8');
    let h: { format?: unknown; version?: unknown; generation?: unknown } = {};
    try {
      h = JSON.parse(text);
    } catch {
      // reported below
    }
    if (end < 0 || h.format !== FORMAT || typeof h.generation !== 'string') {
      throw new Error(`${this.path} is not a studio queue journal (its first line is ${JSON.stringify(text.slice(0, 80))}); move it away and try again`);
    }
    if (h.version !== VERSION) throw new Error(`${this.path} is a version ${String(h.version)} queue journal; this studio reads version ${VERSION}`);
    return { generation: h.generation, bytes: end + 1 };
  }

  /**
   * Reads the lines added since the last read (all of them after a rewrite). With `repair` (only
   * under the lock, when no writer can be mid-line), a torn last line left by a crash is cut off.
   */
  read(repair: boolean): JournalRead {
    const fd = openSync(this.path, repair ? 'r+' : 'r');
    try {
      const header = this.readHeader(fd);
      const size = fstatSync(fd).size;
      const reset = header.generation !== this.generation || size < this.offset;
      if (reset) {
        this.generation = header.generation;
        this.offset = header.bytes;
        this.lineCount = 1;
      }
      const chunk = readAt(fd, this.offset, size - this.offset);
      const complete = chunk.lastIndexOf(0x0a) + 1;
      if (complete < chunk.length && repair) {
        ftruncateSync(fd, this.offset + complete);
        fsyncSync(fd);
      }
      const lines: JournalLine[] = [];
      const warnings: string[] = [];
      for (const text of chunk.subarray(0, complete).toString('utf8').split('\n').slice(0, -1)) {
        this.lineCount++;
        try {
          lines.push({ line: this.lineCount, value: JSON.parse(text) });
        } catch {
          warnings.push(`${this.path}:${this.lineCount}: not valid JSON, skipped`);
        }
      }
      this.offset += complete;
      return { reset, lines, warnings };
    } finally {
      closeSync(fd);
    }
  }

  /** Appends values as lines and fsyncs (call under the lock, right after `read(true)`). */
  append(values: readonly object[]): void {
    if (values.length === 0) return;
    const data = Buffer.from(values.map((v) => `${JSON.stringify(v)}\n`).join(''), 'utf8');
    const fd = openSync(this.path, 'a');
    try {
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.offset += data.length;
    this.lineCount += values.length;
  }

  /** Replaces the whole journal with these lines, under a new generation (call under the lock). */
  rewrite(values: readonly object[]): void {
    const generation = randomBytes(8).toString('hex');
    const text = headerLine(generation) + values.map((v) => `${JSON.stringify(v)}\n`).join('');
    replaceFileAtomic(this.path, text);
    this.generation = generation;
    this.offset = Buffer.byteLength(text, 'utf8');
    this.lineCount = values.length + 1;
  }
}

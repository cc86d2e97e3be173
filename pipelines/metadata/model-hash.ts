// Model hashes as A1111 and Civitai use them: SHA-256 of the whole file; `Model hash` shows the
// first 10 hex digits ("shorthash").
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** SHA-256 of a file as hex; `onBytes` hears the running byte count (multi-GB checkpoints take seconds). */
export async function sha256File(path: string, onBytes?: (bytesRead: number) => void): Promise<string> {
  const hash = createHash('sha256');
  let read = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    read += (chunk as Buffer).length;
    onBytes?.(read);
  }
  return hash.digest('hex');
}

export function shortHash(sha256: string): string {
  return sha256.slice(0, 10);
}

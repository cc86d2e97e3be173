// What the inspector worker does: everything the server reads from files a user or a client supplied
// (gallery PNGs, dropped files, checkpoint headers). It runs in a worker thread (see inspector.ts) so a
// slow or hostile file costs that thread's time and memory budget, never the server's event loop.
import { readFile } from 'node:fs/promises';
import { readImageMetadata } from '../../pipelines/metadata/read-metadata.ts';
import type { GalleryImage, ModelEntry } from './api.ts';
import { readDroppedImage } from './dropped-image.ts';
import { describeCheckpointFile } from './models.ts';

export type InspectTask =
  | { kind: 'galleryMetadata'; path: string; name: string }
  | { kind: 'droppedImage'; name: string; bytes: Uint8Array }
  | { kind: 'checkpoint'; path: string; name: string; sizeBytes: number };

export type InspectResult<T extends InspectTask> = T extends { kind: 'galleryMetadata' }
  ? Pick<GalleryImage, 'settings' | 'request' | 'warnings'>
  : T extends { kind: 'droppedImage' }
    ? ReturnType<typeof readDroppedImage>
    : ModelEntry;

export async function runInspectTask(task: InspectTask): Promise<unknown> {
  switch (task.kind) {
    case 'galleryMetadata': {
      try {
        const meta = readImageMetadata(await readFile(task.path), task.name);
        return { settings: meta.settings, request: meta.studio?.request, warnings: meta.warnings };
      } catch (e) {
        return { warnings: [(e as Error).message] };
      }
    }
    case 'droppedImage':
      return readDroppedImage(task.name, task.bytes);
    case 'checkpoint':
      return describeCheckpointFile(task.path, task.name, task.sizeBytes);
  }
}

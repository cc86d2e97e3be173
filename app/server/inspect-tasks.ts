// What the inspector worker does: the metadata the server reads from files a user or a client supplied
// (gallery PNGs, dropped files). Checkpoint headers are read by the engine host's models.scan job. It runs in a worker thread (see inspector.ts) so a
// slow or hostile file costs that thread's time and memory budget, never the server's event loop.
import { readFile } from 'node:fs/promises';
import { readImageMetadata } from '../../pipelines/metadata/read-metadata.ts';
import type { GalleryImage } from '../../pipelines/jobs/api-studio.ts';
import { readDroppedImage } from './dropped-image.ts';

export type InspectTask =
  | { kind: 'galleryMetadata'; path: string; name: string }
  | { kind: 'droppedImage'; name: string; bytes: Uint8Array };

export type InspectResult<T extends InspectTask> = T extends { kind: 'galleryMetadata' }
  ? Pick<GalleryImage, 'settings' | 'request' | 'warnings'>
  : ReturnType<typeof readDroppedImage>;

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
  }
}

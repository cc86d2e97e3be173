// The studio:// scheme: studio://app/ serves the built UI, studio://app/outputs/<name> a gallery image.
// Resolution is a pure function so that what it serves (and refuses) is tested without Electron.
import { join } from 'node:path';
import { resolveInside } from '../server/static-files.ts';

export type StudioResource = { file: string } | { status: 400 | 404; message: string };

export interface ProtocolRoots {
  rendererDir: string;
  /** The gallery's own resolver (refuses anything that is not an image name in the outputs folder). */
  imagePath(name: string): string | undefined;
}

export function resolveStudioUrl(url: string, roots: ProtocolRoots): StudioResource {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { status: 400, message: `not a URL: ${url}` };
  }
  if (u.host !== 'app') return { status: 404, message: `unknown host ${u.host}` };
  if (u.pathname.startsWith('/outputs/')) {
    let name: string;
    try {
      name = decodeURIComponent(u.pathname.slice('/outputs/'.length));
    } catch {
      return { status: 400, message: 'bad image name' };
    }
    const file = roots.imagePath(name);
    return file ? { file } : { status: 404, message: `no image "${name}" in the outputs folder` };
  }
  const file = u.pathname === '/' ? join(roots.rendererDir, 'index.html') : resolveInside(roots.rendererDir, u.pathname);
  return file ? { file } : { status: 404, message: `not found: ${u.pathname}` };
}

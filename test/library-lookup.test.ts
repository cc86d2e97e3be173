// Recall finds the files an image's request names in the library: at the path, else by name (a moved library).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LibraryEntry } from '../pipelines/jobs/api.ts';
import { libraryFile, stem } from '../renderer/lib/library-lookup.ts';

const entry = (kind: LibraryEntry['kind'], path: string, problem?: string): LibraryEntry =>
  ({ kind, path, name: stem(path), sizeBytes: 1, ...(problem ? { problem } : {}) }) as LibraryEntry;

test('a requested file is found at its path, else by its name; never one of another kind or with a problem', () => {
  const library = [
    entry('vae', '/models/vae/sdxl_vae.fp16.safetensors'),
    entry('vae', '/models/vae/other.safetensors'),
    entry('ip-adapter', '/models/ipa/ip-adapter_sd15.safetensors'),
    entry('ip-adapter', '/models/ipa/broken.safetensors', 'not a safetensors file'),
  ];
  assert.equal(libraryFile(library, 'vae', '/models/vae/other.safetensors')?.path, '/models/vae/other.safetensors');
  assert.equal(libraryFile(library, 'vae', '/old/place/sdxl_vae.fp16.safetensors')?.path, '/models/vae/sdxl_vae.fp16.safetensors', 'moved: by name');
  assert.equal(libraryFile(library, 'vae', 'sdxl_vae.fp16')?.path, '/models/vae/sdxl_vae.fp16.safetensors', 'a name with a dot keeps it');
  assert.equal(libraryFile(library, 'vae', '/models/ipa/ip-adapter_sd15.safetensors'), undefined, 'another kind');
  assert.equal(libraryFile(library, 'ip-adapter', '/models/ipa/broken.safetensors'), undefined, 'a file with a problem');
  assert.equal(libraryFile(library, 'ip-adapter', 'C:\\old\\ip-adapter_sd15.bin')?.path, '/models/ipa/ip-adapter_sd15.safetensors');
});

// The UI's job notes: a note already told this session is not told again with the next job.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FreshNotes } from '../renderer/lib/fresh-notes.ts';

test('each note is told once: repeats within a job and across jobs are dropped, new ones kept in order', () => {
  const notes = new FreshNotes();
  const auto = '--ep auto: cuda (float16), the fastest provider that works here';
  assert.deepEqual(notes.take([auto, 'the model does not know "blorp"', auto]), [auto, 'the model does not know "blorp"']);
  assert.deepEqual(notes.take([auto, 'ladder estimated on cuda: 2048×2048 9.1 GiB']), ['ladder estimated on cuda: 2048×2048 9.1 GiB']);
  assert.deepEqual(notes.take([auto]), []);
});

// The notes a job brings that the user has not been told yet this session: the provider `--ep auto` took, or the
// same unknown word, would otherwise come back with every job.
export class FreshNotes {
  readonly #told = new Set<string>();

  /** The notes not told before (in order, once each); they count as told from now on. */
  take(notes: readonly string[]): string[] {
    const fresh: string[] = [];
    for (const note of notes) {
      if (this.#told.has(note)) continue;
      this.#told.add(note);
      fresh.push(note);
    }
    return fresh;
  }
}

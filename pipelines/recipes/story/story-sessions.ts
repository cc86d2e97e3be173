// The warm sessions of one story model, kept between stories: the probed plain graph per row count,
// the story graph per subject count and IR settings, each keyed by what changes its graph.
import type { Graph } from '../../onnx/graph.ts';
import type { GridInputs } from '../../attention/reposition.ts';
import { Session, type SessionOptions } from '../../runtime/session.ts';

export interface StorySession {
  session: Session;
  /** The IR mask inputs (story graphs). */
  grids?: readonly GridInputs[];
}

export class StorySessions {
  private readonly entries = new Map<string, Promise<StorySession>>();

  constructor(private readonly options: SessionOptions) {}

  get(key: unknown, build: () => { graph: Graph; grids?: readonly GridInputs[] }): Promise<StorySession> {
    const id = JSON.stringify(key);
    let entry = this.entries.get(id);
    if (!entry) {
      entry = (async () => {
        const { graph, grids } = build();
        return { session: await Session.create(graph, this.options), grids };
      })();
      entry.catch(() => this.entries.delete(id));
      this.entries.set(id, entry);
    }
    return entry;
  }

  async release(): Promise<void> {
    for (const e of this.entries.values()) await (await e).session.release().catch(() => undefined);
    this.entries.clear();
  }
}

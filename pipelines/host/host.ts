// The engine host: imports the job modules the client names, then runs one job at a time, sending
// progress and the result back. It holds the session cache, so sessions survive from job to job.
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { engineSessions } from '../runtime/session-cache.ts';
import { builtinJobs } from './builtin-jobs.ts';
import { JobCancelledError, type JobRegistry } from './jobs.ts';
import { ClientMessage, errorInfo, parseMessage, Progress } from './protocol.ts';
import type { HostPort } from './port.ts';

export function startHost(port: HostPort, sessions = engineSessions): void {
  let jobs: JobRegistry | undefined;
  let running: { id: string; abort: AbortController } | undefined;

  port.onMessage((raw) => {
    const msg = parseMessage(ClientMessage, raw, 'engine client');
    switch (msg.type) {
      case 'init':
        loadJobs(msg.modules).then(
          (loaded) => {
            jobs = loaded;
            port.post({ type: 'ready', pid: process.pid, jobs: Object.keys(loaded) });
          },
          (e) => port.post({ type: 'init-failed', error: errorInfo(e) }),
        );
        return;
      case 'cancel':
        if (running?.id === msg.id) running.abort.abort(new JobCancelledError());
        return;
      case 'run':
        if (!jobs) return refuse(msg.id, `job "${msg.job}" arrived before the host was initialised`);
        if (running) return refuse(msg.id, `job "${msg.job}" arrived while job ${running.id} runs (the client sends one at a time)`);
        running = { id: msg.id, abort: new AbortController() };
        void runJob(jobs, msg.id, msg.job, msg.input, running.abort.signal).finally(() => (running = undefined));
        return;
    }
  });

  function refuse(id: string, why: string): void {
    port.post({ type: 'failed', id, error: errorInfo(new Error(why)), cancelled: false });
  }

  async function runJob(registry: JobRegistry, id: string, name: string, rawInput: unknown, signal: AbortSignal): Promise<void> {
    try {
      const job = registry[name];
      if (!job) throw new Error(`unknown job "${name}"; this host runs: ${Object.keys(registry).join(', ')}`);
      const parsed = job.input.safeParse(rawInput);
      if (!parsed.success) throw new Error(`bad input for job "${name}": ${z.prettifyError(parsed.error)}`);
      const progress = (p: unknown) => port.post({ type: 'progress', id, progress: parseMessage(Progress, p, `job "${name}"`) });
      const output = await job.run(parsed.data as never, { signal, progress, sessions });
      port.post({ type: 'done', id, output });
    } catch (e) {
      port.post({ type: 'failed', id, error: errorInfo(e), cancelled: signal.aborted });
    }
  }
}

async function loadJobs(modules: readonly string[]): Promise<JobRegistry> {
  const registry: JobRegistry = { ...builtinJobs };
  for (const spec of modules) {
    const url = spec.startsWith('file:') ? spec : pathToFileURL(spec).href;
    const mod = (await import(url)) as { jobs?: JobRegistry };
    if (!mod.jobs || typeof mod.jobs !== 'object') throw new Error(`job module ${spec} does not export \`jobs\``);
    for (const [name, job] of Object.entries(mod.jobs)) {
      if (registry[name]) throw new Error(`job "${name}" from ${spec} is already defined by another module`);
      registry[name] = job;
    }
  }
  return registry;
}

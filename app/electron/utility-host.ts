// The engine host in an Electron utilityProcess (a separate OS process: an abort inside ORT or a GPU
// driver leaves the window running, and the EngineClient starts a new host). `fork` is passed in, so
// this wiring is tested under plain Node with another process kind behind the same interface.
import type { HostConnection, HostLauncher } from '../../pipelines/host/launchers.ts';

/** The parts of Electron's UtilityProcess the launcher uses. */
export interface UtilityProcessLike {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'exit', listener: (code: number) => void): unknown;
  kill(): boolean;
}

export type ForkUtility = (
  modulePath: string,
  args: string[],
  options: { serviceName: string; env: Record<string, string | undefined>; stdio: 'inherit' },
) => UtilityProcessLike;

export function utilityProcessHost(fork: ForkUtility, entryPath: string, env: Record<string, string | undefined> = process.env): HostLauncher {
  return (): HostConnection => {
    // Released ORT sessions give their memory back only if glibc reads this at process start.
    const child = fork(entryPath, [], { serviceName: 'Diffusion Studio engine', env: { ...env, MALLOC_TRIM_THRESHOLD_: '0' }, stdio: 'inherit' });
    let alive = true;
    const exited = new Promise<string>((resolve) =>
      child.on('exit', (code) => {
        alive = false;
        resolve(code === 0 ? 'exited' : `exited with code ${code}`);
      }),
    );
    return {
      kind: 'utility-process',
      post: (m) => {
        if (alive) child.postMessage(m);
      },
      onMessage: (l) => void child.on('message', l),
      onExit: (l) => void exited.then(l),
      kill: async () => {
        if (alive) child.kill();
        await exited;
      },
    };
  };
}

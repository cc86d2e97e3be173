// The preload bridge: exposes `window.studio` with the studio's one API (call + events) and nothing
// else. It runs sandboxed, so it is bundled into a single CommonJS file; params and results are
// validated by the studio (main process) and by the UI, not here.
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import type { ElectronBridge } from '../../pipelines/jobs/api-studio.ts';

// Channel names repeat ipc.ts's: a sandboxed preload cannot import other files at run time.
const CALL_CHANNEL = 'studio:call';
const EVENT_CHANNEL = 'studio:event';

const bridge: ElectronBridge = {
  call: (method, params) => ipcRenderer.invoke(CALL_CHANNEL, method, params),
  onEvent: (listener) => {
    const forward = (_e: IpcRendererEvent, event: string, data: unknown) => listener(event, data);
    ipcRenderer.on(EVENT_CHANNEL, forward);
    return () => void ipcRenderer.off(EVENT_CHANNEL, forward);
  },
};

contextBridge.exposeInMainWorld('studio', bridge);

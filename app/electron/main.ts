// The desktop app's main process, kept thin: folders, the studio (engine host in a utilityProcess),
// the studio:// protocol, IPC, the menu and one window. The logic lives in the modules it wires.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { app, BrowserWindow, dialog, ipcMain, Menu, net, protocol, session, shell, utilityProcess } from 'electron';
import shellConfig from '../../electron.config.ts';
import { CONTENT_SECURITY_POLICY } from '../server/static-files.ts';
import { Studio } from '../server/studio.ts';
import { appFolders, ensureFolders } from './app-folders.ts';
import { CALL_CHANNEL, EVENT_CHANNEL, handleIpcCall } from './ipc.ts';
import { menuTemplate } from './menu.ts';
import { allowPermission, isExternalLinkAllowed, isTrustedUrl, trustedOrigin, windowOptions } from './security.ts';
import { resolveStudioUrl } from './studio-protocol.ts';
import { ImageTiles } from '../server/image-tiles.ts';
import { utilityProcessHost, type ForkUtility } from './utility-host.ts';

const here = dirname(fileURLToPath(import.meta.url));
const appRoot = resolve(here, '../../..');
const { scheme } = shellConfig;
const bundle = (name: keyof typeof shellConfig.bundles) => join(here, shellConfig.bundles[name].file);

protocol.registerSchemesAsPrivileged([{ scheme, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);

if (!app.requestSingleInstanceLock()) app.quit();

let window: BrowserWindow | undefined;

function createWindow(): BrowserWindow {
  const win = new BrowserWindow(windowOptions(shellConfig, bundle('preload')));
  win.once('ready-to-show', () => win.show());
  win.webContents.on('will-navigate', (e, url) => {
    if (!isTrustedUrl(url, scheme)) e.preventDefault();
  });
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (isExternalLinkAllowed(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  // A crashed renderer is reloaded; the queue lives in the main process and is still there.
  win.webContents.on('render-process-gone', (_e, details) => {
    if (details.reason !== 'clean-exit') win.webContents.reload();
  });
  void win.loadURL(`${trustedOrigin(scheme)}/`);
  return win;
}

async function start(): Promise<void> {
  const folders = appFolders(app.getPath('userData'));
  ensureFolders(folders);
  const studio = new Studio({
    modelsDir: folders.models,
    outputsDir: folders.outputs,
    version: app.getVersion(),
    shell: 'electron',
    engineHost: utilityProcessHost(utilityProcess.fork as ForkUtility, bundle('engineHost')),
    catalogHost: utilityProcessHost(utilityProcess.fork as ForkUtility, bundle('engineHost')),
    runModule: pathToFileURL(bundle('engineJobs')),
  });

  const rendererDir = resolve(appRoot, shellConfig.rendererDir);
  const tiles = new ImageTiles(join(folders.outputs, '.tiles'), (name) => studio.imagePath(name));
  protocol.handle(scheme, async (request) => {
    const path = new URL(request.url).pathname;
    const found = path.startsWith('/tiles/') ? await tiles.answer(path) : resolveStudioUrl(request.url, { rendererDir, imagePath: (n) => studio.imagePath(n) });
    if ('info' in found) return Response.json(found.info, { headers: { 'Content-Security-Policy': CONTENT_SECURITY_POLICY } });
    if ('status' in found) return new Response(found.message, { status: found.status });
    const response = await net.fetch(pathToFileURL(found.file).href);
    const headers = new Headers(response.headers);
    headers.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    headers.set('X-Content-Type-Options', 'nosniff');
    return new Response(response.body, { status: response.status, headers });
  });

  session.defaultSession.setPermissionRequestHandler((_wc, permission, callback) => callback(allowPermission(permission)));
  ipcMain.handle(CALL_CHANNEL, (e, method: unknown, params: unknown) => handleIpcCall(studio, scheme, e.senderFrame?.url, method, params));
  studio.on((event, data) => window?.webContents.send(EVENT_CHANNEL, event, data));

  Menu.setApplicationMenu(
    Menu.buildFromTemplate(
      menuTemplate({
        platform: process.platform,
        developer: !app.isPackaged,
        openModelsFolder: () => void shell.openPath(folders.models),
        openOutputsFolder: () => void shell.openPath(folders.outputs),
      }),
    ),
  );

  window = createWindow();
  app.on('second-instance', () => window?.focus());
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) window = createWindow();
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  app.on('will-quit', () => void studio.close());
}

app
  .whenReady()
  .then(start)
  .catch((e: Error) => {
    dialog.showErrorBox('Diffusion Studio could not start', e.message);
    app.exit(1);
  });

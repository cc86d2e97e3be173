// The application menu as data (tested without Electron); main.ts turns it into a Menu.
import type { MenuItemConstructorOptions } from 'electron';

export interface MenuActions {
  platform: NodeJS.Platform;
  openModelsFolder(): void;
  openOutputsFolder(): void;
  /** Shows developer tools entries (unpackaged builds only). */
  developer: boolean;
}

export function menuTemplate(a: MenuActions): MenuItemConstructorOptions[] {
  const mac = a.platform === 'darwin';
  const view: MenuItemConstructorOptions[] = [
    { role: 'resetZoom' },
    { role: 'zoomIn' },
    { role: 'zoomOut' },
    { type: 'separator' },
    { role: 'togglefullscreen' },
  ];
  if (a.developer) view.unshift({ role: 'reload' }, { role: 'toggleDevTools' }, { type: 'separator' });
  return [
    ...(mac ? [{ role: 'appMenu' } as MenuItemConstructorOptions] : []),
    {
      label: '&File',
      submenu: [
        { label: 'Open Models Folder', click: () => a.openModelsFolder() },
        { label: 'Open Outputs Folder', click: () => a.openOutputsFolder() },
        { type: 'separator' },
        mac ? { role: 'close' } : { role: 'quit' },
      ],
    },
    { role: 'editMenu' },
    { label: '&View', submenu: view },
    { role: 'windowMenu' },
  ];
}

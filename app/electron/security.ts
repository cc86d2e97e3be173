// The desktop window's security rules, kept apart from Electron so they can be tested under plain Node:
// an isolated, sandboxed renderer without Node, served only from the studio's own scheme, that may not
// navigate away, open windows or ask for permissions. Web links open in the system browser.
import type { BrowserWindowConstructorOptions } from 'electron';
import type { ElectronShellConfig } from '../../electron.config.ts';

/** The one origin whose pages get the studio API. */
export function trustedOrigin(scheme: string): string {
  return `${scheme}://app`;
}

export function windowOptions(shell: ElectronShellConfig, preloadPath: string): BrowserWindowConstructorOptions {
  return {
    ...shell.window,
    title: shell.productName,
    show: false,
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
    },
  };
}

/** True for pages of the studio itself (scheme and host compared exactly, not by prefix). */
export function isTrustedUrl(url: string | undefined, scheme: string): boolean {
  if (!url) return false;
  try {
    const u = new URL(url);
    return u.protocol === `${scheme}:` && u.host === 'app' && u.username === '' && u.password === '';
  } catch {
    return false;
  }
}

/** Links the user clicks that may open in the system browser: plain https pages only. */
export function isExternalLinkAllowed(url: string): boolean {
  try {
    return new URL(url).protocol === 'https:';
  } catch {
    return false;
  }
}

/** The studio needs no camera, microphone, notifications, geolocation… */
export function allowPermission(_permission: string): boolean {
  return false;
}

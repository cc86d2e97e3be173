// Starts the UI over the desktop app's preload bridge when there is one, else over a WebSocket to
// `studio serve` (the token comes from the URL the server printed and is kept for this tab).
import { mount } from 'svelte';
import App from './App.svelte';
import { ApiClient } from './lib/api-client.ts';
import { StudioState } from './lib/studio.svelte.ts';
import { electronTransport, webSocketTransport, type ElectronBridge, type Transport } from './lib/transport.ts';
import './styles.css';

function transport(): Transport {
  const bridge = (window as { studio?: ElectronBridge }).studio;
  if (bridge) return electronTransport(bridge);
  const fromUrl = new URLSearchParams(location.search).get('token');
  if (fromUrl) {
    sessionStorage.setItem('studio-token', fromUrl);
    history.replaceState(null, '', location.pathname);
  }
  return webSocketTransport(location, fromUrl ?? sessionStorage.getItem('studio-token'));
}

const studio = new StudioState(new ApiClient(transport()));
studio.start();
mount(App, { target: document.getElementById('app')!, props: { studio } });

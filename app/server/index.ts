// `studio serve` for the CLI: `startServer({ port, host, token })` returns the URL to open and `close()`.
export { startServer, DEFAULT_PORT, type ServerOptions, type StudioServer } from './server.ts';
export { Studio, type StudioOptions } from './studio.ts';

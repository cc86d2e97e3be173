// Entry point of an engine host process or worker (and, later, of the Electron utility process).
import { startHost } from './host.ts';
import { currentHostPort } from './port.ts';

startHost(currentHostPort());

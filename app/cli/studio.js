#!/usr/bin/env node
// The package's `studio` bin: registers tsx's ESM loader, then runs the TypeScript entry point.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');

#!/usr/bin/env node
// Entry point for the `tickvault` command. The sources are TypeScript; tsx compiles them on load,
// so `npx tickvault` works straight after `npm install` with no build step.
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');

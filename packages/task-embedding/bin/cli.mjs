#!/usr/bin/env node
// Runs the TypeScript CLI directly from source.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');

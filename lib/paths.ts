import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Where connaudit is installed, whether it runs from source (vitest: lib/paths.ts)
// or compiled (dist/lib/paths.js). Schemas, rules, the BPF object and the CLI
// are found from here, never from the working directory.

const libDir = dirname(fileURLToPath(import.meta.url));
const above = dirname(libDir);

export const INSTALL_ROOT = basename(above) === 'dist' ? dirname(above) : above;

export function fromRoot(...parts: string[]): string {
  return join(INSTALL_ROOT, ...parts);
}

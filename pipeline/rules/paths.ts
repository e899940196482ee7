import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// The shipped rules and the benign corpus live in the repository; the CLI
// finds them whether it runs from source or from dist/, and prefers ./rules
// when the user runs it inside their own rules checkout.

export function repoRoot(): string {
  const here = fileURLToPath(import.meta.url);
  return here.includes('/dist/') ? here.slice(0, here.indexOf('/dist/')) : here.slice(0, here.lastIndexOf('/pipeline/'));
}

export function defaultRulesDir(): string {
  return existsSync('rules') ? 'rules' : `${repoRoot()}/rules`;
}

export function defaultBenignDir(): string {
  return `${repoRoot()}/test/fixtures/benign`;
}

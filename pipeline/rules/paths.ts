import { existsSync } from 'node:fs';
import { fromRoot } from '../../lib/paths.js';

// The shipped rules and the benign corpus live in the repository; the CLI
// finds them whether it runs from source or from dist/, and prefers ./rules
// when the user runs it inside their own rules checkout.


export function defaultRulesDir(): string {
  return existsSync('rules') ? 'rules' : fromRoot('rules');
}

export function defaultBenignDir(): string {
  return fromRoot('test/fixtures/benign');
}

/** The shipped rule library: the first layer of every rule load unless the user opts out. */
export function shippedRulesDir(): string {
  return fromRoot('rules');
}

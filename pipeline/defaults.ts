import { fromRoot } from '../lib/paths.js';
import type { PipelineConfig } from './enrich/config.js';

// What `connaudit pipeline` runs without --config: the shipped rule library
// and service catalogue, so the documented command detects and measures out
// of the box instead of only indexing. When the layered rule loader lands
// (shipped library first, then the operator's folders), it takes over here.
export function shippedConfig(): PipelineConfig {
  return { rules: fromRoot('rules'), services: fromRoot('config', 'services.yaml') };
}

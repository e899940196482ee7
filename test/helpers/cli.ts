import { Client } from '@elastic/elasticsearch';
import { esClientOptions } from '../../lib/connect.js';

export { CLI, ROOT, eventually, runCli, type Proc } from '../lab/child.js';

export function esClient(): Client {
  return new Client(esClientOptions());
}

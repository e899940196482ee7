import type { ConnectionDoc } from '../../lib/ecs.js';
import type { ServiceLookup } from './enrich.js';

// The service catalogue format belongs to pipeline/slo (catalogue.ts). It is
// imported only when the config names a catalogue, so the pipeline runs
// without the SLO module, and a missing module is reported as such.

interface CatalogueModule {
  loadCatalogue(path: string): unknown;
  matchService(cat: unknown, doc: ConnectionDoc): { name: string; owner?: string; environment?: string } | undefined;
  matchDestinationService(cat: unknown, doc: ConnectionDoc): { name: string; owner?: string; environment?: string } | undefined;
}

export interface LoadedCatalogue {
  catalogue: unknown;
  lookup: ServiceLookup;
}

export async function loadServiceLookup(path: string): Promise<LoadedCatalogue> {
  const modPath = '../slo/catalogue.js';
  let mod: CatalogueModule;
  try {
    mod = (await import(modPath)) as CatalogueModule;
  } catch (err) {
    throw new Error(`the config names a service catalogue (${path}) but pipeline/slo/catalogue could not be loaded: ${(err as Error).message}`);
  }
  const catalogue = mod.loadCatalogue(path);
  return {
    catalogue,
    lookup: {
      matchService: (doc) => mod.matchService(catalogue, doc),
      matchDestinationService: (doc) => mod.matchDestinationService(catalogue, doc),
    },
  };
}

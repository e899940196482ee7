import { loadCatalogue, matchDestinationService, matchService, type Catalogue } from '../slo/catalogue.js';
import type { ServiceLookup } from './enrich.js';

// The service catalogue format belongs to pipeline/slo (catalogue.ts); the
// enricher only asks it which service a document's two ends belong to.

export interface LoadedCatalogue {
  catalogue: Catalogue;
  lookup: ServiceLookup;
}

export function loadServiceLookup(path: string): LoadedCatalogue {
  const catalogue = loadCatalogue(path);
  return {
    catalogue,
    lookup: {
      matchService: (doc) => matchService(catalogue, doc),
      matchDestinationService: (doc) => matchDestinationService(catalogue, doc),
    },
  };
}

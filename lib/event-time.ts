import type { ConnectionDoc } from './ecs.js';

// A document's @timestamp in ms. The batch, the SLO stage and the rule stages
// each need it for the same document, one right after the other, and parsing
// the ISO text again in each cost more than a field lookup: the last answer is
// kept, keyed by the document and its @timestamp text (a changed text is
// parsed again).

let lastDoc: ConnectionDoc | undefined;
let lastText = '';
let lastMs = Number.NaN;

/** Date.parse(doc['@timestamp']), NaN when it is not a time. */
export function timestampMs(doc: ConnectionDoc): number {
  const text = doc['@timestamp'];
  if (doc === lastDoc && text === lastText) return lastMs;
  lastDoc = doc;
  lastText = text;
  lastMs = Date.parse(text);
  return lastMs;
}

import { describe, expect, it } from 'vitest';
import { recordToDoc } from '../lib/ecs.js';
import { record } from '../test/helpers/records.js';
import { localRekey, RekeyBuffer, type RekeyStage } from './rekey.js';

describe('rekey plumbing', () => {
  it('RekeyBuffer drops repeats of (doc, by, key) and drains', () => {
    const b = new RekeyBuffer();
    const d = recordToDoc(record(1));
    b.request(d, 'source.ip', '10.1.0.5');
    b.request(d, 'source.ip', '10.1.0.5');
    b.request(d, 'destination.ip', '10.2.0.9');
    expect(b.size).toBe(2);
    expect(b.drain().map((r) => `${r.by}=${r.key}`)).toEqual(['source.ip=10.1.0.5', 'destination.ip=10.2.0.9']);
    expect(b.size).toBe(0);
    b.request(d, 'source.ip', '10.1.0.5');
    expect(b.size).toBe(1);
  });

  it('localRekey hands requests straight to the cross-host stages and collects their alerts', () => {
    const seen: string[] = [];
    const stage: RekeyStage = {
      name: 'x',
      processRekeyed(doc, by, key) {
        seen.push(`${doc.event.id}:${by}=${key}`);
        return [];
      },
    };
    const rk = localRekey([stage]);
    const d = recordToDoc(record(1));
    rk.request(d, 'destination.ip', d.destination.ip);
    expect(seen).toEqual([`${d.event.id}:destination.ip=10.2.0.9`]);
    expect(rk.take()).toEqual([]);
  });
});

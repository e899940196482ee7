import { createHash } from 'node:crypto';
import { ipToBytes } from './ip.js';

// Community ID v1 (https://github.com/corelight/community-id-spec), for
// port-based transports (TCP 6, UDP 17, SCTP 132) and port-less protocols.
// It lets an analyst pivot from a connaudit record to Zeek, Suricata or
// packet captures of the same flow.

export interface FlowTuple {
  proto: number;
  saddr: string;
  daddr: string;
  sport?: number | null;
  dport?: number | null;
}

const PORT_PROTOS = new Set([6, 17, 132]);

export function communityId(flow: FlowTuple, seed = 0): string {
  let src = ipToBytes(flow.saddr);
  let dst = ipToBytes(flow.daddr);
  if (src.length !== dst.length) throw new Error(`community_id: mixed address families ${flow.saddr} / ${flow.daddr}`);
  const hasPorts = PORT_PROTOS.has(flow.proto) && flow.sport != null && flow.dport != null;
  let sport = hasPorts ? flow.sport! : 0;
  let dport = hasPorts ? flow.dport! : 0;
  // Order the endpoints so both directions of a flow hash the same.
  const cmp = Buffer.compare(src, dst);
  if (cmp > 0 || (cmp === 0 && sport > dport)) {
    [src, dst] = [dst, src];
    [sport, dport] = [dport, sport];
  }
  const seedBuf = Buffer.alloc(2);
  seedBuf.writeUInt16BE(seed);
  const parts = [seedBuf, src, dst, Buffer.from([flow.proto, 0])];
  if (hasPorts) {
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(sport, 0);
    ports.writeUInt16BE(dport, 2);
    parts.push(ports);
  }
  return `1:${createHash('sha1').update(Buffer.concat(parts)).digest('base64')}`;
}

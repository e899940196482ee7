import { describe, expect, it } from 'vitest';
import { decodeEvent, EVENT_LAYOUT as L, EVENT_SIZE, EventDecodeError, F_ACTIVE, TCP, visited } from './event-decoder.js';

// A buffer laid out by hand from bpf/connaudit.h, independent of the decoder.
function handBuilt(family: number): Buffer {
  const b = Buffer.alloc(EVENT_SIZE);
  b.writeBigUInt64LE(0xffff888812345678n, 0); // sock_id
  b.writeBigUInt64LE(1_000_000_000n, 8); // start_ns
  b.writeBigUInt64LE(1_000_000_000n, 16); // syn_ns
  b.writeBigUInt64LE(1_000_250_000n, 24); // established_ns
  b.writeBigUInt64LE(3_000_000_000n, 32); // end_ns
  b.writeBigUInt64LE(4242n, 40); // cgroup_id
  b.writeBigUInt64LE(1001n, 48); // bytes_acked
  b.writeBigUInt64LE(2001n, 56); // bytes_received
  b.writeUInt32LE(4026531840, 64); // netns
  b.writeUInt32LE(77, 68); // pid
  b.writeUInt32LE(78, 72); // tid
  b.writeUInt32LE(1, 76); // ppid
  b.writeUInt32LE(1000, 80); // uid
  b.writeUInt32LE(250, 84); // srtt_us
  b.writeUInt32LE(3, 88); // total_retrans
  b.writeUInt32LE(2, 92); // retransmits
  b.writeUInt32LE(1, 96); // syn_retransmits
  b.writeUInt32LE(0, 100); // rst_sent
  b.writeUInt32LE(1, 104); // rst_received
  b.writeUInt32LE((1 << TCP.SYN_SENT) | (1 << TCP.ESTABLISHED) | (1 << TCP.CLOSE), 108); // states
  b.writeUInt32LE(F_ACTIVE, 112); // flags
  b.writeUInt32LE(0, 116); // handshake_us
  b.writeUInt16LE(40000, 120); // sport
  b.writeUInt16LE(443, 122); // dport
  b.writeUInt16LE(family, 124);
  b.writeUInt16LE(104, 126); // sk_err ECONNRESET
  b.writeUInt8(1, 128); // kind final
  b.writeUInt8(TCP.ESTABLISHED, 129); // last_state
  if (family === 2) { Buffer.from([10, 200, 0, 1]).copy(b, 136); Buffer.from([10, 200, 0, 2]).copy(b, 152); }
  else { Buffer.from('fd000200000000000000000000000001', 'hex').copy(b, 136); Buffer.from('fd000200000000000000000000000002', 'hex').copy(b, 152); }
  b.write('curl\0garbage', 168, 'latin1');
  return b;
}

describe('decodeEvent', () => {
  it('reads every field of an IPv4 event at the header offsets', () => {
    const ev = decodeEvent(handBuilt(2));
    expect(ev).toMatchObject({
      sockId: 0xffff888812345678n, startNs: 1_000_000_000n, establishedNs: 1_000_250_000n, endNs: 3_000_000_000n,
      cgroupId: 4242n, bytesAcked: 1001n, bytesReceived: 2001n, netns: 4026531840, pid: 77, tid: 78, ppid: 1, uid: 1000,
      srttUs: 250, totalRetrans: 3, retransmits: 2, synRetransmits: 1, rstSent: 0, rstReceived: 1, flags: F_ACTIVE,
      sport: 40000, dport: 443, family: 2, skErr: 104, kind: 1, lastState: TCP.ESTABLISHED, comm: 'curl',
    });
    expect([...ev.localAddr]).toEqual([10, 200, 0, 1]);
    expect([...ev.remoteAddr]).toEqual([10, 200, 0, 2]);
    expect(visited(ev, TCP.ESTABLISHED)).toBe(true);
    expect(visited(ev, TCP.FIN_WAIT1)).toBe(false);
  });

  it('keeps 16-byte addresses for IPv6 and reads from a sub-view (ring-buffer batches)', () => {
    const batch = Buffer.concat([Buffer.alloc(EVENT_SIZE), handBuilt(10)]);
    const ev = decodeEvent(new Uint8Array(batch.buffer, batch.byteOffset + EVENT_SIZE, EVENT_SIZE));
    expect(ev.remoteAddr.toString('hex')).toBe('fd000200000000000000000000000002');
    expect(ev.localAddr.length).toBe(16);
  });

  it('rejects a short buffer and an unknown family, naming the offset', () => {
    expect(() => decodeEvent(new Uint8Array(100))).toThrow(EventDecodeError);
    expect(() => decodeEvent(handBuilt(7))).toThrow(`ca_event.family (offset ${L.family.offset}) is 7`);
  });
});

import { describe, expect, it } from 'vitest';
import { decodeEvent, EVENT_LAYOUT as L, EVENT_SIZE, EventDecodeError, F_ACTIVE, TCP, udpKeyAt, udpKeyOf, visited } from './event-decoder.js';

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
  b.writeUInt32LE(2, 88); // retransmits
  b.writeUInt32LE(1, 92); // syn_retransmits
  b.writeUInt32LE(0, 96); // rst_sent
  b.writeUInt32LE(1, 100); // rst_received
  b.writeUInt32LE((1 << TCP.SYN_SENT) | (1 << TCP.ESTABLISHED) | (1 << TCP.CLOSE), 104); // states
  b.writeUInt32LE(F_ACTIVE, 108); // flags
  b.writeUInt32LE(0, 112); // handshake_us
  b.writeUInt16LE(40000, 116); // sport
  b.writeUInt16LE(443, 118); // dport
  b.writeUInt16LE(family, 120);
  b.writeUInt16LE(104, 122); // sk_err ECONNRESET
  if (family === 2) { Buffer.from([10, 200, 0, 1]).copy(b, 128); Buffer.from([10, 200, 0, 2]).copy(b, 144); }
  else { Buffer.from('fd000200000000000000000000000001', 'hex').copy(b, 128); Buffer.from('fd000200000000000000000000000002', 'hex').copy(b, 144); }
  b.write('curl\0garbage', 160, 'latin1');
  b.writeBigUInt64LE(5n, 176); // pkts_sent
  b.writeBigUInt64LE(6n, 184); // pkts_received
  b.writeBigUInt64LE(2_500_000_000n, 192); // last_ns
  return b;
}

describe('decodeEvent', () => {
  it('reads every field of an IPv4 event at the header offsets, under the C names', () => {
    const ev = decodeEvent(handBuilt(2));
    expect(ev).toMatchObject({
      sock_id: 0xffff888812345678n, start_ns: 1_000_000_000n, established_ns: 1_000_250_000n, end_ns: 3_000_000_000n,
      cgroup_id: 4242n, bytes_acked: 1001n, bytes_received: 2001n, netns: 4026531840, pid: 77, tid: 78, ppid: 1, uid: 1000,
      srtt_us: 250, retransmits: 2, syn_retransmits: 1, rst_sent: 0, rst_received: 1, flags: F_ACTIVE,
      sport: 40000, dport: 443, family: 2, sk_err: 104, comm: 'curl', pkts_sent: 5n, pkts_received: 6n, last_ns: 2_500_000_000n,
    });
    expect([...ev.saddr]).toEqual([10, 200, 0, 1]);
    expect([...ev.daddr]).toEqual([10, 200, 0, 2]);
    expect(visited(ev, TCP.ESTABLISHED)).toBe(true);
    expect(visited(ev, TCP.FIN_WAIT1)).toBe(false);
  });

  it('keeps 16-byte addresses for IPv6 and reads at an offset inside a batch', () => {
    const batch = Buffer.concat([Buffer.alloc(EVENT_SIZE), handBuilt(10)]);
    const ev = decodeEvent(batch, EVENT_SIZE);
    expect(ev.daddr.toString('hex')).toBe('fd000200000000000000000000000002');
    expect(ev.saddr.length).toBe(16);
    const fromView = decodeEvent(new Uint8Array(batch.buffer, batch.byteOffset + EVENT_SIZE, EVENT_SIZE));
    expect(fromView).toEqual(ev);
  });

  it('copies addresses, so a reused batch buffer does not change decoded events', () => {
    const b = handBuilt(2);
    const ev = decodeEvent(b);
    b.fill(0xee, 128, 160);
    expect([...ev.saddr]).toEqual([10, 200, 0, 1]);
  });

  it('rejects a short buffer and an unknown family, naming the offset', () => {
    expect(() => decodeEvent(new Uint8Array(100))).toThrow(EventDecodeError);
    expect(() => decodeEvent(handBuilt(2), 100)).toThrow(EventDecodeError);
    expect(() => decodeEvent(handBuilt(7))).toThrow(`ca_event.family (offset ${L.family.offset}) is 7`);
  });

  it('rebuilds the udp_flows key (cookie, peer address, peer port, family) from the raw bytes and from a decoded event alike', () => {
    for (const family of [2, 10]) {
      const raw = handBuilt(family);
      const key = udpKeyAt(raw, 0);
      expect(key.equals(udpKeyOf(decodeEvent(raw))), `family ${family}`).toBe(true);
      // By hand from struct ca_udp_key: u64 cookie, u8 addr[16], u16 port, u16 family, u32 pad.
      expect(key.readBigUInt64LE(0)).toBe(0xffff888812345678n);
      expect(key.subarray(8, 24).toString('hex')).toBe(family === 2 ? '0ac80002000000000000000000000000' : 'fd000200000000000000000000000002');
      expect(key.readUInt16LE(24)).toBe(443);
      expect(key.readUInt16LE(26)).toBe(family);
      expect(key.readUInt32LE(28)).toBe(0);
    }
  });
});

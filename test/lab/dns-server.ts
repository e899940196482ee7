import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';

// A small authoritative DNS server for lab namespaces, on UDP and TCP port
// 53 (or PORT). It knows the names given on the command line; any other name
// is NXDOMAIN, and names under "silent." get no answer at all (an unanswered
// query). Names under "big." answer with TC set over UDP, so a real resolver
// retries over TCP.
//   node dns-server.js PORT TTL NAME=ADDR[,ADDR...] ...
// Prints READY once both sockets listen.

const [portArg, ttlArg, ...zone] = process.argv.slice(2);
const port = Number(portArg ?? 53);
const ttl = Number(ttlArg ?? 60);
const records = new Map<string, string[]>();
for (const z of zone) {
  const [name, addrs] = z.split('=');
  if (!name || !addrs) throw new Error(`zone entry ${z}: write NAME=ADDR[,ADDR]`);
  records.set(name.toLowerCase(), addrs.split(','));
}

function answer(query: Buffer, overTcp: boolean): Buffer | null {
  const q = dnsPacket.decode(query);
  const question = q.questions?.[0];
  if (!question) return null;
  const name = question.name.toLowerCase();
  if (name.startsWith('silent.')) return null;
  const lookup = name.startsWith('big.') ? name.slice(4) : name;
  const addrs = records.get(lookup);
  const base = { type: 'response' as const, id: q.id, questions: q.questions };
  if (!addrs) return dnsPacket.encode({ ...base, flags: dnsPacket.AUTHORITATIVE_ANSWER | 3 /* NXDOMAIN */ });
  if (name.startsWith('big.') && !overTcp) return dnsPacket.encode({ ...base, flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.TRUNCATED_RESPONSE });
  const want = question.type === 'AAAA' ? (a: string) => a.includes(':') : (a: string) => !a.includes(':');
  const answers = addrs.filter(want).map((data) => ({ type: question.type as 'A' | 'AAAA', name: question.name, ttl, data }));
  return dnsPacket.encode({ ...base, flags: dnsPacket.AUTHORITATIVE_ANSWER, answers });
}

const udp = dgram.createSocket({ type: 'udp6', ipv6Only: false });
udp.on('message', (msg, rinfo) => {
  try {
    const out = answer(msg, false);
    if (out) udp.send(out, rinfo.port, rinfo.address);
  } catch (e) {
    process.stderr.write(`bad query from ${rinfo.address}: ${(e as Error).message}\n`);
  }
});

const tcp = net.createServer((sock) => {
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const len = buf.readUInt16BE(0);
      const out = answer(buf.subarray(2, 2 + len), true);
      buf = buf.subarray(2 + len);
      if (out) sock.write(Buffer.concat([Buffer.from([out.length >> 8, out.length & 0xff]), out]));
    }
  });
  sock.on('error', () => { /* the client went away */ });
});

let listening = 0;
const ready = (): void => { if (++listening === 2) process.stdout.write('READY\n'); };
udp.bind(port, '::', ready);
tcp.listen({ port, host: '::' }, ready);
process.on('SIGTERM', () => { udp.close(); tcp.close(); });

import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';

// A bounded DNS query load for the sensor bench: COUNT A queries for NAME to
// SERVER:53 from one connected UDP socket (as a stub resolver does), at most
// WINDOW in flight, for at most SECONDS. Prints "queries N answers M seconds S".
//   node dns-load.js SERVER NAME COUNT [WINDOW] [SECONDS]

const [server = '', name = '', countArg = '', windowArg, secondsArg] = process.argv.slice(2);
if (!server || !name || !countArg) {
  process.stderr.write('usage: dns-load SERVER NAME COUNT [WINDOW] [SECONDS]\n');
  process.exit(2);
}
const count = Number(countArg);
const window = Number(windowArg ?? 32);
const deadline = Date.now() + 1000 * Number(secondsArg ?? 30);
const sock = dgram.createSocket(server.includes(':') ? 'udp6' : 'udp4');
let sent = 0;
let answered = 0;
const t0 = process.hrtime.bigint();

function finish(): void {
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(`queries ${sent} answers ${answered} seconds ${s.toFixed(3)}\n`);
  sock.close();
}

function sendOne(): void {
  if (sent >= count || Date.now() > deadline) return;
  const id = sent & 0xffff;
  sent++;
  sock.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }));
}

sock.on('message', () => {
  answered++;
  if (answered >= count || (sent >= count && answered >= sent) || Date.now() > deadline) { finish(); return; }
  sendOne();
});
sock.connect(53, server, () => {
  for (let i = 0; i < window; i++) sendOne();
  // A lost answer must not stall the run: stop at the deadline whatever arrived.
  setTimeout(() => { if (answered < sent) finish(); }, Math.max(0, deadline - Date.now())).unref();
});

import dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import net from 'node:net';

// A lab client that behaves like an application: it resolves a name through
// a real stub resolver (c-ares, as Node ships it) at SERVER, connects over
// TCP to the address it got and sends a UDP datagram there, then asks for a
// name that does not exist and one that is never answered.
//   node dns-client.js COMM SERVER NAME TCP_PORT UDP_PORT
// Its process name (comm) is COMM, so the records can be found by it. Prints
// one JSON line per step.

const [comm, server, name, tcpPort, udpPort] = process.argv.slice(2) as [string, string, string, string, string];
process.title = comm;
const say = (o: object): void => { process.stdout.write(`${JSON.stringify(o)}\n`); };

const resolver = new Resolver({ timeout: 700, tries: 1 });
resolver.setServers([server]);

async function step(label: string, fn: () => Promise<unknown>): Promise<unknown> {
  try {
    const result = await fn();
    say({ step: label, result });
    return result;
  } catch (e) {
    say({ step: label, error: (e as NodeJS.ErrnoException).code ?? (e as Error).message });
    return null;
  }
}

const v4 = (await step('resolve4', () => resolver.resolve4(name))) as string[] | null;
await step('resolve6', () => resolver.resolve6(name));
const addr = v4?.[0];
if (addr) {
  await step('tcp', () => new Promise((resolve, reject) => {
    const s = net.connect({ host: addr, port: Number(tcpPort) }, () => {
      s.end('hello');
    });
    let got = 0;
    s.on('data', (d) => { got += d.length; });
    s.on('close', () => resolve({ local: s.localPort, received: got }));
    s.on('error', reject);
  }));
  await step('udp', () => new Promise((resolve, reject) => {
    const u = dgram.createSocket('udp4');
    u.send('ping', Number(udpPort), addr, (err) => {
      const port = err ? 0 : u.address().port;
      u.close();
      if (err) reject(err); else resolve({ local: port });
    });
  }));
}
await step('nxdomain', () => resolver.resolve4(`missing.${name}`));
await step('silent', () => resolver.resolve4(`silent.${name}`));
await step('tcp-dns', () => resolver.resolve4(`big.${name}`));
say({ step: 'done' });

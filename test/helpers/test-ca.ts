import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// A certificate authority made at test time with openssl: a CA, a server
// certificate whose only name is `serverName` (so a client that connects by
// IP must say which name to check), and a client certificate for mutual TLS.
// Keys are unencrypted PKCS#8, which Kafka (3.2+) and Node both read.

export interface TestCa {
  ca: string;
  serverCert: string;
  serverKey: string;
  /** Key followed by certificate: Kafka's PEM keystore file. */
  serverKeystore: string;
  clientCert: string;
  clientKey: string;
}

const ssl = (args: string[], cwd: string): void => { execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] }); };

/** With ip, the server certificate also names that address (a client connecting by IP then needs no server name). */
export function makeTestCa(dir: string, serverName: string, ip?: string): TestCa {
  ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=connaudit test CA'], dir);
  const leaf = (name: string, cn: string, ext: string): void => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
    ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`], dir);
  };
  leaf('server', serverName, `subjectAltName=DNS:${serverName}${ip ? `,IP:${ip}` : ''}\nextendedKeyUsage=serverAuth\n`);
  leaf('client', 'connaudit-agent', 'extendedKeyUsage=clientAuth\n');
  const keystore = join(dir, 'server-keystore.pem');
  writeFileSync(keystore, readFileSync(join(dir, 'server.key'), 'utf8') + readFileSync(join(dir, 'server.pem'), 'utf8'));
  return {
    ca: join(dir, 'ca.pem'), serverCert: join(dir, 'server.pem'), serverKey: join(dir, 'server.key'), serverKeystore: keystore,
    clientCert: join(dir, 'client.pem'), clientKey: join(dir, 'client.key'),
  };
}

import type { Command } from '../command.js';

const command: Command = {
  name: 'version',
  summary: 'Print the connaudit version and the wire schema fingerprint',
  help: `Usage: connaudit version

Prints the connaudit version and the Rabin fingerprint of the connection
record's Avro schema (the one every message this build writes carries).`,
  async run() {
    const { connectionCodec } = await import('../../lib/avro.js');
    process.stdout.write(`connaudit 0.1.0\nschema io.connaudit.v1.Connection fingerprint ${connectionCodec().fingerprintHex}\n`);
    return 0;
  },
};
export default command;

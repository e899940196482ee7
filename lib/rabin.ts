// CRC-64-AVRO ("Rabin") fingerprint, as defined in the Avro specification's
// "Schema Fingerprints" section. Single-object encoding puts this 64-bit
// fingerprint of the writer schema's Parsing Canonical Form in every message.

const EMPTY = 0xc15d213aa4d7a795n;
const MASK = 0xffffffffffffffffn;

const TABLE: bigint[] = (() => {
  const table: bigint[] = [];
  for (let i = 0; i < 256; i++) {
    let fp = BigInt(i);
    for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n) & MASK);
    table.push(fp);
  }
  return table;
})();

/** Fingerprint of the UTF-8 bytes of `text`, as an unsigned 64-bit bigint. */
export function rabin64(text: string): bigint {
  let fp = EMPTY;
  for (const b of Buffer.from(text, 'utf8')) fp = (fp >> 8n) ^ TABLE[Number((fp ^ BigInt(b)) & 0xffn)]!;
  return fp;
}

/** The fingerprint as the 8 little-endian bytes single-object encoding uses. */
export function rabin64Bytes(text: string): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(rabin64(text));
  return out;
}

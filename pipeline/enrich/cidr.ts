import { BlockList, isIPv4, isIPv6 } from 'node:net';

// node:net BlockList does the prefix matching for both families; this wrapper
// parses "addr/len" once and rejects a malformed CIDR with a message that names it.

export class CidrSet {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) {
      const [addr, lenText] = c.split('/') as [string, string | undefined];
      const family = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : null;
      const len = Number(lenText);
      if (!family || lenText === undefined || !Number.isInteger(len) || len < 0 || len > (family === 'ipv4' ? 32 : 128)) {
        throw new Error(`not a CIDR: ${JSON.stringify(c)} (want e.g. 10.0.0.0/8 or fd00::/8)`);
      }
      this.list.addSubnet(addr, len, family);
    }
    this.size = cidrs.length;
  }

  has(ip: string): boolean {
    if (isIPv4(ip)) return this.list.check(ip, 'ipv4');
    if (isIPv6(ip)) return this.list.check(ip, 'ipv6');
    return false;
  }
}

/** Host-name glob: `*` any run, `?` one character, everything else literal. */
export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

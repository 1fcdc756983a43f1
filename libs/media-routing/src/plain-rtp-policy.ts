import net from 'node:net';
import { DomainError } from '@app/contracts';

/**
 * Where a plain-RTP recv transport may send a call's media: to the client's
 * own address as the gateway sees it, or into the operator's allowed
 * blocks. Anything else would let a client make the SFU copy a stream to a
 * third party, so it is refused.
 */
export class PlainRtpPolicy {
  private readonly allowed = new net.BlockList();

  constructor(
    readonly enabled: boolean,
    allowedCidrs: string[],
  ) {
    for (const cidr of allowedCidrs) {
      const [address, bits] = cidr.split('/');
      const family = net.isIPv6(address) ? 'ipv6' : 'ipv4';
      const prefix = bits === undefined ? (family === 'ipv6' ? 128 : 32) : Number(bits);
      this.allowed.addSubnet(address, prefix, family);
    }
  }

  requireEnabled(): void {
    if (!this.enabled) throw new DomainError('FORBIDDEN', 'plain RTP transports are switched off on this server');
  }

  /** Whether plain RTP may go to, or be taken from, `ip`: the client's own address or an allowed block. */
  allows(ip: string, clientAddress: string | undefined): boolean {
    const target = normaliseIp(ip);
    if (clientAddress !== undefined && target === normaliseIp(clientAddress)) return true;
    if (!net.isIP(target)) return false;
    return this.allowed.check(target, net.isIPv6(target) ? 'ipv6' : 'ipv4');
  }

  /** `clientAddress`: the socket's remote address; undefined when unknown (then only the allowed blocks count). */
  requireAllowedTarget(targetIp: string, clientAddress: string | undefined): void {
    if (this.allows(targetIp, clientAddress)) return;
    throw new DomainError('FORBIDDEN', 'a plain transport may only send to your own address', {
      fields: [{ field: 'ip', message: 'must be the address you connect from' }],
    });
  }
}

/** `::ffff:127.0.0.1` (IPv4 seen through an IPv6 socket) is 127.0.0.1. */
export function normaliseIp(ip: string): string {
  const lower = ip.toLowerCase();
  return lower.startsWith('::ffff:') && net.isIPv4(lower.slice(7)) ? lower.slice(7) : lower;
}

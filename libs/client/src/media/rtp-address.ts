import dgram from 'node:dgram';
import net from 'node:net';

/** Where a client's RTP sockets bind, and the address it tells the SFU to send to. */
export interface RtpAddress {
  bindIp: string;
  announcedIp: string;
}

const resolved = new Map<string, Promise<RtpAddress>>();

/**
 * With `rtpIp`, sockets bind to that address and announce it. Without,
 * they bind to every interface and announce the local address this host
 * uses to reach the gateway (the one the gateway sees the connection come
 * from, so the SFU's plain-RTP policy accepts it), found by asking the OS
 * to route a UDP socket there: no packet is sent.
 */
export function rtpAddressFor(gatewayUrl: string, rtpIp?: string): Promise<RtpAddress> {
  if (rtpIp !== undefined) {
    if (!net.isIP(rtpIp)) return Promise.reject(new RangeError(`not an IP address: ${rtpIp}`));
    return Promise.resolve({ bindIp: rtpIp, announcedIp: rtpIp });
  }
  const { hostname, port, protocol } = new URL(gatewayUrl);
  const host = hostname.replace(/^\[|\]$/g, '');
  const key = `${host}:${port}`;
  let found = resolved.get(key);
  if (!found) {
    found = localAddressToward(host, Number(port) || (protocol === 'https:' ? 443 : 80));
    resolved.set(key, found);
    found.catch(() => resolved.delete(key));
  }
  return found;
}

async function localAddressToward(host: string, port: number): Promise<RtpAddress> {
  const family = net.isIP(host) === 6 ? 'udp6' : 'udp4';
  const socket = dgram.createSocket(family);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(port, host, () => resolve());
    });
    const local = socket.address().address;
    return { bindIp: family === 'udp6' ? '::' : '0.0.0.0', announcedIp: local };
  } finally {
    socket.close();
  }
}

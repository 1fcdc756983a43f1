import dgram from 'node:dgram';
import net from 'node:net';
import { isRtcp, parseRtp, RtpPacket } from './rtp-packet';

/** Large enough that a burst of packets is not dropped while the event loop is busy. */
export const DEFAULT_RECV_BUFFER_BYTES = 4 * 1024 * 1024;

/** One UDP socket carrying RTP (and, muxed, RTCP) to or from the SFU. */
export class RtpUdpSocket {
  private closed = false;

  private constructor(private readonly socket: dgram.Socket) {}

  /** `host`: the address to bind, every IPv4 interface by default. */
  static open(host = '0.0.0.0', recvBufferSize = DEFAULT_RECV_BUFFER_BYTES): Promise<RtpUdpSocket> {
    const socket = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4', recvBufferSize });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => {
        socket.off('error', reject);
        // A stray ICMP "port unreachable" must not crash the client.
        socket.on('error', () => undefined);
        resolve(new RtpUdpSocket(socket));
      });
    });
  }

  /** The bound address (0.0.0.0 when bound to every interface) and port. */
  get address(): { ip: string; port: number } {
    const { address, port } = this.socket.address();
    return { ip: address, port };
  }

  send(datagram: Buffer | Buffer[], ip: string, port: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => this.socket.send(datagram, port, ip, (err) => (err ? reject(err) : resolve())));
  }

  /** Sends without waiting; a failure is dropped, as a lost datagram would be. */
  sendAndForget(datagram: Buffer | Buffer[], ip: string, port: number): void {
    if (!this.closed) this.socket.send(datagram, port, ip);
  }

  /** RTP packets only: RTCP and malformed datagrams are skipped. */
  onRtp(listener: (packet: RtpPacket) => void): void {
    this.socket.on('message', (datagram) => {
      const packet = parseRtp(datagram);
      if (packet) listener(packet);
    });
  }

  /** RTCP datagrams (muxed on this socket), whole: a compound packet is one call. */
  onRtcp(listener: (datagram: Buffer) => void): void {
    this.socket.on('message', (datagram) => {
      if (isRtcp(datagram)) listener(datagram);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }
}

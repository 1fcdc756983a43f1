import dgram from 'node:dgram';
import { parseRtp, RtpPacket } from './rtp-packet';

/** Large enough that a burst of packets is not dropped while the event loop is busy. */
export const DEFAULT_RECV_BUFFER_BYTES = 4 * 1024 * 1024;

/** One UDP socket carrying RTP (and, muxed, RTCP) to or from the SFU. */
export class RtpUdpSocket {
  private closed = false;

  private constructor(private readonly socket: dgram.Socket) {}

  static open(host = '127.0.0.1', recvBufferSize = DEFAULT_RECV_BUFFER_BYTES): Promise<RtpUdpSocket> {
    const socket = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', recvBufferSize });
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

  get address(): { ip: string; port: number } {
    const { address, port } = this.socket.address();
    return { ip: address, port };
  }

  send(datagram: Buffer, ip: string, port: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => this.socket.send(datagram, port, ip, (err) => (err ? reject(err) : resolve())));
  }

  /** RTP packets only: RTCP and malformed datagrams are skipped. */
  onRtp(listener: (packet: RtpPacket) => void): void {
    this.socket.on('message', (datagram) => {
      const packet = parseRtp(datagram);
      if (packet) listener(packet);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }
}

import { consumerOptions, routerCapabilities, transportOptions } from './webrtc-json';

const opus = {
  kind: 'audio',
  mimeType: 'audio/opus',
  preferredPayloadType: 100,
  clockRate: 48000,
  channels: 2,
  rtcpFeedback: [{ type: 'nack' }],
};

describe("the browser helper's checks of mediasoup's JSON", () => {
  it('keeps the codecs and the header extensions mediasoup-client knows, and leaves out the others', () => {
    const caps = routerCapabilities({
      codecs: [opus],
      headerExtensions: [
        { kind: 'audio', uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', preferredId: 1, direction: 'sendrecv' },
        { kind: 'video', uri: 'urn:example:not-known-here', preferredId: 9 },
      ],
    });
    expect(caps.codecs).toEqual([opus]);
    expect(caps.headerExtensions?.map((h) => h.uri)).toEqual(['urn:ietf:params:rtp-hdrext:sdes:mid']);
  });

  it('gives a candidate its address from ip (mediasoup 3.12 sends ip only) and maps the transport id', () => {
    const options = transportOptions({
      transportId: 't1',
      iceParameters: { usernameFragment: 'u', password: 'p', iceLite: true },
      iceCandidates: [{ foundation: 'udpcandidate', priority: 1, ip: '127.0.0.1', protocol: 'udp', port: 40000, type: 'host' }],
      dtlsParameters: { role: 'auto', fingerprints: [{ algorithm: 'sha-256', value: 'AB:CD' }] },
    });
    expect(options.id).toBe('t1');
    expect(options.iceCandidates[0]).toMatchObject({ ip: '127.0.0.1', address: '127.0.0.1', port: 40000 });
    expect(options.dtlsParameters.fingerprints[0].algorithm).toBe('sha-256');
  });

  it('refuses what mediasoup-client could not use, saying what', () => {
    expect(() => routerCapabilities({ codecs: [{ ...opus, clockRate: 'fast' }] })).toThrow(/RTP capabilities/);
    expect(() => transportOptions({ transportId: 't', ip: '127.0.0.1', port: 1 })).toThrow(/WebRTC transport parameters/);
    expect(() => consumerOptions({ consumerId: 'c', producerId: 'p', kind: 'video', rtpParameters: { codecs: 'none' } })).toThrow(
      /RTP parameters/,
    );
  });

  it('turns a consumer of the answer into consume options', () => {
    const options = consumerOptions({
      consumerId: 'c1',
      producerId: 'p1',
      kind: 'video',
      rtpParameters: {
        mid: '0',
        codecs: [{ mimeType: 'video/VP8', payloadType: 101, clockRate: 90000, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }] }],
        encodings: [{ ssrc: 1234, rtx: { ssrc: 5678 } }],
        rtcp: { cname: 'x', reducedSize: true, mux: true },
      },
    });
    expect(options).toMatchObject({ id: 'c1', producerId: 'p1', kind: 'video' });
    expect(options.rtpParameters.encodings).toEqual([{ ssrc: 1234, rtx: { ssrc: 5678 } }]);
  });
});

import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  befriend,
  dominantFrequency,
  OPUS_PAYLOAD_TYPE,
  PLAIN_RTP_CAPABILITIES,
  plainRtpParameters,
  PlainReceiveStream,
  PlainSendStream,
  randomSsrc,
} from '@app/client';
import { connectedUser, startTestGateway, TestGateway, near, sleep } from '@app/testing';

/*
 * A client nobody here wrote: ffmpeg sends an Opus tone through a plain
 * transport made with rtcpMux: false (it sends RTCP from a second socket,
 * and its first RTCP report before any RTP), and receives the other side's
 * tone from a plain recv transport. Both tones are checked by frequency.
 */

const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';
const haveFfmpeg = spawnSync(FFMPEG, ['-version']).status === 0;
const SAMPLE_RATE = 48_000;

/** Binds a UDP socket on 127.0.0.1 (port 0: any), or gives null when the port is taken. */
async function bindUdp(port: number): Promise<dgram.Socket | null> {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve) => {
    socket.once('error', () => {
      socket.close();
      resolve(null);
    });
    socket.bind(port, '127.0.0.1', () => resolve(socket));
  });
}

/**
 * A UDP port on 127.0.0.1 that is free and whose next port is free too
 * (both bound, read, released): an SDP input listens for RTCP on the port
 * after its RTP port, and ffmpeg fails when that one is taken.
 */
async function freeUdpPortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const rtp = await bindUdp(0);
    if (!rtp) continue;
    const port = rtp.address().port;
    const rtcp = port < 65535 ? await bindUdp(port + 1) : null;
    await new Promise<void>((resolve) => rtp.close(() => resolve()));
    if (!rtcp) continue;
    await new Promise<void>((resolve) => rtcp.close(() => resolve()));
    return port;
  }
  throw new Error('no pair of free UDP ports on 127.0.0.1 in 50 tries');
}

/**
 * ffmpeg's RTP output puts RTCP on its RTP port + 1; when another socket
 * holds that port it logs the failed bind and tries another pair. Those
 * lines say nothing about the call, so they are left out before stderr is
 * checked; anything else ffmpeg prints still fails the test.
 */
function withoutRetriedBinds(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => !/^\[udp @ 0x[0-9a-f]+\] bind failed: Address already in use$/.test(line))
    .join('\n');
}

/** Runs ffmpeg, killed after 20 s whatever happens, so a test never hangs on it. */
function run(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-nostdin', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stderr });
    }),
  );
  return { child, done };
}

/** Dominant frequency of each 20 ms frame of mono 16-bit PCM. */
function frameFrequencies(pcm: Buffer): (number | null)[] {
  const samples = new Int16Array(pcm.buffer, pcm.byteOffset, Math.floor(pcm.length / 2));
  const frame = SAMPLE_RATE / 50;
  const result: (number | null)[] = [];
  for (let i = 0; i + frame <= samples.length; i += frame) result.push(dominantFrequency(samples.subarray(i, i + frame)));
  return result;
}

(haveFfmpeg ? describe : describe.skip)('ffmpeg as a plain-RTP client (rtcpMux: false)', () => {
  let gw: TestGateway;
  let dir: string;

  beforeAll(async () => {
    gw = await startTestGateway();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ffmpeg-interop-'));
  });
  afterAll(async () => {
    await gw?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('sends a 440 Hz Opus tone through the SFU and receives the other side’s 660 Hz tone', async () => {
    const alice = await connectedUser(gw, 'ffmpeg'); // signalling for the ffmpeg side
    const bob = await connectedUser(gw, 'bob');
    await befriend(alice, bob);
    const ringing = await alice.request('call:invite', { to: bob.id });
    const { call } = await bob.request('call:accept', { callId: ringing.call.id });
    const callId = call.id;

    // ffmpeg → SFU: RTP on `port`, RTCP on its own `rtcpPort`.
    const send = await alice.request('media:create-transport', { callId, direction: 'send', type: 'plain', rtcpMux: false });
    expect(send).toMatchObject({ ip: '127.0.0.1', port: expect.any(Number), rtcpPort: expect.any(Number) });
    const plainSend = send as { transportId: string; ip: string; port: number; rtcpPort: number };
    expect(plainSend.rtcpPort).not.toBe(plainSend.port);
    // ffmpeg's -ssrc option is a signed 32-bit integer.
    const ssrc = randomSsrc() & 0x7fffffff || 1;
    const bobHearsOfAlice = bob.waitFor('media:producer-added', (e) => e.callId === callId && e.userId === alice.id);
    await alice.request('media:produce', {
      transportId: plainSend.transportId,
      kind: 'audio',
      rtpParameters: plainRtpParameters('audio', ssrc),
    });
    const bobHears = await PlainReceiveStream.open(bob, callId, (await bobHearsOfAlice).producerId);

    // SFU → ffmpeg: bob's tone, consumed by the ffmpeg side and written to a file.
    const bobSends = await PlainSendStream.open(bob, callId, 'audio');
    const recv = (await alice.request('media:create-transport', { callId, direction: 'recv', type: 'plain' })) as {
      transportId: string;
    };
    const listenPort = await freeUdpPortPair();
    await alice.request('media:connect-transport', { transportId: recv.transportId, ip: '127.0.0.1', port: listenPort });
    const consumer = await alice.request('media:consume', {
      transportId: recv.transportId,
      producerId: bobSends.producerId,
      rtpCapabilities: PLAIN_RTP_CAPABILITIES,
    });
    const pt = (consumer.rtpParameters as { codecs: { payloadType: number }[] }).codecs[0].payloadType;
    const sdp = path.join(dir, 'in.sdp');
    fs.writeFileSync(
      sdp,
      [
        'v=0',
        'o=- 0 0 IN IP4 127.0.0.1',
        's=call',
        'c=IN IP4 127.0.0.1',
        't=0 0',
        `m=audio ${listenPort} RTP/AVP ${pt}`,
        `a=rtpmap:${pt} opus/48000/2`,
        '',
      ].join('\n'),
    );
    const received = path.join(dir, 'in.pcm');
    // 1.5 s of bob's 2 s tone: ffmpeg stops at that length (a UDP input has no end of its own).
    const receiver = run([
      '-protocol_whitelist',
      'file,udp,rtp',
      '-i',
      sdp,
      '-t',
      '1.5',
      '-f',
      's16le',
      '-ac',
      '1',
      '-ar',
      String(SAMPLE_RATE),
      '-y',
      received,
    ]);
    // Let ffmpeg bind its port before the stream is resumed.
    await waitUntilBound(listenPort);
    await alice.request('media:resume', { consumerId: consumer.consumerId });

    const sender = run([
      '-re',
      '-f',
      'lavfi',
      '-i',
      `sine=frequency=440:sample_rate=${SAMPLE_RATE}:duration=2`,
      '-c:a',
      'libopus',
      '-ac',
      '2',
      '-ar',
      String(SAMPLE_RATE),
      '-b:a',
      '48k',
      '-payload_type',
      String(OPUS_PAYLOAD_TYPE),
      '-ssrc',
      String(ssrc),
      '-f',
      'rtp',
      `rtp://${plainSend.ip}:${plainSend.port}?rtcpport=${plainSend.rtcpPort}`,
    ]);
    const [sentByBob, sent] = await Promise.all([bobSends.sendTone(660, 2000), sender.done]);
    expect({ code: sent.code, stderr: withoutRetriedBinds(sent.stderr) }).toEqual({ code: 0, stderr: '' });
    const { code, stderr } = await receiver.done;
    expect({ code, stderr }).toMatchObject({ code: 0 });

    // ffmpeg's 2 s at 50 frames/s: most of them arrived at bob, at 440 Hz.
    await bobHears.waitForPackets(90, 3000);
    expect(bobHears.frameFrequencies().filter(near(440)).length).toBeGreaterThanOrEqual(80);
    // And what ffmpeg received from bob is his 660 Hz tone.
    const heard = frameFrequencies(fs.readFileSync(received));
    expect(sentByBob).toBeGreaterThanOrEqual(90);
    expect(heard.filter(near(660)).length).toBeGreaterThanOrEqual(60);

    await alice.request('call:hangup', { callId });
    bobHears.close();
    bobSends.close();
    alice.disconnect();
    bob.disconnect();
  });
});

/** Waits until some process has bound the UDP port (read from /proc, so nothing races ffmpeg for it). */
async function waitUntilBound(port: number): Promise<void> {
  const local = new RegExp(`^\\s*\\d+: [0-9A-F]{8}:${port.toString(16).toUpperCase().padStart(4, '0')} `, 'm');
  for (let i = 0; i < 200; i++) {
    if (local.test(fs.readFileSync('/proc/net/udp', 'utf8'))) return;
    await sleep(25);
  }
  throw new Error(`ffmpeg did not bind port ${port}`);
}

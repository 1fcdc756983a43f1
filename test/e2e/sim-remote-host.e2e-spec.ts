import { befriend, RtpUdpSocket, SocialClient } from '@app/client';
import { startTestGateway, TestGateway, TEST_ADMIN_TOKEN, uniqueHandle } from '@app/testing';
import { DEFAULT_SIM_OPTIONS, runSimulation } from '../../apps/sim/src/simulation';

/**
 * The simulator on another host than the gateway, inside the loopback
 * range: the gateway is reached at 127.0.0.2 and its SFU listens and
 * announces there; the simulator's RTP sockets bind 127.0.0.3 and announce
 * it (the operator allows that address for plain RTP).
 */
describe('simulator from another host', () => {
  jest.setTimeout(120_000);
  let gw: TestGateway;
  let url: string;

  beforeAll(async () => {
    gw = await startTestGateway({
      env: {
        HOST: '127.0.0.2',
        MEDIA_LISTEN_IP: '127.0.0.2',
        MEDIA_ANNOUNCED_IP: '127.0.0.2',
        MEDIA_PLAIN_RTP_ALLOWED_CIDRS: '127.0.0.3/32',
      },
    });
    url = `http://127.0.0.2:${gw.port}`;
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    await gw?.close();
  });

  it('is offered media on the gateway host and sends it from its own', async () => {
    const [alice, bob] = await Promise.all(['ra', 'rb'].map(async (p) => (await SocialClient.login(url, uniqueHandle(p))).connect()));
    await befriend(alice, bob);
    const call = await alice.calls.invite(bob.id, 'audio');
    await bob.calls.waitForCall(call.id, 10_000);
    await bob.calls.accept(call.id);
    await alice.calls.waitForState(call.id, 'active', 10_000);
    const transport = await alice.request('media:create-transport', { callId: call.id, direction: 'recv', type: 'plain' });
    expect(transport).toMatchObject({ ip: '127.0.0.2' });
    // Our own address is refused unless it is where we connect from or an allowed block.
    await expect(
      alice.request('media:connect-transport', { transportId: transport.transportId, ip: '127.0.0.4', port: 40_000 }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await alice.calls.hangup(call.id);
    alice.disconnect();
    bob.disconnect();
  });

  it('runs calls with every RTP socket on --rtp-ip and both tones heard', async () => {
    const opened = jest.spyOn(RtpUdpSocket, 'open');
    const report = await runSimulation({
      ...DEFAULT_SIM_OPTIONS,
      url,
      adminToken: TEST_ADMIN_TOKEN,
      users: 4,
      messagesPerUser: 1,
      messageRate: 50,
      calls: 2,
      callSeconds: 1,
      concurrentCalls: 2,
      settleMs: 3000,
      rtpIp: '127.0.0.3',
    });
    expect(report.errors).toEqual([]);
    expect(report.calls).toMatchObject({ placed: 2, connected: 2 });
    expect(report.calls.audio).toMatchObject({ toneChecks: 4, tonePassed: 4 });
    expect(report.passed).toBe(true);
    // Two send and two receive sockets per call, all on the simulator's address.
    expect(opened).toHaveBeenCalledTimes(8);
    for (const [host] of opened.mock.calls) expect(host).toBe('127.0.0.3');
  });
});

import crypto from 'node:crypto';
import { SocialClient } from '@app/client';
import { startTestGateway, TestGateway, uniqueHandle, sleep } from '@app/testing';

const send = (c: SocialClient, to: string, body = 'hi') =>
  c.rawRequest('dm:send', { to, clientMsgId: crypto.randomUUID(), body }, 15_000) as Promise<any>;

describe('load with limits', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway({ env: { DM_RATE_PER_SEC: '20', DM_RATE_BURST: '20' } });
  });
  afterAll(async () => {
    await gw?.close();
  });

  async function connectedUsers(n: number): Promise<SocialClient[]> {
    const users = await Promise.all(Array.from({ length: n }, () => SocialClient.login(gw.url, uniqueHandle('lim'))));
    await Promise.all(users.map((u) => u.connect()));
    return users;
  }

  it('slows a sender over the rate limit with RATE_LIMITED and retryAfterMs, while others are served', async () => {
    const [flooder, floodTarget, polite, politeTarget] = await connectedUsers(4);
    // The flooder fires 300 at once; a polite user sends 10 at 10/s alongside.
    const flood = Promise.all(Array.from({ length: 300 }, (_, i) => send(flooder, floodTarget.id, `flood ${i}`)));
    const politeLatencies: number[] = [];
    const politeAcks: any[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      politeAcks.push(await send(polite, politeTarget.id, `polite ${i}`));
      politeLatencies.push(performance.now() - t0);
      await sleep(100);
    }
    const floodAcks = await flood;

    const accepted = floodAcks.filter((a) => a.ok);
    const limited = floodAcks.filter((a) => !a.ok);
    expect(accepted.length).toBeGreaterThanOrEqual(20);
    expect(accepted.length).toBeLessThan(100);
    for (const a of limited) {
      expect(a.error.code).toBe('RATE_LIMITED');
      expect(a.error.details.retryAfterMs).toBeGreaterThan(0);
    }
    expect(politeAcks.every((a) => a.ok)).toBe(true);
    expect(Math.max(...politeLatencies)).toBeLessThan(2000);

    // Waiting as told lets the flooder send again; nothing accepted was lost.
    await sleep(limited[limited.length - 1].error.details.retryAfterMs + 50);
    expect((await send(flooder, floodTarget.id, 'after waiting')).ok).toBe(true);
    const stored = await floodTarget.request('dm:history', {
      conversationId: accepted[0].data.message.conversationId,
      limit: 100,
    });
    expect(stored.messages.length).toBe(accepted.length + 1);
    for (const u of [flooder, floodTarget, polite, politeTarget]) u.disconnect();
  }, 120_000);

  it('slows an HTTP flood of one user with 429 and Retry-After (the default limits), while another user is served', async () => {
    const [flooder, polite] = await Promise.all([0, 1].map(() => SocialClient.login(gw.url, uniqueHandle('hlim'))));
    const get = (c: SocialClient) => fetch(`${gw.url}/users/me`, { headers: { authorization: `Bearer ${c.token}` } });
    const flood = Promise.all(Array.from({ length: 300 }, () => get(flooder)));
    const politeStatuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      politeStatuses.push((await get(polite)).status);
      await sleep(100);
    }
    const floodAnswers = await flood;
    const limited = floodAnswers.filter((r) => r.status === 429);
    // The default allows a burst of 100 and 20 a second: 300 at once cannot all pass.
    expect(limited.length).toBeGreaterThan(0);
    expect(floodAnswers.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(100);
    for (const r of limited) {
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect((await r.json()).error).toMatchObject({ code: 'RATE_LIMITED', details: { retryAfterMs: expect.any(Number) } });
    }
    expect(politeStatuses).toEqual(politeStatuses.map(() => 200));
  }, 120_000);

  it('refuses a frame over 64 KiB by closing only that socket; the user reconnects and others carry on', async () => {
    const [big, peer, bystander, bystanderPeer] = await connectedUsers(4);
    const dropped = new Promise<string>((resolve) => big.socket!.once('disconnect', (reason) => resolve(reason)));
    big.socket!.emit('dm:send', { to: peer.id, clientMsgId: crypto.randomUUID(), body: 'x'.repeat(70 * 1024) }, () => {
      throw new Error('an oversized frame must not be handled');
    });
    expect(await dropped).toBe('transport close');
    expect(bystander.socket!.connected).toBe(true);
    expect((await send(bystander, bystanderPeer.id)).ok).toBe(true);
    // Under the frame limit but over the body limit: an ordinary VALIDATION_FAILED.
    await big.connect();
    const tooLong = await send(big, peer.id, 'x'.repeat(4001));
    expect(tooLong).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
    expect((await send(big, peer.id, 'fits')).ok).toBe(true);
    // HTTP bodies over the JSON limit are refused with the envelope too.
    const res = await fetch(`${gw.url}/contacts/${peer.id}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${big.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ favorite: true, pad: 'x'.repeat(300 * 1024) }),
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect((await res.json()).error.code).toBe('VALIDATION_FAILED');
    expect((await fetch(`${gw.url}/health`)).status).toBe(200);
    for (const u of [big, peer, bystander, bystanderPeer]) u.disconnect();
  }, 120_000);

  it('counts the frame limit in UTF-8 bytes: emoji text under 64 Ki characters but over 64 KiB closes only that socket', async () => {
    const [big, peer, bystander, bystanderPeer] = await connectedUsers(4);
    // 17,000 emoji: 34,000 UTF-16 units (what String.length counts), 68,000 bytes on the wire.
    const body = '😀'.repeat(17_000);
    expect(body.length).toBeLessThan(60_000);
    expect(Buffer.byteLength(body)).toBeGreaterThan(64 * 1024);
    const dropped = new Promise<string>((resolve) => big.socket!.once('disconnect', (reason) => resolve(reason)));
    big.socket!.emit('dm:send', { to: peer.id, clientMsgId: crypto.randomUUID(), body }, () => {
      throw new Error('an oversized frame must not be handled');
    });
    expect(await dropped).toBe('transport close');
    expect(bystander.socket!.connected).toBe(true);
    expect((await send(bystander, bystanderPeer.id)).ok).toBe(true);
    await big.connect();
    // Just under the limit in bytes: an ordinary answer (over the 4,000-character body limit).
    const under = await send(big, peer.id, '😀'.repeat(16_000));
    expect(under).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
    for (const u of [big, peer, bystander, bystanderPeer]) u.disconnect();
  }, 120_000);
});

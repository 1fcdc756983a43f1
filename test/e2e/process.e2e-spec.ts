import { SocialClient } from '@app/client';
import { createTestDatabase, spawnGateway, TestDatabase, uniqueHandle } from '@app/testing';

describe('gateway process', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('starts, serves, and stops cleanly on SIGTERM', async () => {
    const gw = await spawnGateway(db.url);
    const res = await fetch(`${gw.url}/health`);
    expect(res.status).toBe(200);
    const client = await (await SocialClient.login(gw.url, uniqueHandle())).connect({ reconnection: false });
    const disconnected = new Promise((resolve) => client.socket!.once('disconnect', resolve));
    const code = await gw.stop();
    await disconnected;
    expect(code).toBe(0);
    expect(gw.logs.some((l) => l.includes('gateway stopped'))).toBe(true);
  });

  it('refuses to start on a bad variable, naming it and what it accepts', async () => {
    await expect(spawnGateway(db.url, { CALL_MAX_DURATION_MS: 'soon' })).rejects.toThrow(
      /CALL_MAX_DURATION_MS="soon": expected an integer/,
    );
  });
});

import { befriend } from '@app/client';
import { connectedUser, startTestGateway, TestGateway } from '@app/testing';
import type { CallRecord } from '../../libs/calls/src/call-record';
import { CallTimers } from '../../libs/calls/src/call-timers';

/*
 * A process can die between storing a transition and arming its timer. The
 * cap must hold anyway: a periodic sweep ends calls whose timers never ran.
 */
describe('the cap without its timer', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ env: { CALL_MAX_DURATION_MS: '1500', CALL_WARNING_BEFORE_MS: '500' } });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('still ends an answered call at its deadline, as max_duration', async () => {
    const alice = await connectedUser(gw, 'alice');
    const bob = await connectedUser(gw, 'bob');
    await befriend(alice, bob);
    const ringing = await alice.request('call:invite', { to: bob.id });
    const { call } = await bob.request('call:accept', { callId: ringing.call.id });
    // Lose every timer of the call, as a crash in that window would.
    await gw.get(CallTimers).disarmAll({ id: call.id, callerId: alice.id, calleeId: bob.id } as CallRecord);

    const ended = await alice.waitFor('call:state', (e) => e.call.id === call.id && e.call.state === 'ended', 15_000);
    expect(ended.call).toMatchObject({ endReason: 'max_duration', endedAt: call.maxEndsAt });
    const lateMs = Date.now() - Date.parse(call.maxEndsAt!);
    expect(lateMs).toBeLessThan(9_000);
    const { calls } = await bob.route('GET /calls', '/calls?limit=1');
    expect(calls[0]).toMatchObject({ id: call.id, state: 'ended', endReason: 'max_duration' });
    alice.disconnect();
    bob.disconnect();
  });
});

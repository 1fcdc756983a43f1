import type { ServerEvents } from '@app/contracts';
import { connectedUser, startTestGateway, TestGateway } from '@app/testing';

type ContactsChanged = ServerEvents['contacts:changed'];

describe('contacts:changed', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('tells a user when someone adds or removes them, with the mutual state, once per real change', async () => {
    const alice = await connectedUser(gw, 'alice');
    const bob = await connectedUser(gw, 'bob');
    const toBob: ContactsChanged[] = [];
    const toAlice: ContactsChanged[] = [];
    bob.on('contacts:changed', (e) => toBob.push(e));
    alice.on('contacts:changed', (e) => toAlice.push(e));

    let next = bob.waitFor('contacts:changed');
    await alice.contacts.add(bob.id);
    expect(await next).toEqual({ userId: alice.id, change: 'added', mutual: false });

    next = alice.waitFor('contacts:changed');
    await bob.contacts.add(alice.id);
    expect(await next).toEqual({ userId: bob.id, change: 'added', mutual: true });

    // Neither a favourite change nor a repeated add is news to bob; the removal is, once.
    await alice.http('PUT', `/contacts/${bob.id}`, { favorite: true });
    await alice.contacts.add(bob.id);
    next = bob.waitFor('contacts:changed');
    await alice.http('DELETE', `/contacts/${bob.id}`);
    expect(await next).toEqual({ userId: alice.id, change: 'removed', mutual: false });
    await alice.http('DELETE', `/contacts/${bob.id}`);
    next = bob.waitFor('contacts:changed');
    await alice.contacts.add(bob.id);
    expect(await next).toEqual({ userId: alice.id, change: 'added', mutual: true });

    expect(toBob.map((e) => e.change)).toEqual(['added', 'removed', 'added']);
    expect(toAlice.map((e) => e.change)).toEqual(['added']);
    alice.disconnect();
    bob.disconnect();
  });
});

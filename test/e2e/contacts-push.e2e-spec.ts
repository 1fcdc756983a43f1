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

  it('sends nothing across a block, either way', async () => {
    const carol = await connectedUser(gw, 'carol');
    const mallory = await connectedUser(gw, 'mallory');
    const dave = await connectedUser(gw, 'dave');
    const toCarol: ContactsChanged[] = [];
    const toMallory: ContactsChanged[] = [];
    carol.on('contacts:changed', (e) => toCarol.push(e));
    mallory.on('contacts:changed', (e) => toMallory.push(e));
    await carol.http('PUT', `/blocks/${mallory.id}`);

    await mallory.contacts.add(carol.id);
    await mallory.http('DELETE', `/contacts/${carol.id}`);
    await carol.contacts.add(mallory.id);
    // A push that does arrive afterwards proves the ones before it were not merely late.
    const control = carol.waitFor('contacts:changed');
    await dave.contacts.add(carol.id);
    expect(await control).toEqual({ userId: dave.id, change: 'added', mutual: false });
    expect(toCarol).toEqual([{ userId: dave.id, change: 'added', mutual: false }]);
    expect(toMallory).toEqual([]);
    for (const c of [carol, mallory, dave]) c.disconnect();
  });
});

// Installed-package check (ES modules, Node entry): two users sign in, add each
// other, exchange a message, and place a call that is answered, carries Opus
// tones both ways over plain RTP through the SFU, and is hung up.
// Usage: node call.mjs <gateway url>   (prints one JSON line, exits 0 when all went well)
import { SocialClient, PlainCallMedia } from '@social-messaging/client/node';

const url = process.argv[2];
const suffix = Math.random().toString(36).slice(2, 8);
const states = [];

const alice = await SocialClient.login(url, `esm_a_${suffix}`);
const bob = await SocialClient.login(url, `esm_b_${suffix}`);
alice.onConnectionState((state) => states.push(state));
await Promise.all([alice.contacts.add(bob.id), bob.contacts.add(alice.id)]);
await Promise.all([alice.connect(), bob.connect()]);

const heard = new Promise((resolve) => bob.messages.onMessage((message) => resolve(message.body)));
await alice.messages.send(bob.id, 'hello from ESM');
const dm = await heard;

const call = await alice.calls.invite(bob.id);
await bob.calls.waitForCall(call.id);
const bobMedia = await PlainCallMedia.accept(bob, call.id);
await alice.calls.waitForState(call.id, 'active');
const aliceMedia = await PlainCallMedia.start(alice, call.id);
await Promise.all([aliceMedia.ready(), bobMedia.ready()]);
const [fromAlice, fromBob] = await Promise.all([aliceMedia.send.sendTone(440, 600), bobMedia.send.sendTone(660, 600)]);
await Promise.all([bobMedia.receive.waitForPackets(fromAlice, 5000), aliceMedia.receive.waitForPackets(fromBob, 5000)]);
const tones = {
  bobHeard440: bobMedia.receive.checkTone(440, fromAlice).passed,
  aliceHeard660: aliceMedia.receive.checkTone(660, fromBob).passed,
};
const ended = await alice.calls.hangup(call.id);
await bob.calls.waitForState(call.id, 'ended');
aliceMedia.close();
bobMedia.close();
alice.disconnect();
bob.disconnect();

const result = { format: 'esm', dm, endReason: ended.endReason, tones, states, state: alice.connectionState };
console.log(JSON.stringify(result));
process.exitCode = dm === 'hello from ESM' && ended.state === 'ended' && tones.bobHeard440 && tones.aliceHeard660 ? 0 : 1;

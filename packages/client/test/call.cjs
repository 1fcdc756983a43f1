// Installed-package check (CommonJS, core entry): two users sign in, add each
// other, exchange a message, and place a call that is answered and hung up.
// Usage: node call.cjs <gateway url>   (prints one JSON line, exits 0 when all went well)
const { SocialClient, befriend, ClientError } = require('@social-messaging/client');

async function main() {
  const url = process.argv[2];
  const suffix = Math.random().toString(36).slice(2, 8);
  const alice = await SocialClient.login(url, `cjs_a_${suffix}`);
  const bob = await SocialClient.login(url, `cjs_b_${suffix}`);
  await befriend(alice, bob);
  await Promise.all([alice.connect(), bob.connect()]);

  const heard = new Promise((resolve) => bob.messages.onMessage((message) => resolve(message.body)));
  await alice.messages.send(bob.id, 'hello from CommonJS');
  const dm = await heard;

  const call = await alice.calls.invite(bob.id);
  const ringing = await bob.calls.waitForCall(call.id);
  await bob.calls.accept(call.id);
  await alice.calls.waitForState(call.id, 'active');
  const ended = await bob.calls.hangup(call.id);
  await alice.calls.waitForState(call.id, 'ended');
  // A refused request is a ClientError with the protocol's code.
  const refused = await alice.calls.hangup(call.id).then(() => 'accepted', (err) => (err instanceof ClientError ? err.code : String(err)));
  alice.disconnect();
  bob.disconnect();

  const result = { format: 'cjs', dm, ringingFrom: ringing.callerId === alice.id, endReason: ended.endReason, refused, state: alice.connectionState };
  console.log(JSON.stringify(result));
  return dm === 'hello from CommonJS' && ended.state === 'ended' && result.ringingFrom;
}

main().then(
  (ok) => (process.exitCode = ok ? 0 : 1),
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);

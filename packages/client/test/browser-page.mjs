// A page's use of the packed browser entry, bundled by the browser spec and driven through window.sdkPage.
import { SocialClient, WebRtcCall } from '../dist/browser.mjs';

const state = { client: undefined, media: undefined, tracks: [], restarts: 0, errors: [], states: [] };

async function transportBytes() {
  const { send, recv } = await state.media.stats();
  let sent = 0;
  let received = 0;
  send?.forEach((report) => {
    if (report.type === 'outbound-rtp' && report.kind === 'audio') sent += report.bytesSent ?? 0;
  });
  recv?.forEach((report) => {
    if (report.type === 'inbound-rtp' && report.kind === 'audio') received += report.bytesReceived ?? 0;
  });
  return { sent, received };
}

window.sdkPage = {
  async login(url, handle) {
    state.client = await SocialClient.login(url, handle);
    state.client.onConnectionState((s) => state.states.push(s));
    return state.client.id;
  },
  async addContact(userId) {
    await state.client.contacts.add(userId);
  },
  async connect() {
    await state.client.connect();
    return state.client.connectionState;
  },
  async invite(to) {
    return (await state.client.calls.invite(to, 'audio')).id;
  },
  async acceptNextCall() {
    const call = await state.client.calls.waitForIncoming();
    await state.client.calls.accept(call.id);
    return call.id;
  },
  async waitForState(callId, callState) {
    return (await state.client.calls.waitForState(callId, callState)).state;
  },
  async join(callId) {
    state.media = await WebRtcCall.create(state.client, callId);
    state.media.on('track', ({ kind }) => state.tracks.push(kind));
    state.media.on('restart', () => state.restarts++);
    state.media.on('error', ({ error }) => state.errors.push(String(error)));
    await state.media.start();
  },
  async ready() {
    await state.media.ready;
  },
  transportBytes,
  info() {
    return {
      tracks: state.tracks,
      restarts: state.restarts,
      errors: state.errors,
      remoteTracks: state.media?.remoteStream.getTracks().map((t) => t.kind) ?? [],
      closed: state.media?.isClosed ?? true,
      joins: state.media?.joins ?? 0,
      capabilityRequests: state.media?.capabilityRequests ?? 0,
      states: state.states,
    };
  },
  async hangup(callId) {
    return (await state.client.calls.hangup(callId)).endReason;
  },
  disconnect() {
    state.client?.disconnect();
  },
};

/**
 * The browser client, served by the gateway at /demo: log in by handle,
 * contacts (kept current by `contacts:changed`), a chat with typing
 * indicators and read receipts, voice (and, when the video_call flag is on,
 * video) calls with mute and a timer showing the server's duration cap, and
 * the flag's state shown live. Talks to the gateway only through the
 * protocol, using the project's SDK (its browser-safe part) and
 * mediasoup-client.
 */
import type { CallDto, CallQualityDto, CallQualityLegDto, ContactDto, MessageDto } from '@app/contracts';
import { ClientError, SocialClient } from '@app/client/browser';
import { CallMedia, CallMediaStats } from './call-media';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

interface DemoState {
  client?: SocialClient;
  contacts: ContactDto[];
  peerId?: string;
  /** Messages by peer id, deduplicated by message id. */
  threads: Map<string, Map<string, MessageDto>>;
  unread: Map<string, number>;
  call?: CallDto;
  media?: CallMedia;
  /** Per peer: the highest seq of my messages they have read. */
  readUpTo: Map<string, number>;
  /** Per peer: when their typing indicator goes away. */
  typingUntil: Map<string, number>;
  /** `call:quality` samples heard for the current call, and the latest. */
  qualitySamples: number;
  quality?: CallQualityDto;
}

const state: DemoState = {
  contacts: [],
  threads: new Map(),
  unread: new Map(),
  readUpTo: new Map(),
  typingUntil: new Map(),
  qualitySamples: 0,
};

/** How long "is typing…" stays after the last dm:typing (senders repeat it at most once a second). */
const TYPING_SHOWN_MS = 3000;

/** Hooks for automated tests and curious developers. */
const demoHandle = {
  get user() {
    return state.client?.user;
  },
  get call() {
    return state.call;
  },
  async mediaStats(): Promise<CallMediaStats | null> {
    return state.media ? state.media.stats() : null;
  },
  get muted() {
    return state.media?.isMuted ?? false;
  },
  /** media:restart events heard in the current call. */
  get mediaRestarts() {
    return state.media?.restarts ?? 0;
  },
  /** How the current call's media was set up: media:join requests and media:capabilities requests. */
  get mediaSetups() {
    return { joins: state.media?.joins ?? 0, capabilityRequests: state.media?.capabilityRequests ?? 0 };
  },
  /** The latest call:quality of the current call, and how many have arrived. */
  get quality() {
    return { samples: state.qualitySamples, latest: state.quality ?? null };
  },
};
declare global {
  interface Window {
    /** The demo's hooks (see demoHandle). */
    demo?: typeof demoHandle;
  }
}
window.demo = demoHandle;

function showError(err: unknown): void {
  const text = err instanceof ClientError ? `${err.code}: ${err.message.replace(/^[A-Z_]+: /, '')}` : String(err);
  $('error').textContent = text;
  setTimeout(() => {
    if ($('error').textContent === text) $('error').textContent = '';
  }, 6000);
}

function guard<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => void {
  return (...args) => {
    fn(...args).catch(showError);
  };
}

// ---- login ------------------------------------------------------------------

$('login-form').addEventListener(
  'submit',
  guard(async (event: Event) => {
    event.preventDefault();
    const handle = $<HTMLInputElement>('login-handle').value.trim().toLowerCase();
    const client = await SocialClient.login(location.origin, handle);
    state.client = client;
    wireClient(client);
    await client.connect();
    $('me').textContent = `@${client.user.handle}`;
    $('login').hidden = true;
    $('app').hidden = false;
    await Promise.all([refreshContacts(), client.flags.get().then(renderFlags)]);
  }),
);

function wireClient(client: SocialClient): void {
  client.onLifecycle('connected', ({ reconnect }) => {
    $('status').textContent = reconnect ? 'online (reconnected)' : 'online';
  });
  client.onLifecycle('disconnected', () => {
    $('status').textContent = 'reconnecting…';
  });
  client.messages.onMessage((message) => addMessage(message));
  client.on('dm:read', ({ readerId, upToSeq }) => {
    // Sent to both participants: the reader is the peer, unless it was my own other tab.
    if (readerId === client.id) return;
    const peer = readerId;
    state.readUpTo.set(peer, Math.max(state.readUpTo.get(peer) ?? 0, upToSeq));
    if (peer === state.peerId) renderThread();
  });
  client.on('dm:typing', ({ from }) => {
    state.typingUntil.set(from, Date.now() + TYPING_SHOWN_MS);
    renderTyping();
  });
  // Someone added or removed me: their "mutual" (and whether a call is possible) changed.
  client.on('contacts:changed', () => refreshContacts().catch(showError));
  client.flags.onChange(renderFlags);
  client.calls.onIncoming((call) => setCall(call));
  client.calls.onState((call) => setCall(call));
  client.on('call:quality', (sample) => {
    if (state.call?.id === sample.callId && state.call.state === 'active') renderQuality(sample);
  });
  client.calls.onEndingSoon(({ callId, endsAt }) => {
    if (state.call?.id === callId) {
      $('call-warning').textContent = `The call ends at ${new Date(endsAt).toLocaleTimeString()} (duration cap).`;
    }
  });
}

// ---- contacts ---------------------------------------------------------------

$('add-form').addEventListener(
  'submit',
  guard(async (event: Event) => {
    event.preventDefault();
    const input = $<HTMLInputElement>('add-handle');
    const user = await state.client!.users.byHandle(input.value.trim().toLowerCase());
    await state.client!.contacts.add(user.id);
    input.value = '';
    await refreshContacts();
    await selectPeer(user.id);
  }),
);

async function refreshContacts(): Promise<void> {
  state.contacts = await state.client!.contacts.list();
  renderContacts();
}

function renderContacts(): void {
  const list = $('contacts');
  list.replaceChildren(
    ...state.contacts.map((contact) => {
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.dataset.userId = contact.user.id;
      button.dataset.handle = contact.user.handle;
      button.className = contact.user.id === state.peerId ? 'selected' : '';
      button.textContent = `${contact.user.displayName} (@${contact.user.handle})${contact.mutual ? '' : ' · not mutual'}`;
      const unread = state.unread.get(contact.user.id) ?? 0;
      if (unread > 0) {
        const badge = document.createElement('span');
        badge.className = 'badge';
        badge.textContent = String(unread);
        button.append(badge);
      }
      button.addEventListener(
        'click',
        guard(() => selectPeer(contact.user.id)),
      );
      li.append(button);
      return li;
    }),
  );
}

// ---- chat -------------------------------------------------------------------

async function selectPeer(peerId: string): Promise<void> {
  state.peerId = peerId;
  state.unread.delete(peerId);
  const contact = state.contacts.find((c) => c.user.id === peerId);
  $('chat-title').textContent = contact ? `Chat with ${contact.user.displayName}` : 'Chat';
  for (const id of ['message-body', 'send-button', 'call-button', 'video-button']) {
    $<HTMLButtonElement>(id).disabled = false;
  }
  renderContacts();
  renderThread();
  const conversation = (await state.client!.messages.conversations()).find((c) => c.peer.id === peerId);
  if (conversation) {
    const page = await state.client!.messages.history(conversation.id, { limit: 50 });
    for (const message of page.messages) addMessage(message, false);
    renderThread();
    const last = page.messages[0];
    if (last) await state.client!.messages.markRead(conversation.id, last.seq);
  }
}

function peerOf(message: MessageDto): string {
  return message.senderId === state.client!.id ? message.recipientId : message.senderId;
}

function addMessage(message: MessageDto, render = true): void {
  const peer = peerOf(message);
  let thread = state.threads.get(peer);
  if (!thread) state.threads.set(peer, (thread = new Map()));
  if (thread.has(message.id)) return;
  thread.set(message.id, message);
  if (!render) return;
  const fromPeer = message.senderId !== state.client!.id;
  if (fromPeer) state.typingUntil.delete(peer);
  if (peer === state.peerId) {
    renderThread();
    renderTyping();
    // Shown while the chat is open: read, and the sender sees its receipt.
    if (fromPeer) state.client!.messages.markRead(message.conversationId, message.seq).catch(showError);
  } else if (fromPeer) {
    state.unread.set(peer, (state.unread.get(peer) ?? 0) + 1);
    renderContacts();
  }
}

function renderThread(): void {
  const thread = [...(state.threads.get(state.peerId ?? '')?.values() ?? [])].sort((a, b) => a.seq - b.seq);
  const list = $('messages');
  list.replaceChildren(
    ...thread.map((message) => {
      const li = document.createElement('li');
      li.dataset.id = message.id;
      const mine = message.senderId === state.client!.id;
      li.className = message.kind === 'call' ? 'call-entry' : mine ? 'mine' : 'theirs';
      li.textContent = message.body;
      if (mine && message.kind !== 'call') {
        const read = message.seq <= (state.readUpTo.get(state.peerId ?? '') ?? 0);
        li.dataset.read = String(read);
        const receipt = document.createElement('span');
        receipt.className = 'receipt';
        receipt.textContent = read ? 'Read' : 'Sent';
        li.append(receipt);
      }
      return li;
    }),
  );
  list.scrollTop = list.scrollHeight;
}

function renderTyping(): void {
  const peer = state.peerId;
  const until = peer ? (state.typingUntil.get(peer) ?? 0) : 0;
  $('typing').textContent = until > Date.now() ? `@${handleOf(peer!)} is typing…` : '';
}
setInterval(renderTyping, 500);

let lastTypingSent = 0;
$('message-body').addEventListener('input', () => {
  // The server takes one dm:typing a second per conversation: send no more.
  if (!state.peerId || Date.now() - lastTypingSent < 1000) return;
  lastTypingSent = Date.now();
  state.client!.messages.typing(state.peerId).catch(() => undefined);
});

$('send-form').addEventListener(
  'submit',
  guard(async (event: Event) => {
    event.preventDefault();
    const input = $<HTMLInputElement>('message-body');
    const body = input.value;
    if (!state.peerId || body.trim() === '') return;
    input.value = '';
    const message = await state.client!.messages.send(state.peerId, body);
    addMessage(message);
  }),
);

// ---- flags ------------------------------------------------------------------

function renderFlags(): void {
  // The video button exists only for users the video_call flag is on for.
  const on = state.client!.flags.isEnabled('video_call');
  $('video-button').hidden = !on;
  $('flag-video').textContent = `video calls: ${on ? 'on' : 'off'}`;
  $('flag-video').dataset.on = String(on);
}

// ---- calls ------------------------------------------------------------------

const invite = (media: 'audio' | 'video') =>
  guard(async () => {
    if (!state.peerId) return;
    setCall(await state.client!.calls.invite(state.peerId, media));
  });
$('call-button').addEventListener('click', invite('audio'));
$('video-button').addEventListener('click', invite('video'));
$('accept-button').addEventListener(
  'click',
  guard(async () => setCall(await state.client!.calls.accept(state.call!.id))),
);
$('decline-button').addEventListener(
  'click',
  guard(async () => setCall(await state.client!.calls.decline(state.call!.id))),
);
$('cancel-button').addEventListener(
  'click',
  guard(async () => setCall(await state.client!.calls.cancel(state.call!.id))),
);
$('mute-button').addEventListener('click', () => {
  if (!state.media) return;
  state.media.setMuted(!state.media.isMuted);
  renderMute();
});

function renderMute(): void {
  const muted = state.media?.isMuted ?? false;
  $('mute-button').textContent = muted ? 'Unmute' : 'Mute';
  $('mute-button').setAttribute('aria-pressed', String(muted));
}
$('hangup-button').addEventListener(
  'click',
  guard(async () => setCall(await state.client!.calls.hangup(state.call!.id))),
);

function setCall(call: CallDto): void {
  const current = state.call;
  // A push for another call while one is going on is not ours to show.
  if (current && current.id !== call.id && current.state !== 'ended') return;
  // Acks and pushes can cross: never step back.
  if (current?.id === call.id && order(call.state) < order(current.state)) return;
  state.call = call;
  renderCall();
  if (call.state === 'active' && !state.media) {
    $('call-log').replaceChildren();
    const media = new CallMedia(
      state.client!,
      call,
      {
        audio: $<HTMLAudioElement>('remote-audio'),
        remoteVideo: $<HTMLVideoElement>('remote-video'),
        localVideo: $<HTMLVideoElement>('local-video'),
      },
      noteCallEvent,
    );
    state.media = media;
    media.start().catch((err) => {
      showError(err);
    });
  }
  if (call.state === 'ended' && state.media?.call.id === call.id) {
    state.media.close();
    state.media = undefined;
  }
  // The panel shows from the answer on (waiting for the first sample), and goes with the call.
  if (call.state !== 'active') resetQuality(false);
  else if (current?.id !== call.id || current.state !== 'active') resetQuality(true);
}

/** A line in the call panel's log (e.g. the media moving after a server fault), newest last. */
function noteCallEvent(text: string): void {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $('call-log').append(li);
  console.info(text);
}

function order(s: CallDto['state']): number {
  return s === 'ringing' ? 0 : s === 'active' ? 1 : 2;
}

function handleOf(userId: string): string {
  return state.contacts.find((c) => c.user.id === userId)?.user.handle ?? userId.slice(0, 8);
}

function renderCall(): void {
  const call = state.call;
  const me = state.client!.id;
  const show = (id: string, visible: boolean) => ($(id).hidden = !visible);
  if (!call) return;
  const peer = handleOf(call.callerId === me ? call.calleeId : call.callerId);
  const kind = call.media === 'video' ? 'Video call' : 'Call';
  const status: Record<CallDto['state'], string> = {
    ringing: call.callerId === me ? `${kind} to @${peer}: ringing…` : `Incoming ${kind.toLowerCase()} from @${peer}`,
    active: `${kind} with @${peer}`,
    ended: `${kind} with @${peer} ended (${call.endReason ?? 'ended'})`,
  };
  $('call-status').textContent = status[call.state];
  $('call-panel').dataset.state = call.state;
  show('accept-button', call.state === 'ringing' && call.calleeId === me);
  show('decline-button', call.state === 'ringing' && call.calleeId === me);
  show('cancel-button', call.state === 'ringing' && call.callerId === me);
  show('hangup-button', call.state === 'active');
  show('mute-button', call.state === 'active');
  renderMute();
  if (call.state !== 'active') $('call-warning').textContent = '';
  renderTimer();
}

function clock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mmss = `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

/** Elapsed time since the answer, and what is left before the server's cap (call.maxEndsAt). */
function renderTimer(): void {
  const call = state.call;
  if (!call || call.state !== 'active' || !call.answeredAt) {
    $('call-timer').textContent = '';
    $('call-cap').textContent = '';
    return;
  }
  const now = Date.now();
  $('call-timer').textContent = clock(now - Date.parse(call.answeredAt));
  if (call.maxEndsAt) {
    const cap = Date.parse(call.maxEndsAt) - Date.parse(call.answeredAt);
    $('call-cap').textContent = `limit ${clock(cap)} · ${clock(Date.parse(call.maxEndsAt) - now)} left`;
  }
}
setInterval(renderTimer, 500);

// ---- call quality -------------------------------------------------------------

/**
 * The quality panel: what the SFU measured of each leg over the last
 * interval (`call:quality`), one row per producer (↑, user to SFU) and
 * consumer (↓, SFU to user). Until the first sample it says so.
 */
function resetQuality(active: boolean): void {
  state.qualitySamples = 0;
  state.quality = undefined;
  $('quality').hidden = !active;
  $('quality').dataset.samples = '0';
  $('quality-status').textContent = 'waiting for quality…';
  $('quality-legs').replaceChildren();
}

function renderQuality(sample: CallQualityDto): void {
  state.qualitySamples++;
  state.quality = sample;
  const panel = $('quality');
  panel.hidden = false;
  panel.dataset.samples = String(state.qualitySamples);
  $('quality-status').textContent = `measured ${new Date(sample.at).toLocaleTimeString()}`;
  const legs = [...sample.legs].sort((a, b) => legOrder(a) - legOrder(b));
  $('quality-legs').replaceChildren(...legs.map(qualityRow));
}

/** Mine first, then theirs; up before down; audio before video. */
function legOrder(leg: CallQualityLegDto): number {
  return (leg.userId === state.client?.id ? 0 : 4) + (leg.direction === 'up' ? 0 : 2) + (leg.kind === 'audio' ? 0 : 1);
}

function qualityRow(leg: CallQualityLegDto): HTMLTableRowElement {
  const row = document.createElement('tr');
  row.dataset.user = leg.userId;
  row.dataset.direction = leg.direction;
  row.dataset.kind = leg.kind;
  const who = leg.userId === state.client?.id ? 'me' : `@${handleOf(leg.userId)}`;
  const cells: [string, string][] = [
    ['who', who],
    ['leg', `${leg.direction === 'up' ? '↑' : '↓'} ${leg.kind}`],
    ['bitrate', (leg.bitrateBps / 1000).toFixed(leg.bitrateBps < 10_000 ? 1 : 0)],
    ['loss', (leg.lossRatio * 100).toFixed(1)],
    ['jitter', leg.jitterMs.toFixed(1)],
    ['score', leg.score === undefined ? '–' : String(leg.score)],
  ];
  for (const [field, text] of cells) {
    const cell = document.createElement('td');
    cell.dataset.field = field;
    cell.textContent = text;
    row.append(cell);
  }
  return row;
}

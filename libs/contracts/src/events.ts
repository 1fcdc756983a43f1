/**
 * Socket event names and their payload/ack types, both directions, derived
 * from the catalog (protocol-catalog.ts): a payload is what its schema
 * accepts (`z.input`: defaults may be left out), an ack's data and a push's
 * payload are what their schemas produce (`z.output`). Nothing here is
 * written by hand, so the types cannot drift from what the gateway checks.
 */
import type { z } from 'zod';
import { CLIENT_EVENT_SPECS, SERVER_EVENT_SPECS } from './protocol-catalog';
import type * as R from './response-schemas';

type ClientSpecs = typeof CLIENT_EVENT_SPECS;
type ServerSpecs = typeof SERVER_EVENT_SPECS;

export type ClientEventName = keyof ClientSpecs;
export type ServerEventName = keyof ServerSpecs;

/** client → server: payload and the `data` of a successful ack. */
export type ClientEvents = {
  [E in ClientEventName]: {
    payload: z.input<ClientSpecs[E]['payload']>;
    result: z.output<ClientSpecs[E]['result']>;
  };
};

/** server → client pushes: the payload of each. */
export type ServerEvents = { [E in ServerEventName]: z.output<ServerSpecs[E]['payload']> };

export type ClientEventPayload<E extends ClientEventName> = ClientEvents[E]['payload'];
export type ClientEventResult<E extends ClientEventName> = ClientEvents[E]['result'];
export type ServerEventPayload<E extends ServerEventName> = ServerEvents[E];

/** Object.keys keeps the catalog's order; its keys are exactly the names. */
function namesOf<T extends object>(specs: T): readonly (keyof T & string)[] {
  return Object.freeze(Object.keys(specs) as (keyof T & string)[]);
}

export const CLIENT_EVENT_NAMES: readonly ClientEventName[] = namesOf(CLIENT_EVENT_SPECS);
export const SERVER_EVENT_NAMES: readonly ServerEventName[] = namesOf(SERVER_EVENT_SPECS);

/** What `media:create-transport` answers for a WebRTC transport. */
export type TransportInfoWebRtc = z.infer<typeof R.webRtcTransportInfo>;
/** What `media:create-transport` answers for a plain-RTP transport (`rtcpPort` when created with rtcpMux: false). */
export type TransportInfoPlain = z.infer<typeof R.plainTransportInfo>;

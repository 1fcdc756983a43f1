/**
 * Every closed set of words the protocol uses, written once: the payload and
 * result schemas take their zod enums from here, and code on either side of
 * the wire takes the list (for loops and checks) and the type from here.
 */
import { z } from 'zod';

/** A track's kind, and a call's `media`. */
export const MEDIA_KINDS = ['audio', 'video'] as const;
export const mediaKind = z.enum(MEDIA_KINDS);
export type MediaKind = z.infer<typeof mediaKind>;

export const CALL_STATES = ['ringing', 'active', 'ended'] as const;
export const callState = z.enum(CALL_STATES);
export type CallState = z.infer<typeof callState>;

export const CALL_END_REASONS = [
  'hangup',
  'declined',
  'cancelled',
  'missed',
  'max_duration',
  'disconnected',
  'media_failure',
  'blocked',
] as const;
export const callEndReason = z.enum(CALL_END_REASONS);
export type CallEndReason = z.infer<typeof callEndReason>;

/** `call` for the entry a finished call leaves in the conversation. */
export const MESSAGE_KINDS = ['text', 'call'] as const;
export const messageKind = z.enum(MESSAGE_KINDS);
export type MessageKind = z.infer<typeof messageKind>;

export const TRANSPORT_DIRECTIONS = ['send', 'recv'] as const;
export const transportDirection = z.enum(TRANSPORT_DIRECTIONS);
export type TransportDirection = z.infer<typeof transportDirection>;

export const TRANSPORT_TYPES = ['webrtc', 'plain'] as const;
export const transportType = z.enum(TRANSPORT_TYPES);
export type TransportType = z.infer<typeof transportType>;

/** Why `media:restart` moved a call's media to a new room. */
export const MEDIA_RESTART_REASONS = ['node_lost', 'worker_died', 'drain'] as const;
export const mediaRestartReason = z.enum(MEDIA_RESTART_REASONS);
export type MediaRestartReason = z.infer<typeof mediaRestartReason>;

/** A quality leg: `up` is user to SFU (a producer), `down` SFU to user (a consumer). */
export const LEG_DIRECTIONS = ['up', 'down'] as const;
export const legDirection = z.enum(LEG_DIRECTIONS);
export type LegDirection = z.infer<typeof legDirection>;

/** `contacts:changed`: whether the other user added or removed you. */
export const CONTACT_CHANGES = ['added', 'removed'] as const;
export const contactChange = z.enum(CONTACT_CHANGES);
export type ContactChange = z.infer<typeof contactChange>;

/** What a process does (`NODE_ROLE`), as `/health` reports it. */
export const NODE_ROLES = ['all', 'gateway', 'media'] as const;
export const nodeRole = z.enum(NODE_ROLES);
export type NodeRole = z.infer<typeof nodeRole>;

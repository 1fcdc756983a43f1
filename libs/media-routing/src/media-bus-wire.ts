import { z } from 'zod';
import { responseSchemas } from '@app/contracts';
import type { MediaNodePush } from './media-node-api';

/*
 * What travels on the media bus, as schemas: every message read from Redis
 * is parsed before it is used. A message that does not parse (another
 * version's shape, a stray publisher, a bug) is dropped and counted, never
 * thrown: one bad message must not take a node or a gateway down.
 */

const wireError = z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() });

/** A request to a node: its room API's method name and the arguments, checked by the node against that method. */
export const wireRequest = z.object({
  method: z.string().min(1).max(64),
  args: z.array(z.unknown()),
  requestId: z.string().max(128).optional(),
  /** W3C trace context of the span that sent it (traceparent, tracestate), so the node's span joins that trace. */
  traceContext: z.record(z.string().max(64), z.string().max(512)).optional(),
});

export const requestEnvelope = z.object({ id: z.string().min(1).max(64), replyTo: z.string().min(1).max(256), request: wireRequest });

export const replyEnvelope = z.object({
  id: z.string().min(1).max(64),
  ok: z.boolean(),
  result: z.unknown().optional(),
  error: wireError.optional(),
});

export const nodeEvent = z.object({
  id: z.string(),
  type: z.enum(['room-restarted', 'room-failed', 'node-draining']),
  nodeId: z.string(),
  callId: z.string().optional(),
  reason: z.enum(['worker_died', 'drain', 'node_lost']).optional(),
});

const participantIds = z.tuple([z.string(), z.string()]);

export const nodePush: z.ZodType<MediaNodePush, z.ZodTypeDef, unknown> = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('quality'),
    nodeId: z.string(),
    participantIds,
    sample: z.object({ callId: z.string(), at: z.string(), legs: z.array(responseSchemas.callQualityLeg).max(16) }),
  }),
  z.object({
    type: z.literal('consumer-added'),
    nodeId: z.string(),
    consumer: responseSchemas.consumerInfo.extend({ callId: z.string(), userId: z.string() }),
  }),
]);

export type WireRequest = z.infer<typeof wireRequest>;
export type RequestEnvelope = z.infer<typeof requestEnvelope>;
export type ReplyEnvelope = z.infer<typeof replyEnvelope>;

/** Why a message was dropped (a label of media_bus_dropped_total). */
export type DropReason = 'json' | 'shape' | 'method' | 'args';
export type BusChannel = 'request' | 'reply' | 'event' | 'push';

/** Counts a dropped message; the bus never throws for one. */
export type DropCounter = (channel: BusChannel, reason: DropReason) => void;

/** JSON.parse then the schema; undefined (and counted) when either fails. */
export function parseWire<T>(
  raw: string,
  schema: z.ZodType<T, z.ZodTypeDef, unknown>,
  channel: BusChannel,
  dropped: DropCounter,
): T | undefined {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    dropped(channel, 'json');
    return undefined;
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    dropped(channel, 'shape');
    return undefined;
  }
  return parsed.data;
}

/**
 * Raised by a node's request handler for a request it cannot read (an
 * unknown method, arguments of the wrong shape): the bus drops it and counts
 * it, and sends no answer (the requester's timeout covers it).
 */
export class MalformedMediaRequest extends Error {
  constructor(
    readonly reason: Extract<DropReason, 'method' | 'args'>,
    detail: string,
  ) {
    super(`malformed media request: ${detail}`);
    this.name = 'MalformedMediaRequest';
  }
}

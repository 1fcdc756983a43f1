import { z } from 'zod';
import { MEDIA_KINDS, TRANSPORT_TYPES } from '@app/contracts';
import { MalformedMediaRequest } from './media-bus-wire';
import type { MediaRequest, MediaRequestHandler, MediaRequestOrigin } from './media-bus';
import type { MediaNodeApi, MediaNodeMethod } from './media-node-api';

/*
 * The serving side of a media node's room API: each method's arguments as
 * a schema, checked before the node runs anything. The map is typed by
 * MediaNodeApi, so renaming a method, or changing what it takes, fails to
 * compile here until the schema follows.
 */

const id = z.string().min(1).max(64);
const json = z.record(z.string(), z.unknown());
const kind = z.enum(MEDIA_KINDS);
const transportType = z.enum(TRANSPORT_TYPES);
const port = z.number().int().min(1).max(65535);
const ip = z.string().ip();
const clientAddress = z.string().max(64).optional();

const joinRequest = z.object({
  clientAddress,
  rtpCapabilities: json.optional(),
  send: z
    .object({
      type: transportType,
      rtcpMux: z.boolean(),
      ip: ip.optional(),
      port: port.optional(),
      rtcpPort: port.optional(),
      produce: z
        .array(z.object({ kind, rtpParameters: json }))
        .max(2)
        .optional(),
    })
    .optional(),
  recv: z
    .object({ type: transportType, rtcpMux: z.boolean(), ip: ip.optional(), port: port.optional(), rtcpPort: port.optional() })
    .optional(),
});

type ArgsSchemas = { [K in MediaNodeMethod]: z.ZodType<Parameters<MediaNodeApi[K]>, z.ZodTypeDef, unknown> };

export const MEDIA_NODE_ARGS: ArgsSchemas = {
  openRoom: z.tuple([id, z.enum(['audio', 'video']), z.tuple([id, id])]),
  // The call id alone is the previous version's close (a gateway not yet upgraded).
  closeRoom: z.union([z.tuple([id, z.boolean()]), z.tuple([id])]),
  capabilities: z.tuple([id, id]),
  transportKind: z.tuple([id, id, id]),
  createTransport: z.tuple([
    id,
    id,
    z.object({ direction: z.enum(['send', 'recv']), type: transportType, rtcpMux: z.boolean().optional(), clientAddress }),
  ]),
  connectTransport: z.tuple([
    id,
    id,
    id,
    z.object({ dtlsParameters: json.optional(), ip: ip.optional(), port: port.optional(), rtcpPort: port.optional(), clientAddress }),
  ]),
  produce: z.tuple([id, id, id, kind, json]),
  consume: z.tuple([id, id, id, id, json]),
  resume: z.tuple([id, id, id]),
  join: z.tuple([id, id, joinRequest]),
  closeVideoProducers: z.tuple([id]),
  ping: z.tuple([]),
};

export const MEDIA_NODE_METHODS = Object.keys(MEDIA_NODE_ARGS) as MediaNodeMethod[];

function isMethod(name: string): name is MediaNodeMethod {
  return Object.prototype.hasOwnProperty.call(MEDIA_NODE_ARGS, name);
}

/**
 * Serves `api` to requests from the bus: an unknown method or arguments of
 * the wrong shape raise MalformedMediaRequest (the bus drops and counts it);
 * anything the api throws (DomainError) is the answer. A local request's
 * arguments are the typed client's own and go to the api as they are.
 */
export function mediaNodeHandler(api: MediaNodeApi): MediaRequestHandler {
  return async (request: MediaRequest, origin: MediaRequestOrigin) => {
    if (!isMethod(request.method)) throw new MalformedMediaRequest('method', `unknown method ${request.method.slice(0, 64)}`);
    const method = api[request.method] as (...args: unknown[]) => Promise<unknown>;
    if (origin === 'local') return method.apply(api, request.args);
    const parsed = MEDIA_NODE_ARGS[request.method].safeParse(request.args);
    if (!parsed.success)
      throw new MalformedMediaRequest('args', `${request.method}: ${parsed.error.issues[0]?.message ?? 'bad arguments'}`);
    return method.apply(api, parsed.data);
  };
}

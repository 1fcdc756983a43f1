import { z } from 'zod';
import { ignoreOverride, zodToJsonSchema } from 'zod-to-json-schema';

export type JsonSchema = Record<string, unknown>;

/** `dm:send` / `messageDto` / `media-join` → `DmSend` / `Message` / `MediaJoin`: a component's name. */
export function pascalName(words: string): string {
  return words
    .replace(/Dto$/, '')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('');
}

// Worth a name of their own: structured types and enums (a bare string or number reads better inline).
function worthAName(schema: z.ZodTypeAny): boolean {
  return (
    schema instanceof z.ZodObject ||
    schema instanceof z.ZodUnion ||
    schema instanceof z.ZodDiscriminatedUnion ||
    schema instanceof z.ZodIntersection ||
    schema instanceof z.ZodEnum
  );
}

/**
 * The zod schemas of the contracts as JSON Schema (draft-07 vocabulary, which
 * both AsyncAPI 3's default schema format and OpenAPI 3.1 accept), where
 * every named schema is a component (`#/components/schemas/Name`) that the
 * others `$ref`. `components()` holds the named schemas a document used, and
 * the ones those use, sorted by name.
 *
 * Objects that ignore unknown fields say nothing about additional properties
 * (a client may send more, the server may add fields); only strict ones
 * forbid them.
 */
export class SchemaComponents {
  private readonly names = new Map<z.ZodTypeDef, string>();
  private readonly schemas = new Map<string, z.ZodTypeAny>();
  private readonly used = new Map<string, JsonSchema>();

  /** Names every schema worth a name among `exports` (a module's exports), by its export name; the first name wins. */
  nameAll(exports: Record<string, unknown>): this {
    for (const [key, value] of Object.entries(exports)) {
      if (value instanceof z.ZodType && worthAName(value)) this.name(pascalName(key), value);
    }
    return this;
  }

  /** Gives `schema` a name unless it has one; returns its name. */
  name(name: string, schema: z.ZodTypeAny): string {
    const existing = this.names.get(schema._def);
    if (existing) return existing;
    if (this.schemas.has(name)) throw new Error(`two schemas named ${name}`);
    this.names.set(schema._def, name);
    this.schemas.set(name, schema);
    return name;
  }

  /** A `$ref` to the named schema `name`, which is then part of components(). */
  ref(name: string): JsonSchema {
    this.use(name);
    return { $ref: `#/components/schemas/${name}` };
  }

  /** `schema` as JSON Schema: a `$ref` when it has a name, else inline with `$ref`s to the named parts. */
  convert(schema: z.ZodTypeAny): JsonSchema {
    const name = this.names.get(schema._def);
    return name ? this.ref(name) : this.inline(schema);
  }

  /** The named schemas used so far (and the ones they use), sorted by name. */
  components(): Record<string, JsonSchema> {
    return Object.fromEntries([...this.used].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  private use(name: string): void {
    if (this.used.has(name)) return;
    const schema = this.schemas.get(name);
    if (!schema) throw new Error(`no schema named ${name}`);
    this.used.set(name, {}); // placeholder first: a schema that refers to itself stops here
    this.used.set(name, this.inline(schema));
  }

  private inline(schema: z.ZodTypeAny): JsonSchema {
    // Typed loosely: the library's generic signature is too deep for the compiler on large schemas.
    const convert = zodToJsonSchema as (schema: unknown, options: object) => JsonSchema;
    const { $schema: _dialect, ...rest } = convert(schema, {
      $refStrategy: 'none',
      target: 'jsonSchema7',
      removeAdditionalStrategy: 'strict',
      allowedAdditionalProperties: undefined,
      override: (def: z.ZodTypeDef, refs: { currentPath: string[] }) => {
        const name = this.names.get(def);
        // The schema being converted is written out, not referred to.
        if (name === undefined || (def === schema._def && refs.currentPath.length === 1)) return ignoreOverride;
        return this.ref(name);
      },
    });
    return rest;
  }
}

/**
 * A value the JSON Schema `schema` accepts, for a document's examples:
 * optional fields included, the first choice of every union and enum.
 * Deterministic, so the committed documents stay stable. A spec checks
 * every example against its schema.
 */
export function exampleOf(schema: JsonSchema, components: Record<string, JsonSchema>, depth = 0): unknown {
  if (depth > 40) throw new Error('schema too deep for an example (a recursive type?)');
  const next = (s: unknown) => exampleOf(s as JsonSchema, components, depth + 1);
  if (typeof schema.$ref === 'string') return next(components[schema.$ref.split('/').pop()!]);
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if ('default' in schema) return schema.default;
  // A choice inherits what its schema says beside the list (`type: string, anyOf: [{ format }...]`).
  for (const list of ['anyOf', 'oneOf'] as const) {
    const choices = schema[list];
    if (!Array.isArray(choices)) continue;
    const { [list]: _choices, ...beside } = schema;
    return next({ ...beside, ...(choices.find((s: JsonSchema) => s.type !== 'null') ?? choices[0]) });
  }
  if (Array.isArray(schema.allOf)) {
    // One value for every part: objects merge, anything else takes the parts' constraints together.
    const examples = schema.allOf.map((s) => next(s));
    const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
    if (examples.every(isObject)) return Object.assign({}, ...examples);
    const parts = schema.allOf.map((s: JsonSchema) => (typeof s.$ref === 'string' ? components[s.$ref.split('/').pop()!] : s));
    return next(Object.assign({}, ...parts));
  }
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'object': {
      const value: Record<string, unknown> = {};
      for (const [key, property] of Object.entries((schema.properties as Record<string, JsonSchema> | undefined) ?? {})) {
        value[key] = next(property);
      }
      return value;
    }
    case 'array': {
      const items = schema.items as JsonSchema | JsonSchema[] | undefined;
      if (Array.isArray(items)) return items.map((s) => next(s));
      const count = Math.max(1, Number(schema.minItems ?? 1));
      return items && Number(schema.maxItems ?? 1) > 0 ? Array.from({ length: count }, () => next(items)) : [];
    }
    case 'string':
      return exampleString(schema);
    case 'integer':
    case 'number': {
      const min = Number(schema.minimum ?? (schema.exclusiveMinimum !== undefined ? Number(schema.exclusiveMinimum) + 1 : 1));
      const max = Number(schema.maximum ?? Number.MAX_SAFE_INTEGER);
      return Math.min(Math.max(min, type === 'integer' ? 1 : 0.5), max);
    }
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return {};
  }
}

const EXAMPLE_UUID = '3f1c2a4e-8b7d-4c1a-9e2f-5a6b7c8d9e0f';
const EXAMPLE_TIME = '2026-01-15T09:30:00.000Z';
// Tried in order against a pattern: handles, flag keys, ids, cursors.
const PATTERN_CANDIDATES = ['alice', 'video_call', 'alice_01', 'a1', 'eyJzZXEiOjF9', 'x'];

function exampleString(schema: JsonSchema): string {
  switch (schema.format) {
    case 'uuid':
      return EXAMPLE_UUID;
    case 'date-time':
      return EXAMPLE_TIME;
    case 'email':
      return 'alice@example.com';
    case 'ipv4':
      return '127.0.0.1';
    case 'ipv6':
      return '::1';
    case 'uri':
      return 'https://example.com/';
  }
  const min = Number(schema.minLength ?? 1);
  const max = Number(schema.maxLength ?? 64);
  const fits = (s: string) =>
    s.length >= min && s.length <= max && (typeof schema.pattern !== 'string' || new RegExp(schema.pattern, 'u').test(s));
  const found = PATTERN_CANDIDATES.find(fits);
  if (found) return found;
  return 'x'.repeat(Math.max(min, 1));
}

import type { z } from 'zod';
import { zodToJsonSchema } from 'zod-to-json-schema';

export type JsonSchema = Record<string, unknown>;

/**
 * A zod schema as JSON Schema (draft-07 vocabulary, which both AsyncAPI 3's
 * default schema format and OpenAPI 3.1 accept), every part inlined.
 * Objects that ignore unknown fields say nothing about additional properties
 * (a client may send more, the server may add fields); only strict ones
 * forbid them.
 */
export function toJsonSchema(schema: z.ZodTypeAny): JsonSchema {
  // Typed loosely: the library's generic signature is too deep for the compiler on large schemas.
  const convert = zodToJsonSchema as (schema: unknown, options: object) => JsonSchema;
  const { $schema: _dialect, ...rest } = convert(schema, {
    $refStrategy: 'none',
    target: 'jsonSchema7',
    removeAdditionalStrategy: 'strict',
    allowedAdditionalProperties: undefined,
  });
  return rest;
}

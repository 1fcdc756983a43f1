import { z } from 'zod';
import * as contracts from '@app/contracts';
import { SchemaComponents } from './json-schema';

/**
 * Every schema the contracts export, named after its export (`messageDto` →
 * `Message`, `dmSend` → `DmSend`, `mediaKind` → `MediaKind`): the names the
 * documents' components get. Enums first, then results, then requests.
 */
export function contractSchemas(): SchemaComponents {
  const enums = Object.fromEntries(Object.entries(contracts).filter(([, value]) => value instanceof z.ZodEnum));
  return new SchemaComponents().nameAll(enums).nameAll(contracts.responseSchemas).nameAll(contracts.schemas);
}

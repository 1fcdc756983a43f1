import { Injectable } from '@nestjs/common';
import { FlagDefinition, sameSettings, settingsOf } from './flag.repository';

/** The definitions this process evaluates from; refreshed whenever a change is announced. */
@Injectable()
export class FlagDefinitionCache {
  private definitions = new Map<string, FlagDefinition>();

  get(key: string): FlagDefinition | undefined {
    return this.definitions.get(key);
  }

  all(): FlagDefinition[] {
    return [...this.definitions.values()].sort((a, b) => a.key.localeCompare(b.key));
  }

  keys(): string[] {
    return this.all().map((d) => d.key);
  }

  /** Stores the definition; true when it differs from the one held (so the change is news here). */
  set(definition: FlagDefinition): boolean {
    const changed = !sameDefinition(this.definitions.get(definition.key), definition);
    this.definitions.set(definition.key, definition);
    return changed;
  }

  /** True when there was a definition to remove. */
  delete(key: string): boolean {
    return this.definitions.delete(key);
  }

  /** Replaces everything; returns the keys whose definitions differ from before. */
  replaceAll(definitions: FlagDefinition[]): string[] {
    const next = new Map(definitions.map((d) => [d.key, d]));
    const changed = new Set<string>();
    for (const [key, def] of next) {
      if (!sameDefinition(this.definitions.get(key), def)) changed.add(key);
    }
    for (const key of this.definitions.keys()) if (!next.has(key)) changed.add(key);
    this.definitions = next;
    return [...changed];
  }
}

// Two changes can share a millisecond, so the settings are compared as well as the time.
function sameDefinition(held: FlagDefinition | undefined, next: FlagDefinition): boolean {
  return held !== undefined && held.updatedAt.getTime() === next.updatedAt.getTime() && sameSettings(settingsOf(held), settingsOf(next));
}

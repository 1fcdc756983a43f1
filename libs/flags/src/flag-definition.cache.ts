import { Injectable } from '@nestjs/common';
import type { FlagDefinition } from './flag.repository';

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

  set(definition: FlagDefinition): void {
    this.definitions.set(definition.key, definition);
  }

  delete(key: string): void {
    this.definitions.delete(key);
  }

  /** Replaces everything; returns the keys whose definitions differ from before. */
  replaceAll(definitions: FlagDefinition[]): string[] {
    const next = new Map(definitions.map((d) => [d.key, d]));
    const changed = new Set<string>();
    for (const [key, def] of next) {
      const old = this.definitions.get(key);
      if (!old || old.updatedAt.getTime() !== def.updatedAt.getTime()) changed.add(key);
    }
    for (const key of this.definitions.keys()) if (!next.has(key)) changed.add(key);
    this.definitions = next;
    return [...changed];
  }
}

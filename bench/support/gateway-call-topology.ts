import type { CallTopology } from './call-topology';

/** Calls set up through the gateway's protocol (filled in below once calls and media exist). */
export class GatewayCallTopology {
  static async start(_ports: number[], _log: (s: string) => void): Promise<CallTopology> {
    throw new Error('not yet implemented');
  }
}

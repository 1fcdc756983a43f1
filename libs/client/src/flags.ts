import type { EvaluatedFlags } from '@app/contracts';
import type { SocialClient } from './social-client';

/** Feature flags as evaluated for this user, kept current by `flags:changed`. */
export class FlagsApi {
  private current?: EvaluatedFlags;

  constructor(private readonly client: SocialClient) {
    client.on('flags:changed', ({ flags }) => {
      this.current = flags;
    });
  }

  /** `GET /flags`. */
  async get(): Promise<EvaluatedFlags> {
    const { flags } = await this.client.route('GET /flags', '/flags');
    this.current = flags;
    return flags;
  }

  /** Last known evaluation (from get() or a push); undefined before either. */
  get snapshot(): EvaluatedFlags | undefined {
    return this.current;
  }

  /** Last known value of `key`; false when unknown. */
  isEnabled(key: string): boolean {
    return this.current?.[key] === true;
  }

  onChange(handler: (flags: EvaluatedFlags) => void): () => void {
    return this.client.on('flags:changed', ({ flags }) => handler(flags));
  }
}

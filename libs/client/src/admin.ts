import type { FlagAuditEntryDto, FlagDefinitionDto, schemas } from '@app/contracts';
import { httpJson } from './http-api';

/** The admin API (`/admin/*`), authorised by the gateway's ADMIN_TOKEN. */
export class AdminClient {
  constructor(
    readonly baseUrl: string,
    private readonly adminToken: string,
  ) {}

  /** `GET /admin/flags`. */
  async listFlags(): Promise<FlagDefinitionDto[]> {
    return (await this.call<{ flags: FlagDefinitionDto[] }>('GET', '/admin/flags')).flags;
  }

  /** `PUT /admin/flags/:key`: changes only the fields given. */
  setFlag(key: string, change: schemas.AdminFlagPutBody): Promise<FlagDefinitionDto> {
    return this.call('PUT', `/admin/flags/${encodeURIComponent(key)}`, change);
  }

  /** `GET /admin/flags/:key/audit`. */
  async flagAudit(key: string): Promise<FlagAuditEntryDto[]> {
    return (await this.call<{ entries: FlagAuditEntryDto[] }>('GET', `/admin/flags/${encodeURIComponent(key)}/audit`)).entries;
  }

  /** `POST /admin/users/:id/revoke-tokens`: the user's tokens so far are refused and their sockets closed. */
  async revokeTokens(userId: string): Promise<void> {
    await this.call('POST', `/admin/users/${encodeURIComponent(userId)}/revoke-tokens`);
  }

  private call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return httpJson<T>(this.baseUrl, method, path, { token: this.adminToken, body });
  }
}

import type { FlagAuditEntryDto, FlagDefinitionDto, HttpJsonRouteName, HttpRouteResult, schemas } from '@app/contracts';
import { httpJson } from './http-api';

/** The admin API (`/admin/*`), authorised by the gateway's ADMIN_TOKEN. */
export class AdminClient {
  constructor(
    readonly baseUrl: string,
    private readonly adminToken: string,
  ) {}

  /** `GET /admin/flags`. */
  async listFlags(): Promise<FlagDefinitionDto[]> {
    return (await this.call('GET /admin/flags', '/admin/flags')).flags;
  }

  /** `PUT /admin/flags/:key`: changes only the fields given. */
  setFlag(key: string, change: schemas.AdminFlagPutBody): Promise<FlagDefinitionDto> {
    return this.call('PUT /admin/flags/:key', `/admin/flags/${encodeURIComponent(key)}`, change);
  }

  /** `GET /admin/flags/:key/audit`. */
  async flagAudit(key: string): Promise<FlagAuditEntryDto[]> {
    return (await this.call('GET /admin/flags/:key/audit', `/admin/flags/${encodeURIComponent(key)}/audit`)).entries;
  }

  /** `POST /admin/users/:id/revoke-tokens`: the user's tokens so far are refused and their sockets closed. */
  async revokeTokens(userId: string): Promise<void> {
    await this.call('POST /admin/users/:id/revoke-tokens', `/admin/users/${encodeURIComponent(userId)}/revoke-tokens`);
  }

  /** A catalog route, its answer checked against the route's schema. */
  private call<N extends HttpJsonRouteName>(route: N, path: string, body?: unknown): Promise<HttpRouteResult<N>> {
    return httpJson(this.baseUrl, route, path, { token: this.adminToken, body });
  }
}

import type { ContactDto, UserDto } from '@app/contracts';
import { Page, pageQueryString } from './http-api';
import type { SocialClient } from './social-client';

/** Users by id or handle. */
export class UsersApi {
  constructor(private readonly client: SocialClient) {}

  /** `GET /users/me`. */
  me(): Promise<UserDto> {
    return this.client.route('GET /users/me', '/users/me');
  }

  /** `GET /users/by-handle/:handle` (NOT_FOUND when nobody has it). */
  byHandle(handle: string): Promise<UserDto> {
    return this.client.route('GET /users/by-handle/:handle', `/users/by-handle/${encodeURIComponent(handle)}`);
  }
}

/** Contacts and blocks. A call needs both users to have added each other. */
export class ContactsApi {
  constructor(private readonly client: SocialClient) {}

  /** `GET /contacts`: favorites first, then by most recent conversation. */
  async list(): Promise<ContactDto[]> {
    return (await this.client.route('GET /contacts', '/contacts')).contacts;
  }

  /** `GET /contacts?limit=&cursor=`: one page. */
  async page(page: { limit?: number; cursor?: string } = {}): Promise<Page<ContactDto>> {
    const res = await this.client.route('GET /contacts', `/contacts${pageQueryString(page)}`);
    return { items: res.contacts, nextCursor: res.nextCursor };
  }

  /** `GET /blocks?limit=&cursor=`: one page of the users you blocked, newest first. */
  async blocked(page: { limit?: number; cursor?: string } = {}): Promise<Page<{ user: UserDto; blockedAt: string }>> {
    const res = await this.client.route('GET /blocks', `/blocks${pageQueryString(page)}`);
    return { items: res.blocks, nextCursor: res.nextCursor };
  }

  /** `PUT /contacts/:userId`: adds (the "quick add") or updates a contact. */
  add(userId: string, options: { favorite?: boolean } = {}): Promise<ContactDto> {
    return this.client.route('PUT /contacts/:userId', `/contacts/${encodeURIComponent(userId)}`, options);
  }

  setFavorite(userId: string, favorite: boolean): Promise<ContactDto> {
    return this.add(userId, { favorite });
  }

  /** `DELETE /contacts/:userId`. */
  async remove(userId: string): Promise<void> {
    await this.client.route('DELETE /contacts/:userId', `/contacts/${encodeURIComponent(userId)}`);
  }

  /** `PUT /blocks/:userId`. */
  async block(userId: string): Promise<void> {
    await this.client.route('PUT /blocks/:userId', `/blocks/${encodeURIComponent(userId)}`);
  }

  /** `DELETE /blocks/:userId`. */
  async unblock(userId: string): Promise<void> {
    await this.client.route('DELETE /blocks/:userId', `/blocks/${encodeURIComponent(userId)}`);
  }
}

/** Makes two users mutual contacts, as calls require. */
export async function befriend(a: SocialClient, b: SocialClient): Promise<void> {
  await Promise.all([a.contacts.add(b.id), b.contacts.add(a.id)]);
}

import type { ContactDto, UserDto } from '@app/contracts';
import type { SocialClient } from './social-client';

/** Users by id or handle. */
export class UsersApi {
  constructor(private readonly client: SocialClient) {}

  /** `GET /users/me`. */
  me(): Promise<UserDto> {
    return this.client.http('GET', '/users/me');
  }

  /** `GET /users/by-handle/:handle` (NOT_FOUND when nobody has it). */
  byHandle(handle: string): Promise<UserDto> {
    return this.client.http('GET', `/users/by-handle/${encodeURIComponent(handle)}`);
  }
}

/** Contacts and blocks. A call needs both users to have added each other. */
export class ContactsApi {
  constructor(private readonly client: SocialClient) {}

  /** `GET /contacts`: favorites first, then by most recent conversation. */
  async list(): Promise<ContactDto[]> {
    return (await this.client.http<{ contacts: ContactDto[] }>('GET', '/contacts')).contacts;
  }

  /** `PUT /contacts/:userId`: adds (the "quick add") or updates a contact. */
  add(userId: string, options: { favorite?: boolean } = {}): Promise<ContactDto> {
    return this.client.http('PUT', `/contacts/${encodeURIComponent(userId)}`, options);
  }

  setFavorite(userId: string, favorite: boolean): Promise<ContactDto> {
    return this.add(userId, { favorite });
  }

  /** `DELETE /contacts/:userId`. */
  async remove(userId: string): Promise<void> {
    await this.client.http('DELETE', `/contacts/${encodeURIComponent(userId)}`);
  }

  /** `PUT /blocks/:userId`. */
  async block(userId: string): Promise<void> {
    await this.client.http('PUT', `/blocks/${encodeURIComponent(userId)}`);
  }

  /** `DELETE /blocks/:userId`. */
  async unblock(userId: string): Promise<void> {
    await this.client.http('DELETE', `/blocks/${encodeURIComponent(userId)}`);
  }
}

/** Makes two users mutual contacts, as calls require. */
export async function befriend(a: SocialClient, b: SocialClient): Promise<void> {
  await Promise.all([a.contacts.add(b.id), b.contacts.add(a.id)]);
}

// Type check of the installed package from CommonJS (moduleResolution nodenext).
import { SocialClient, ClientError } from '@social-messaging/client';
import type { CallDto } from '@social-messaging/client';

export async function answer(client: SocialClient, callId: string): Promise<CallDto | string> {
  return client.calls.accept(callId).catch((err: unknown) => (err instanceof ClientError ? err.code : 'other'));
}

// Type check of the installed package from an ES module (moduleResolution nodenext).
import { SocialClient, type ConnectionState, type MessageDto } from '@social-messaging/client';
import { PlainCallMedia } from '@social-messaging/client/node';

export async function place(url: string): Promise<ConnectionState> {
  const client = await SocialClient.login(url, 'typed');
  const sent: MessageDto = await client.messages.send(client.id, 'hi');
  const call = await client.calls.invite(sent.recipientId, 'audio');
  const media: PlainCallMedia = await PlainCallMedia.start(client, call.id);
  media.close();
  client.onLifecycle('reconnecting', ({ attempt, delayMs }) => console.log(attempt + delayMs));
  return client.connectionState;
}

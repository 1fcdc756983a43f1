/**
 * Where a persisted DM's time goes, without sockets: the same concurrency
 * against Prisma round trips, the messaging service and its repositories
 * (their internal files, for diagnosis only), and the same rows written by
 * one SQL statement on a plain pg pool.
 *
 *   node -r ts-node/register/transpile-only -r tsconfig-paths/register bench/diagnostics/dm-send-path.ts
 *   (C=<concurrency>, default 10)
 */
import crypto from 'node:crypto';
import { Pool } from 'pg';
import { SocialClient } from '@app/client';
import { PrismaService } from '@app/database';
import { DirectMessagesService } from '@app/messaging';
import { startInProcessGateway, uniqueHandle } from '@app/harness';
import { ConversationRepository } from '../../libs/messaging/src/conversation.repository';
import { MessageRepository } from '../../libs/messaging/src/message.repository';
import { numberSetting } from '../support/env-settings';

async function main(): Promise<void> {
  const gw = await startInProcessGateway({ env: { DM_RATE_PER_SEC: '1000000', DM_RATE_BURST: '1000000' } });
  const prisma = gw.get(PrismaService);
  const users = await Promise.all(Array.from({ length: 20 }, () => SocialClient.login(gw.url, uniqueHandle('p'))));
  const concurrency = numberSetting('C', 10, { whole: true, min: 1 });
  const rate = async (label: string, fn: (lane: number) => Promise<unknown>, n = 300) => {
    let started = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async (_, lane) => {
        while (started < n) {
          started++;
          await fn(lane);
        }
      }),
    );
    console.log(`${label}: ${Math.round(n / ((performance.now() - t0) / 1000))}/s at concurrency ${concurrency}`);
  };
  const pair = (lane: number) => [users[lane].id, users[lane + 10].id] as const;

  await rate('prisma $queryRaw SELECT 1', () => prisma.$queryRaw`SELECT 1`);
  await rate('prisma interactive $transaction, 4 x SELECT 1', () =>
    prisma.$transaction(async (tx) => {
      for (let k = 0; k < 4; k++) await tx.$queryRaw`SELECT 1`;
    }),
  );
  const dms = gw.get(DirectMessagesService);
  await rate('DirectMessagesService.send', (lane) =>
    dms.send(pair(lane)[0], { to: pair(lane)[1], clientMsgId: crypto.randomUUID(), body: 'x' }),
  );
  const conversations = gw.get(ConversationRepository);
  const messages = gw.get(MessageRepository);
  await rate('ConversationRepository.ensureBetween', (lane) => conversations.ensureBetween(...pair(lane)));
  const convIds = await Promise.all(Array.from({ length: 10 }, (_, lane) => conversations.ensureBetween(...pair(lane))));
  await rate('MessageRepository.appendWithNextSeq', (lane) =>
    messages.appendWithNextSeq({
      conversationId: convIds[lane].id,
      senderId: pair(lane)[0],
      recipientId: pair(lane)[1],
      clientMsgId: crypto.randomUUID(),
      kind: 'text',
      body: 'x',
      at: new Date(),
    }),
  );
  const pool = new Pool({ connectionString: gw.db.url, max: 20 });
  // The same effects in one statement: next seq, insert, sender's read mark. A duplicate
  // clientMsgId fails the whole statement (no seq is taken), to be answered from the stored row.
  await rate(
    'pg pool: one-statement append',
    (lane) =>
      pool.query(
        `WITH c AS (UPDATE conversations SET last_seq = last_seq + 1, last_message_at = now() WHERE id = $1 RETURNING id, last_seq),
              m AS (INSERT INTO messages (id, conversation_id, seq, sender_id, recipient_id, client_msg_id, body)
                    SELECT gen_random_uuid(), c.id, c.last_seq, $2, $3, $4, 'x' FROM c RETURNING *),
              r AS (UPDATE conversation_members SET last_read_seq = GREATEST(last_read_seq, (SELECT last_seq FROM c))
                     WHERE conversation_id = $1 AND user_id = $2)
         SELECT * FROM m`,
        [convIds[lane].id, pair(lane)[0], pair(lane)[1], crypto.randomUUID()],
      ),
    1000,
  );
  await pool.end();
  await gw.close();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

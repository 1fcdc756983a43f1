/**
 * The messaging ceiling without storage: a bare socket.io server that relays
 * `{ to, clientMsgId, body }` to the recipient's room and acks the sender,
 * the same frame sizes and fan-out as dm:send but no validation, no database.
 * Run as its own process; prints its port on stdout.
 */
import http from 'node:http';
import { Server } from 'socket.io';

const server = http.createServer();
const io = new Server(server, { transports: ['websocket'] });

io.on('connection', (socket) => {
  const userId = String(socket.handshake.auth?.userId ?? socket.id);
  socket.join(userId);
  let seq = 0;
  socket.on('relay:send', (payload: { to: string; clientMsgId: string; body: string }, ack: (a: unknown) => void) => {
    const message = {
      id: payload.clientMsgId,
      senderId: userId,
      recipientId: payload.to,
      seq: ++seq,
      body: payload.body,
      clientMsgId: payload.clientMsgId,
      createdAt: new Date().toISOString(),
    };
    io.to(payload.to).emit('relay:new', { message });
    ack({ ok: true, data: { message } });
  });
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));

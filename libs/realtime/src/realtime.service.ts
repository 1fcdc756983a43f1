import { Injectable } from '@nestjs/common';
import type { Server } from 'socket.io';
import type { ServerEventName, ServerEvents } from '@app/contracts';

export type PresenceListener = (userId: string) => void | Promise<void>;

export function userRoom(userId: string): string {
  return `user:${userId}`;
}

/**
 * Who is connected, and delivery to all of a user's sockets. With the Redis
 * adapter the rooms span every gateway process, so these calls reach a user
 * wherever they are connected. Domain services use this, never a socket.
 */
@Injectable()
export class RealtimeService {
  private server?: Server;
  private holdsAlone: (userId: string) => boolean = () => false;
  private readonly onlineListeners: PresenceListener[] = [];
  private readonly offlineListeners: PresenceListener[] = [];

  /** `holdsAlone`: whether no other gateway process holds a socket of the user (see heldHereAlone). */
  attach(server: Server, holdsAlone?: (userId: string) => boolean): void {
    this.server = server;
    if (holdsAlone) this.holdsAlone = holdsAlone;
  }

  /**
   * Whether every socket the user has is on this process (or the user has
   * none on any other): then toUserLocal reaches all of them. False until
   * the gateway says, and whenever it cannot tell.
   */
  heldHereAlone(userId: string): boolean {
    return this.server !== undefined && this.holdsAlone(userId);
  }

  /** To every socket of the user. */
  toUser<E extends ServerEventName>(userId: string, event: E, payload: ServerEvents[E]): void {
    this.server?.to(userRoom(userId)).emit(event, payload);
  }

  /**
   * To the user's sockets held by this process only. For pushes every
   * gateway process receives anyway (a media node's samples): each delivers
   * to its own sockets, so every socket gets the push exactly once.
   */
  toUserLocal<E extends ServerEventName>(userId: string, event: E, payload: ServerEvents[E]): void {
    this.server?.local.to(userRoom(userId)).emit(event, payload);
  }

  /**
   * To every socket of several users but one socket (the sender's own): one
   * broadcast, so the payload is encoded once and crosses Redis once.
   */
  toUsers<E extends ServerEventName>(userIds: string[], exceptSocketId: string | undefined, event: E, payload: ServerEvents[E]): void {
    if (!this.server) return;
    const target = this.server.to(userIds.map(userRoom));
    (exceptSocketId ? target.except(exceptSocketId) : target).emit(event, payload);
  }

  /** Closes every socket of the user, on every gateway process (through the adapter). */
  async disconnectUser(userId: string): Promise<void> {
    this.server?.in(userRoom(userId)).disconnectSockets(true);
  }

  /** Sockets of the user on every gateway process. */
  async connectedSockets(userId: string): Promise<{ id: string }[]> {
    if (!this.server) return [];
    const sockets = await this.server.in(userRoom(userId)).fetchSockets();
    return sockets.map((s) => ({ id: s.id }));
  }

  async isOnline(userId: string): Promise<boolean> {
    return (await this.connectedSockets(userId)).length > 0;
  }

  /** Run when a user gets their first socket on this process. */
  onUserOnline(listener: PresenceListener): void {
    this.onlineListeners.push(listener);
  }

  /** Run when a user's last socket on this process goes. */
  onUserOffline(listener: PresenceListener): void {
    this.offlineListeners.push(listener);
  }

  /** Called by the connection gateway. */
  async notifyPresence(userId: string, online: boolean): Promise<void> {
    for (const l of online ? this.onlineListeners : this.offlineListeners) await l(userId);
  }
}

import crypto from 'node:crypto';
import { befriend, SocialClient } from '@app/client';
import { mapWithLimit } from './seeded-random';

export interface Population {
  clients: SocialClient[];
  /** Index into the run's gateway URLs of the gateway each client is on. */
  gatewayOf: number[];
  /** Friend pairs as indexes into clients, i < j. */
  friendships: [number, number][];
  friendsOf: number[][];
}

/**
 * Logs in `users` fresh simulated users, spread round-robin over the
 * gateways `urls` (user i on urls[i % n]), connects their sockets and makes
 * each one mutual contacts with its `friendsPerUser` nearest neighbours on a
 * ring (all pairs when that covers everyone), so every user has friends to
 * message and call without the quadratic cost of all pairs for big runs.
 */
export async function createPopulation(urls: string[], users: number, friendsPerUser: number): Promise<Population> {
  const gatewayOf = Array.from({ length: users }, (_, i) => i % urls.length);
  const run = crypto.randomBytes(3).toString('hex');
  const clients = await mapWithLimit(
    Array.from({ length: users }, (_, i) => i),
    32,
    async (i) => {
      const client = await SocialClient.login(urls[gatewayOf[i]], `sim_${run}_${i}`, `Sim ${i}`);
      return client.connect();
    },
  );
  const friendships = ringFriendships(users, friendsPerUser);
  await mapWithLimit(friendships, 32, ([a, b]) => befriend(clients[a], clients[b]));
  const friendsOf: number[][] = clients.map(() => []);
  for (const [a, b] of friendships) {
    friendsOf[a].push(b);
    friendsOf[b].push(a);
  }
  return { clients, gatewayOf, friendships, friendsOf };
}

export function ringFriendships(users: number, friendsPerUser: number): [number, number][] {
  const reach = Math.min(Math.floor(users / 2), Math.max(1, Math.ceil(friendsPerUser / 2)));
  const pairs = new Set<string>();
  const out: [number, number][] = [];
  for (let i = 0; i < users; i++) {
    for (let d = 1; d <= reach; d++) {
      const j = (i + d) % users;
      if (i === j) continue;
      const [a, b] = i < j ? [i, j] : [j, i];
      const key = `${a}:${b}`;
      if (pairs.has(key)) continue;
      pairs.add(key);
      out.push([a, b]);
    }
  }
  return out;
}

export function disconnectAll(population: Population | undefined): void {
  for (const client of population?.clients ?? []) client.disconnect();
}

// Inside the monorepo (@app/client): the core and the plain-RTP media for Node.
export * from './node';

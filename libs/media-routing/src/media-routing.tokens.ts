/** The MediaBus of this process (Redis when REDIS_URL is set, in memory otherwise). */
export const MEDIA_BUS = Symbol('MEDIA_BUS');

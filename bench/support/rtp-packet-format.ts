/** Shared by the RTP generator and its threads. */
export const PACKET_INTERVAL_MS = 20;
export const LATENCY_BUCKET_MS = 0.1;

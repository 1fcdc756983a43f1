import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/config';
import { MediaCluster, MediaNodePush } from '@app/media-routing';
import { RealtimeService } from '@app/realtime';

/**
 * What media nodes tell the participants on their own: consumers the node
 * made for a participant who joined with rtpCapabilities
 * (`media:consumer-added`, to that participant) and each interval's
 * quality sample (`call:quality`, to both). Every gateway process receives
 * every push; each delivers it only to the sockets it holds itself, so a
 * socket hears each push exactly once whichever process it is on. A push of
 * this process's own node whose every recipient has all of their sockets
 * here is delivered here alone, without going through Redis.
 */
@Injectable()
export class CallMediaPushes implements OnModuleInit {
  private readonly qualityPushes: boolean;

  constructor(
    private readonly cluster: MediaCluster,
    private readonly realtime: RealtimeService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.qualityPushes = config.calls.qualityIntervalMs > 0;
  }

  async onModuleInit(): Promise<void> {
    this.cluster.keepPushesHereWhen((push) => recipientsOf(push).every((userId) => this.realtime.heldHereAlone(userId)));
    // Subscribed before the process serves anyone: no push of a call set up here can be missed.
    await this.cluster.onPush((push) => this.deliver(push));
  }

  deliver(push: MediaNodePush): void {
    switch (push.type) {
      case 'consumer-added': {
        const { callId, userId, consumerId, producerId, kind, rtpParameters } = push.consumer;
        this.realtime.toUserLocal(userId, 'media:consumer-added', { callId, consumerId, producerId, kind, rtpParameters });
        return;
      }
      case 'quality': {
        // CALL_QUALITY_INTERVAL_MS=0: the node keeps its statistics but nobody is told.
        if (!this.qualityPushes) return;
        const { callId, at, legs } = push.sample;
        const payload = { callId, at, legs };
        for (const userId of push.participantIds) this.realtime.toUserLocal(userId, 'call:quality', payload);
        return;
      }
    }
  }
}

function recipientsOf(push: MediaNodePush): string[] {
  return push.type === 'consumer-added' ? [push.consumer.userId] : push.participantIds;
}

import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Client, NOOP_PROVIDER, OpenFeature, ProviderEvents } from '@openfeature/server-sdk';
import { Clock } from '@app/config';
import { DatabaseNotifications, NotificationHandler } from '@app/database';
import { CounterSeries, Logger, MetricsService, ROOT_LOGGER } from '@app/observability';
import { DatabaseFlagProvider } from './database-flag.provider';
import { FlagDefinitionCache } from './flag-definition.cache';
import { FLAG_EVALUATIONS_METRIC, FlagEvaluationMetricsHook } from './flag-evaluation-metrics.hook';
import { FLAG_CHANGE_CHANNEL, FlagDefinition, FlagRepository } from './flag.repository';
import { EXPOSURE_SOURCES, ExposureRecorder, ExposureSource } from './exposure-recorder';

export const VIDEO_CALL_FLAG = 'video_call';

export type FlagChangeListener = (key: string) => void | Promise<void>;

const RESYNC_RETRY_MS = 1_000;

/**
 * Flag evaluation for the rest of the server. Other modules ask here
 * (isEnabled / isEnabledForAll) and listen for changes (onChange).
 *
 * An evaluation given a source is an exposure: the flag's value decided
 * something for that user (what GET /flags or flags:changed showed, whether
 * a call:invite or media:produce was allowed). Each one is recorded for the
 * flag's experiment; one without a source (a check that decides nothing the
 * user sees) is not.
 *
 * Evaluation goes through an OpenFeature client (targetingKey = user id)
 * bound to this module's DatabaseFlagProvider. OpenFeature's API object is a
 * process-wide singleton, so each instance binds its provider to a domain
 * of its own: several gateways in one process (tests) never share flags.
 */
@Injectable()
export class FlagsService implements OnModuleInit, OnModuleDestroy {
  private readonly changes = new EventEmitter();
  private readonly domain = `social-flags-${crypto.randomUUID()}`;
  private readonly provider: DatabaseFlagProvider;
  private readonly client: Client;
  private readonly logger: Logger;
  private readonly exposuresBySource: Record<ExposureSource, CounterSeries>;
  // Reloads run one after another so an older read never overwrites a newer one.
  private reloads: Promise<void> = Promise.resolve();
  private resyncTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly repository: FlagRepository,
    private readonly definitions: FlagDefinitionCache,
    private readonly notifications: DatabaseNotifications,
    private readonly exposures: ExposureRecorder,
    private readonly clock: Clock,
    metrics: MetricsService,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'flags' });
    this.changes.setMaxListeners(0);
    this.provider = new DatabaseFlagProvider(definitions);
    this.client = OpenFeature.getClient(this.domain);
    this.client.setLogger(this.logger);
    this.client.addHooks(
      new FlagEvaluationMetricsHook(metrics.counter(FLAG_EVALUATIONS_METRIC, 'flag evaluations by flag and result', ['flag', 'result'])),
    );
    const exposureCounter = metrics.counter('flag_exposures_total', 'flag values that decided something for a user, by what they decided', [
      'source',
    ]);
    this.exposuresBySource = Object.fromEntries(
      EXPOSURE_SOURCES.map((source) => [source, metrics.counterSeries(exposureCounter, { source })]),
    ) as Record<ExposureSource, CounterSeries>;
    this.client.addHandler(ProviderEvents.ConfigurationChanged, (details) => {
      for (const key of details?.flagsChanged ?? []) this.emitChange(key);
    });
  }

  async onModuleInit(): Promise<void> {
    // Listen first, then load: a change committed in between is reloaded, not missed.
    const feed: NotificationHandler = { message: (key) => this.changed(key), resync: () => this.resync() };
    await this.notifications.subscribe(FLAG_CHANGE_CHANNEL, feed);
    this.definitions.replaceAll(await this.repository.findAll());
    await OpenFeature.setProviderAndWait(this.domain, this.provider);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.resyncTimer);
    this.changes.removeAllListeners();
    await OpenFeature.setProviderAndWait(this.domain, NOOP_PROVIDER).catch(() => undefined);
  }

  /** The flag's value for the user (off for an unknown flag); recorded as an exposure when a source is given. */
  async isEnabled(key: string, userId: string, source?: ExposureSource): Promise<boolean> {
    if (source === undefined) return this.client.getBooleanValue(key, false, { targetingKey: userId });
    const details = await this.client.getBooleanDetails(key, false, { targetingKey: userId });
    // An unknown flag or a failed evaluation decided nothing about the flag: not an exposure.
    if (details.errorCode === undefined) {
      this.exposures.record(key, userId, details.value, this.clock.now());
      this.exposuresBySource[source].inc();
    }
    return details.value;
  }

  /** True when the flag is on for every one of the users (video needs both callers); each user's value is an exposure. */
  async isEnabledForAll(key: string, userIds: string[], source?: ExposureSource): Promise<boolean> {
    if (userIds.length === 0) return false;
    const results = await Promise.all(userIds.map((id) => this.isEnabled(key, id, source)));
    return results.every(Boolean);
  }

  /** Every known flag evaluated for one user (GET /flags, flags:changed). */
  async evaluateAll(userId: string, source?: ExposureSource): Promise<Record<string, boolean>> {
    const flags: Record<string, boolean> = {};
    for (const key of this.definitions.keys()) flags[key] = await this.isEnabled(key, userId, source);
    return flags;
  }

  /** Listener runs in every gateway process after a flag's definition changed (whichever process changed it). */
  onChange(listener: FlagChangeListener): void {
    this.changes.on('change', (key: string) => {
      Promise.resolve()
        .then(() => listener(key))
        .catch((err) => this.logger.error({ err, key }, 'flag change listener failed'));
    });
  }

  /**
   * A change this process just committed: evaluated from and announced here
   * at once, so the push to this process's sockets has begun before the
   * change is answered. Its echo through the change feed finds nothing new.
   */
  applyCommitted(definition: FlagDefinition): void {
    if (this.definitions.set(definition)) this.provider.announceChanged([definition.key]);
  }

  /** A change announced through the database by any process (this one's own are already applied). */
  private changed(key: string): void {
    this.reload(async () => {
      const definition = await this.repository.find(key);
      const isNews = definition ? this.definitions.set(definition) : this.definitions.delete(key);
      if (isNews) this.provider.announceChanged([key]);
    });
  }

  /** Announcements may have been missed; compare everything. */
  private resync(): void {
    this.reload(async () => {
      this.provider.announceChanged(this.definitions.replaceAll(await this.repository.findAll()));
    });
  }

  protected emitChange(key: string): void {
    this.changes.emit('change', key);
  }

  private reload(work: () => Promise<void>): void {
    if (this.stopped) return;
    this.reloads = this.reloads.then(work).catch((err) => {
      this.logger.error({ err }, 'reloading flag definitions failed; retrying');
      if (this.stopped) return;
      clearTimeout(this.resyncTimer);
      this.resyncTimer = setTimeout(() => this.resync(), RESYNC_RETRY_MS);
    });
  }
}

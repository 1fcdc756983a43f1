import { ConnectionStates, recordTimerLag } from './connection-states';
import { DURATION_BUCKETS, MetricsService, metricsPrefixFromEnv, withPrefix } from './metrics.service';

describe('MetricsService.counterSeries', () => {
  it('adds hot-path bumps to the counter when the metrics are rendered, each series under its own labels', async () => {
    const metrics = new MetricsService({ prefix: '' });
    const counter = metrics.counter('things_total', 'things', ['kind']);
    const a = metrics.counterSeries(counter, { kind: 'a' });
    const b = metrics.counterSeries(counter, { kind: 'b' });
    a.inc();
    a.inc(2);
    b.inc();
    counter.inc({ kind: 'a' }); // direct increments still count
    expect((await metrics.render()).body).toMatch(/things_total\{kind="a"\} 4\n/);
    a.inc();
    const body = (await metrics.render()).body;
    expect(body).toMatch(/things_total\{kind="a"\} 5\n/);
    expect(body).toMatch(/things_total\{kind="b"\} 1\n/);
  });
});

describe('metric names', () => {
  it('puts the prefix before every exported name, default process metrics and direct registrations included', async () => {
    const metrics = new MetricsService({ prefix: 'smb_' });
    metrics.counter('things_total', 'things', ['kind']).inc({ kind: 'a' });
    // Registered on the registry directly, as some libraries do: still prefixed at /metrics.
    const { Gauge } = await import('prom-client');
    new Gauge({ name: 'direct_gauge', help: 'direct', registers: [metrics.registry] }).set(3);
    const body = (await metrics.render()).body;
    const lines = body.split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThan(20);
    for (const line of lines) {
      expect(line).toMatch(/^(# (HELP|TYPE) )?smb_[a-zA-Z_:]/);
    }
    expect(body).toContain('smb_things_total{kind="a"} 1');
    expect(body).toContain('# TYPE smb_direct_gauge gauge');
    expect(body).toContain('smb_process_cpu_user_seconds_total');
    // Looked up by the short name, as before.
    expect(metrics.registry.getSingleMetric('things_total')).toBeDefined();
    expect(metrics.exportedName('things_total')).toBe('smb_things_total');
  });

  it('takes the prefix from METRICS_PREFIX (smb_ when unset, none when empty) and refuses an invalid one', () => {
    expect(metricsPrefixFromEnv({})).toBe('smb_');
    expect(metricsPrefixFromEnv({ METRICS_PREFIX: '' })).toBe('');
    expect(metricsPrefixFromEnv({ METRICS_PREFIX: 'chat_' })).toBe('chat_');
    expect(() => metricsPrefixFromEnv({ METRICS_PREFIX: '9-bad' })).toThrow(/METRICS_PREFIX/);
    expect(withPrefix('# HELP a_total x\n# TYPE a_total counter\na_total 1\n', 'p_')).toBe(
      '# HELP p_a_total x\n# TYPE p_a_total counter\np_a_total 1\n',
    );
    expect(withPrefix('a 1\n', '')).toBe('a 1\n');
  });

  it('gives duration histograms buckets below a millisecond', async () => {
    const metrics = new MetricsService({ prefix: '' });
    metrics.histogram('op_duration_seconds', 'op', ['op']).observe({ op: 'x' }, 0.0003);
    const body = (await metrics.render()).body;
    expect(Math.min(...DURATION_BUCKETS)).toBeLessThan(0.001);
    expect(body).toContain('op_duration_seconds_bucket{le="0.0001",op="x"} 0');
    expect(body).toContain('op_duration_seconds_bucket{le="0.0005",op="x"} 1');
    // Explicit buckets still win.
    metrics.histogram('sizes', 'sizes', [], [1, 2]).observe(2);
    expect((await metrics.render()).body).toContain('sizes_bucket{le="1"} 0');
  });
});

describe('ConnectionStates', () => {
  it('follows a client up and down as redis_connected and lists what is down', async () => {
    const { EventEmitter } = await import('node:events');
    const metrics = new MetricsService({ prefix: 'smb_' });
    const states = new ConnectionStates(metrics);
    const client = Object.assign(new EventEmitter(), { isReady: false });
    states.track('media-bus', client);
    expect(states.down()).toEqual(['media-bus']);
    client.emit('ready');
    expect(states.down()).toEqual([]);
    expect((await metrics.render()).body).toContain('smb_redis_connected{connection="media-bus"} 1');
    client.emit('reconnecting');
    expect(states.snapshot()).toEqual({ 'media-bus': false });
    expect((await metrics.render()).body).toContain('smb_redis_connected{connection="media-bus"} 0');
    states.forget('media-bus');
    expect(states.down()).toEqual([]);
    expect((await metrics.render()).body).not.toContain('connection="media-bus"');
  });

  it('records how late a durable timer fired', async () => {
    const metrics = new MetricsService({ prefix: '' });
    recordTimerLag(metrics, 'call-timeout', new Date(10_000), new Date(10_250));
    recordTimerLag(metrics, 'call-timeout', new Date(20_000), new Date(19_000)); // early counts as on time
    const body = (await metrics.render()).body;
    expect(body).toContain('timer_queue_lag_seconds{queue="call-timeout"} 0');
    expect(body).toContain('timer_lag_seconds_count{queue="call-timeout"} 2');
    expect(body).toContain('timer_lag_seconds_sum{queue="call-timeout"} 0.25');
  });
});

import { EventEmitter } from 'node:events';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { SpanKind, startSpan, startTracing, stopTracing, traceCarrier, tracingEnabled, withSpan, withTraceCarrier } from './tracing';

describe('tracing helpers', () => {
  // A stopped provider shuts its exporter down: one exporter per test.
  let exporter: InMemorySpanExporter;
  beforeEach(() => {
    exporter = new InMemorySpanExporter();
  });
  afterEach(async () => {
    await stopTracing();
  });

  it('does nothing and costs nothing while off', async () => {
    expect(tracingEnabled()).toBe(false);
    expect(await withSpan('off', {}, async (span) => (span === undefined ? 'ran' : 'span'))).toBe('ran');
    expect(startSpan('off', {})).toBeUndefined();
    expect(traceCarrier()).toBeUndefined();
    expect(withTraceCarrier({ traceparent: 'x' }, () => 7)).toBe(7);
  });

  it('nests spans across awaits and marks a failure', async () => {
    startTracing({ exporter, exportEachSpan: true, service: 'test', role: 'gateway' });
    await withSpan(
      'socket dm:send',
      { 'messaging.event': 'dm:send' },
      async () => {
        await new Promise((r) => setImmediate(r));
        await withSpan('db append', {}, async () => undefined);
        await expect(withSpan('fails', {}, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
      },
      { kind: SpanKind.SERVER },
    );
    const spans = exporter.getFinishedSpans();
    const byName = Object.fromEntries(spans.map((s) => [s.name, s]));
    expect(Object.keys(byName).sort()).toEqual(['db append', 'fails', 'socket dm:send']);
    const root = byName['socket dm:send'];
    expect(root.parentSpanContext).toBeUndefined();
    expect(root.kind).toBe(SpanKind.SERVER);
    expect(root.attributes['messaging.event']).toBe('dm:send');
    expect(root.resource.attributes['service.name']).toBe('test');
    expect(root.resource.attributes['process.role']).toBe('gateway');
    for (const child of ['db append', 'fails']) {
      expect(byName[child].spanContext().traceId).toBe(root.spanContext().traceId);
      expect(byName[child].parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    }
    expect(byName.fails.status.code).toBe(2);
    expect(byName['db append'].status.code).toBe(0);
  });

  it('continues a trace in another process from the carrier a message takes along (the media bus envelope)', async () => {
    startTracing({ exporter, exportEachSpan: true });
    const bus = new EventEmitter();
    const handled = new Promise<void>((resolve) => {
      bus.on('request', (envelope: { method: string; traceContext?: Record<string, string> }) => {
        // The node side: resumes the gateway's trace, in an async flow of its own.
        setImmediate(() =>
          withTraceCarrier(envelope.traceContext, () =>
            withSpan(`media ${envelope.method}`, {}, async () => resolve(), { kind: SpanKind.SERVER }),
          ),
        );
      });
    });
    await withSpan(
      'media request join',
      {},
      async () => {
        const carrier = traceCarrier();
        expect(carrier?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
        bus.emit('request', { method: 'join', traceContext: carrier });
      },
      { kind: SpanKind.CLIENT },
    );
    await handled;
    const [client] = exporter.getFinishedSpans().filter((s) => s.name === 'media request join');
    await new Promise((r) => setImmediate(r));
    const [server] = exporter.getFinishedSpans().filter((s) => s.name === 'media join');
    expect(server.spanContext().traceId).toBe(client.spanContext().traceId);
    expect(server.parentSpanContext?.spanId).toBe(client.spanContext().spanId);
    // A carrier that is not a trace context starts nothing odd: a new root.
    await withTraceCarrier({ traceparent: 'garbage' }, () => withSpan('fresh', {}, async () => undefined));
    expect(exporter.getFinishedSpans().find((s) => s.name === 'fresh')?.parentSpanContext).toBeUndefined();
  });
});

import { AsyncLocalStorage } from 'node:async_hooks';
import {
  Attributes,
  Context,
  ContextManager,
  ROOT_CONTEXT,
  Span,
  SpanKind,
  SpanStatusCode,
  TextMapGetter,
  TextMapPropagator,
  TextMapSetter,
  context,
  propagation,
  trace,
} from '@opentelemetry/api';
import type { BasicTracerProvider, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { processIdentity } from './logger';

/*
 * OpenTelemetry traces. Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (or a
 * test installs an exporter): then every helper here costs a flag check.
 * On, spans follow one piece of work: an HTTP request or a socket event on
 * the gateway, the media request it makes over the bus, the node's handling.
 */

const TRACER_NAME = 'social-messaging-backend';

// The SDK and the exporter are loaded only when tracing starts: a process
// without OTEL_EXPORTER_OTLP_ENDPOINT does not pay for loading them at start.
/* eslint-disable @typescript-eslint/no-require-imports */
const sdk = () => require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
const resources = () => require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
const otlp = () => require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
/* eslint-enable @typescript-eslint/no-require-imports */

let active: { provider: BasicTracerProvider; contexts: AsyncContextManager } | undefined;

/** Whether spans are being recorded and exported in this process. */
export function tracingEnabled(): boolean {
  return active !== undefined;
}

export interface TracingOptions {
  /** Where spans go; default: OTLP over HTTP to OTEL_EXPORTER_OTLP_ENDPOINT (batched). */
  exporter?: SpanExporter;
  /** Export each span as it ends (tests) instead of in batches. */
  exportEachSpan?: boolean;
  service?: string;
  role?: string;
}

/**
 * Starts tracing for this process when OTEL_EXPORTER_OTLP_ENDPOINT (or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; does nothing otherwise, or
 * when tracing is already on. The exporter reads the OTEL_EXPORTER_OTLP_*
 * variables itself (headers, timeout).
 */
export function startTracingFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  if (active) return true;
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT && !env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return false;
  startTracing({ exporter: new (otlp().OTLPTraceExporter)() });
  return true;
}

/** Starts tracing with the given exporter (replacing tracing already on). */
export function startTracing(options: TracingOptions = {}): void {
  if (active) void stopTracing();
  const { service, role } = processIdentity({ service: options.service, role: options.role });
  const { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor } = sdk();
  const exporter = options.exporter ?? new (otlp().OTLPTraceExporter)();
  const processor: SpanProcessor = options.exportEachSpan ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter);
  const provider = new BasicTracerProvider({
    resource: resources().resourceFromAttributes({
      'service.name': service,
      'service.namespace': 'social-messaging',
      'process.role': role,
    }),
    spanProcessors: [processor],
  });
  const contexts = new AsyncContextManager();
  context.setGlobalContextManager(contexts);
  propagation.setGlobalPropagator(new TraceParentPropagator());
  trace.setGlobalTracerProvider(provider);
  active = { provider, contexts };
}

/** Exports what is pending and turns tracing off (process stop, end of a test). */
export async function stopTracing(): Promise<void> {
  const current = active;
  if (!current) return;
  active = undefined;
  trace.disable();
  context.disable();
  propagation.disable();
  await current.provider.forceFlush().catch(() => undefined);
  await current.provider.shutdown().catch(() => undefined);
}

/** Exports the spans ended so far (before a stop, or in a test before reading them). */
export async function flushTracing(): Promise<void> {
  await active?.provider.forceFlush();
}

export interface SpanOptions {
  kind?: SpanKind;
}

/**
 * Runs `fn` inside a new span (a child of the active one): work it starts,
 * awaited or not, sees the span as its parent. The span ends when `fn`
 * returns or its promise settles, and is marked failed when it throws.
 */
export function withSpan<T>(name: string, attributes: Attributes, fn: (span?: Span) => T, options: SpanOptions = {}): T {
  if (!active) return fn();
  return trace.getTracer(TRACER_NAME).startActiveSpan(name, { attributes, kind: options.kind ?? SpanKind.INTERNAL }, (span) => {
    let result: T;
    try {
      result = fn(span);
    } catch (err) {
      failSpan(span, err);
      span.end();
      throw err;
    }
    if (result instanceof Promise) {
      return result.then(
        (value) => {
          span.end();
          return value;
        },
        (err: unknown) => {
          failSpan(span, err);
          span.end();
          throw err;
        },
      ) as T;
    }
    span.end();
    return result;
  });
}

/**
 * A span its caller ends (e.g. when a response finishes); undefined when
 * tracing is off. `parent` defaults to the active context.
 */
export function startSpan(name: string, attributes: Attributes, options: SpanOptions & { parent?: Context } = {}): Span | undefined {
  if (!active) return undefined;
  return trace
    .getTracer(TRACER_NAME)
    .startSpan(name, { attributes, kind: options.kind ?? SpanKind.INTERNAL }, options.parent ?? context.active());
}

/** Runs `fn` with `span` as the active span (its children's parent). */
export function runInSpan<T>(span: Span | undefined, fn: () => T): T {
  if (!span) return fn();
  return context.with(trace.setSpan(context.active(), span), fn);
}

/** Records an error on a span and marks it failed. */
export function failSpan(span: Span | undefined, err: unknown, message?: string): void {
  if (!span) return;
  if (err instanceof Error) span.recordException(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: message ?? (err instanceof Error ? err.message : String(err)) });
}

/** The W3C trace context of the active span, for a message to another process; undefined when there is none. */
export function traceCarrier(): Record<string, string> | undefined {
  if (!active || !trace.getSpan(context.active())) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return Object.keys(carrier).length > 0 ? carrier : undefined;
}

/** Runs `fn` as a continuation of the trace a message carried (see traceCarrier); just runs it when there is none. */
export function withTraceCarrier<T>(carrier: Record<string, unknown> | undefined, fn: () => T): T {
  if (!active || !carrier) return fn();
  return context.with(propagation.extract(ROOT_CONTEXT, carrier, CARRIER_GETTER), fn);
}

/** The parent context of an incoming HTTP request (its `traceparent` header), else the active context. */
export function contextFromHeaders(headers: Record<string, string | string[] | undefined>): Context {
  return propagation.extract(context.active(), headers, CARRIER_GETTER);
}

const CARRIER_GETTER: TextMapGetter<Record<string, unknown>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key];
    if (typeof value === 'string') return value;
    if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
    return undefined;
  },
};

/**
 * The active context per async flow (AsyncLocalStorage), the one thing
 * traces need from Node to follow awaits and callbacks.
 */
class AsyncContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();

  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.storage.run(ctx, () => fn.apply(thisArg, args));
  }

  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const run = (...args: unknown[]) => this.storage.run(ctx, () => (target as (...a: unknown[]) => unknown)(...args));
    return run as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.storage.disable();
    return this;
  }
}

/** W3C Trace Context (`traceparent`, `tracestate`): what OTLP back ends and other services expect. */
class TraceParentPropagator implements TextMapPropagator {
  private static readonly HEADER = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const spanContext = trace.getSpanContext(ctx);
    if (!spanContext || !trace.isSpanContextValid(spanContext)) return;
    const flags = `0${(spanContext.traceFlags & 0xff).toString(16)}`.slice(-2);
    setter.set(carrier, 'traceparent', `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`);
    const state = spanContext.traceState?.serialize();
    if (state) setter.set(carrier, 'tracestate', state);
  }

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const raw = getter.get(carrier, 'traceparent');
    const header = Array.isArray(raw) ? raw[0] : raw;
    const match = typeof header === 'string' ? TraceParentPropagator.HEADER.exec(header.trim()) : null;
    if (!match) return ctx;
    const spanContext = { traceId: match[1], spanId: match[2], traceFlags: parseInt(match[3], 16), isRemote: true };
    if (!trace.isSpanContextValid(spanContext)) return ctx;
    return trace.setSpanContext(ctx, spanContext);
  }

  fields(): string[] {
    return ['traceparent', 'tracestate'];
  }
}

export { SpanKind };
export type { Span, Attributes };

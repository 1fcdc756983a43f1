import { z } from 'zod';
import { HTTP_ROUTE_SPECS, HTTP_STATUS_BY_CODE, HttpRouteSpec, responseSchemas } from '@app/contracts';
import { JsonSchema, toJsonSchema } from './json-schema';

const SECURITY: Record<HttpRouteSpec['auth'], JsonSchema[]> = {
  none: [],
  user: [{ userToken: [] }],
  admin: [{ adminToken: [] }],
  apiKey: [{ apiKey: [] }],
};

/** `/contacts/:userId` → `/contacts/{userId}` */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z_]\w*)/g, '{$1}');
}

function operationId(route: HttpRouteSpec): string {
  const words = route.path
    .split('/')
    .filter(Boolean)
    .map((w) => w.replace(/^:/, 'by-').replace(/[^A-Za-z0-9]+(.)?/g, (_, c?: string) => (c ? c.toUpperCase() : '')));
  return [route.method.toLowerCase(), ...words.map((w) => w[0].toUpperCase() + w.slice(1))].join('');
}

function successContent(route: HttpRouteSpec): JsonSchema {
  const response = route.response;
  if (response instanceof z.ZodType) return { 'application/json': { schema: toJsonSchema(response) } };
  return { [response.contentType]: { schema: { type: 'string' } } };
}

function operation(route: HttpRouteSpec): JsonSchema {
  const parameters: JsonSchema[] = [];
  for (const [name, schema] of Object.entries(route.params ?? {})) {
    parameters.push({ name, in: 'path', required: true, schema: toJsonSchema(schema) });
  }
  if (route.query) {
    const shape = route.query.shape as Record<string, z.ZodTypeAny>;
    for (const [name, schema] of Object.entries(shape)) {
      parameters.push({ name, in: 'query', required: !schema.isOptional(), schema: toJsonSchema(schema) });
    }
  }
  const responses: JsonSchema = {
    '200': { description: 'Success', content: successContent(route) },
    default: {
      description: `Failure: the error envelope; the status goes with the code (${Object.entries(HTTP_STATUS_BY_CODE)
        .map(([code, status]) => `${code} ${status}`)
        .join(', ')})`,
      content: { 'application/json': { schema: toJsonSchema(responseSchemas.httpError) } },
    },
  };
  if (route.unavailable) {
    responses['503'] = { description: 'A part is down (or the process drains)', content: successContent(route) };
  }
  return {
    operationId: operationId(route),
    summary: route.summary,
    security: SECURITY[route.auth],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.body
      ? { requestBody: { required: false, content: { 'application/json': { schema: toJsonSchema(route.body) } } } }
      : {}),
    responses,
  };
}

/** The HTTP API as an OpenAPI 3.1 document, from the contracts' schemas. */
export function buildOpenApiDocument(options: { serverUrl: string; version: string }): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of HTTP_ROUTE_SPECS) {
    (paths[openApiPath(route.path)] ??= {})[route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Social messaging backend: HTTP API',
      version: options.version,
      description: 'JSON over HTTP on the same port as the socket.io events (see /docs/asyncapi.json).',
    },
    servers: [{ url: options.serverUrl }],
    paths,
    components: {
      securitySchemes: {
        userToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'A user token from POST /auth/tokens (or POST /auth/dev-login where it is on); it expires at expiresAt.',
        },
        adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN of the server.' },
        apiKey: { type: 'http', scheme: 'bearer', description: "AUTH_API_KEY of the server: the operator's backend only." },
      },
    },
  };
}

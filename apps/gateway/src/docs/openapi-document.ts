import { z } from 'zod';
import { HTTP_ROUTE_SPECS, HTTP_STATUS_BY_CODE, HttpRouteSpec, responseSchemas } from '@app/contracts';
import { contractSchemas } from './contract-schemas';
import { exampleOf, JsonSchema, pascalName, SchemaComponents } from './json-schema';

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

/** Operations are tagged by the first segment of their path. */
const ROUTE_TAGS: Record<string, string> = {
  auth: 'Tokens: dev login and server-to-server issuing.',
  admin: 'Operator API: token revocation, flags, experiments (ADMIN_TOKEN).',
  users: 'Users.',
  contacts: 'Your contacts.',
  blocks: 'Users you blocked.',
  conversations: 'Conversations and their messages.',
  calls: 'Call history.',
  flags: 'Feature flags evaluated for you.',
  health: 'Liveness, readiness and the state of each part.',
  metrics: 'Prometheus metrics.',
  demo: 'The browser client.',
  docs: 'These documents.',
};

function tagOf(route: HttpRouteSpec): string {
  const segment = route.path.split('/')[1];
  if (!(segment in ROUTE_TAGS)) throw new Error(`no tag for ${route.path}: add ${segment} to ROUTE_TAGS`);
  return segment;
}

/** The placeholder server of the committed document; the gateway serves it with the address the client used. */
export const DOCUMENT_SERVER_URL = 'http://localhost:3000';

class OpenApiBuilder {
  /** Schemas converted for a media type, with their examples filled in once every component is known. */
  private readonly examples: { target: JsonSchema; schema: JsonSchema }[] = [];

  constructor(private readonly schemas: SchemaComponents) {}

  operation(route: HttpRouteSpec): JsonSchema {
    const id = operationId(route);
    const parameters: JsonSchema[] = [];
    for (const [name, schema] of Object.entries(route.params ?? {})) {
      parameters.push({ name, in: 'path', required: true, schema: this.schemas.convert(schema) });
    }
    if (route.query) {
      const shape = route.query.shape as Record<string, z.ZodTypeAny>;
      for (const [name, schema] of Object.entries(shape)) {
        // Optional is the parameter's `required: false`, not part of its schema.
        const value = schema instanceof z.ZodOptional ? (schema.unwrap() as z.ZodTypeAny) : schema;
        parameters.push({ name, in: 'query', required: !schema.isOptional(), schema: this.schemas.convert(value) });
      }
    }
    const responses: JsonSchema = {
      '200': { description: 'Success', content: this.successContent(route, id) },
      default: {
        description: `Failure: the error envelope; the status goes with the code (${Object.entries(HTTP_STATUS_BY_CODE)
          .map(([code, status]) => `${code} ${status}`)
          .join(', ')})`,
        content: this.json(responseSchemas.httpError),
      },
    };
    if (route.unavailable) {
      responses['503'] = { description: 'A part is down (or the process drains)', content: this.successContent(route, id) };
    }
    if (route.body) this.schemas.name(`${pascalName(id)}Body`, route.body);
    return {
      operationId: id,
      summary: route.summary,
      tags: [tagOf(route)],
      security: SECURITY[route.auth],
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(route.body ? { requestBody: { required: false, content: this.json(route.body) } } : {}),
      responses,
    };
  }

  /** Fills in every media type's example, once all the components it may refer to are known. */
  addExamples(components: Record<string, JsonSchema>): void {
    for (const { target, schema } of this.examples) target.example = exampleOf(schema, components);
  }

  private successContent(route: HttpRouteSpec, id: string): JsonSchema {
    const response = route.response;
    if (response instanceof z.ZodType) {
      this.schemas.name(`${pascalName(id)}Response`, response);
      return this.json(response);
    }
    return { [response.contentType]: { schema: { type: 'string' } } };
  }

  private json(schema: z.ZodTypeAny): JsonSchema {
    const mediaType: JsonSchema = { schema: this.schemas.convert(schema) };
    this.examples.push({ target: mediaType, schema: mediaType.schema as JsonSchema });
    return { 'application/json': mediaType };
  }
}

/**
 * The HTTP API as an OpenAPI 3.1 document, from the contracts' schemas:
 * named schemas under components.schemas, operations tagged by path, an
 * example for every JSON body.
 */
export function buildOpenApiDocument(options: { serverUrl?: string; version: string }): JsonSchema {
  const schemas = contractSchemas();
  const builder = new OpenApiBuilder(schemas);
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of HTTP_ROUTE_SPECS) {
    (paths[openApiPath(route.path)] ??= {})[route.method.toLowerCase()] = builder.operation(route);
  }
  const componentSchemas = schemas.components();
  builder.addExamples(componentSchemas);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Social messaging backend: HTTP API',
      version: options.version,
      description: 'JSON over HTTP on the same port as the socket.io events (see /docs/asyncapi.json).',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: options.serverUrl ?? DOCUMENT_SERVER_URL }],
    tags: Object.entries(ROUTE_TAGS).map(([name, description]) => ({ name, description })),
    paths,
    components: {
      schemas: componentSchemas,
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

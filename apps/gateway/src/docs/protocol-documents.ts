import fs from 'node:fs';
import path from 'node:path';
import { PROTOCOL_VERSION } from '@app/contracts';
import { buildAsyncApiDocument } from './asyncapi-document';
import { JsonSchema } from './json-schema';
import { buildOpenApiDocument } from './openapi-document';

/** The command that writes the committed documents (quoted by the staleness check). */
export const DOCS_COMMAND = 'npm run docs';

/** Where the documents are committed, relative to the repository's root. */
export const DOCUMENT_FILES = { asyncapi: 'docs/asyncapi.json', openapi: 'docs/openapi.json' } as const;

export interface ProtocolDocuments {
  asyncapi: JsonSchema;
  openapi: JsonSchema;
}

let built: ProtocolDocuments | undefined;

/** Both documents, built from the contracts once per process (they only change with the code). */
export function protocolDocuments(): ProtocolDocuments {
  built ??= {
    asyncapi: buildAsyncApiDocument({ version: PROTOCOL_VERSION }),
    openapi: buildOpenApiDocument({ version: PROTOCOL_VERSION }),
  };
  return built;
}

/** The documents' file contents, as `npm run docs` writes them: two-space JSON and a final newline. */
export function renderDocumentFiles(): Record<keyof typeof DOCUMENT_FILES, string> {
  const docs = protocolDocuments();
  return { asyncapi: `${JSON.stringify(docs.asyncapi, null, 2)}\n`, openapi: `${JSON.stringify(docs.openapi, null, 2)}\n` };
}

/** The committed files that differ from what the contracts make now (empty when all are current). */
export function staleDocumentFiles(root: string): string[] {
  const rendered = renderDocumentFiles();
  return (Object.keys(DOCUMENT_FILES) as (keyof typeof DOCUMENT_FILES)[])
    .filter((key) => {
      const file = path.join(root, DOCUMENT_FILES[key]);
      return !fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== rendered[key];
    })
    .map((key) => DOCUMENT_FILES[key]);
}

/** Writes the files that changed; returns them. */
export function writeDocumentFiles(root: string): string[] {
  const stale = staleDocumentFiles(root);
  const rendered = renderDocumentFiles();
  for (const key of Object.keys(DOCUMENT_FILES) as (keyof typeof DOCUMENT_FILES)[]) {
    if (!stale.includes(DOCUMENT_FILES[key])) continue;
    const file = path.join(root, DOCUMENT_FILES[key]);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, rendered[key]);
  }
  return stale;
}

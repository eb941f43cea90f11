import { readFileSync } from 'node:fs';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { Hono } from 'hono';
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

/** The parts of an OpenAPI 3.1 document the page shows, read loosely: the generator's types are not ours. */
interface Schema {
  $ref?: string;
  type?: string | string[];
  format?: string;
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema | boolean;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
}
interface MediaType {
  schema?: Schema;
  examples?: Record<string, { summary?: string; value?: unknown }>;
}
interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  description?: string;
  schema?: Schema;
}
interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: Parameter[];
  requestBody?: { content?: Record<string, MediaType> };
  responses?: Record<string, { description?: string; headers?: Record<string, { description?: string }>; content?: Record<string, MediaType> }>;
}
export interface ApiDocument {
  openapi: string;
  info: { title: string; version: string; description?: string };
  paths?: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema>; securitySchemes?: Record<string, { description?: string; scheme?: string }> };
}

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const MAX_DEPTH = 4;

/** Nothing may load from elsewhere: the page works offline, and a browser enforces it. */
const CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** `GET /openapi.json` and `GET /docs`, built once from the root app's registry on first request. */
export function docsRoutes(root: Pick<OpenAPIHono, 'getOpenAPI31Document'>) {
  let document: ApiDocument | undefined;
  let page: string | undefined;
  const load = () =>
    (document ??= root.getOpenAPI31Document({
      openapi: '3.1.0',
      info: {
        title: 'contact-sync',
        version: packageVersion(),
        description: 'Applies Polser-style contact webhooks to PostgreSQL exactly once, one phone at a time. The API under /api/v1 takes `Authorization: Bearer <key>`.',
      },
    }) as ApiDocument);

  const app = new Hono();
  // Someone who opens the service's address: a browser is taken to the pages, anything else is
  // told where things are.
  app.get('/', (c) => (prefersHtml(c.req.header('accept')) ? c.redirect('/ui', 302) : c.json(INDEX)));
  app.get('/openapi.json', (c) => c.json(load()));
  app.get('/docs', async (c) => {
    page ??= (await renderPage(load())).toString();
    c.header('Content-Security-Policy', CSP);
    return c.html(page);
  });
  return app;
}

const INDEX = {
  service: 'contact-sync',
  webhook: 'POST /webhooks/{token} (bulk: POST /webhooks/{token}/bulk)',
  api: '/api/v1 (Authorization: Bearer <key>)',
  docs: '/docs',
  openapi: '/openapi.json',
  pages: '/ui',
  health: '/healthz',
  ready: '/readyz',
  metrics: '/metrics',
};

/** A browser's Accept names text/html; curl's and most HTTP clients' is `*\/*` or JSON. */
const prefersHtml = (accept: string | undefined) => accept !== undefined && /(^|,)\s*text\/html\s*(;|,|$)/i.test(accept);

/** Read when first needed, not at import: `package.json` sits two levels up from both src/routes and dist/routes. */
function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

const operationsOf = (doc: ApiDocument) =>
  Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
    METHODS.filter((method) => item[method]).map((method) => ({ path, method, op: item[method]!, id: `op-${method}${path.replace(/[^a-z0-9]+/gi, '-').replace(/-$/, '')}` })),
  );

function renderPage(doc: ApiDocument): Html {
  const operations = operationsOf(doc);
  const schemas = Object.entries(doc.components?.schemas ?? {});
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${doc.info.title} ${doc.info.version} — API reference</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem 2rem; color: #1d2330; }
code, pre, .type { font-family: ui-monospace, monospace; font-size: 13px; }
pre { background: #f4f5f7; padding: .75rem; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: .25rem 0 .75rem; }
th, td { border-bottom: 1px solid #e3e5ea; padding: .3rem .5rem; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
section.op { border-top: 2px solid #e3e5ea; padding-top: .5rem; margin-top: 1.5rem; }
.method { display: inline-block; min-width: 4rem; font-weight: 700; text-transform: uppercase; }
.get { color: #1a6e2e; } .post { color: #1d4ed8; } .delete { color: #b42318; } .put, .patch { color: #9a5b00; }
.req { color: #b42318; } .muted { color: #5b6475; }
nav ul { columns: 2; }
@media (max-width: 640px) { body { padding: 1rem; } nav ul { columns: 1; } }
</style>
</head>
<body>
<h1>${doc.info.title} <small class="muted">${doc.info.version}</small></h1>
<p>${prose(doc.info.description)}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI ${doc.openapi}).</p>
${renderSecuritySchemes(doc)}
<nav><h2>Operations</h2><ul>
${operations.map(({ method, path, op, id }) => html`<li><a href="#${id}"><span class="method ${method}">${method}</span> <code>${path}</code></a> <span class="muted">${op.summary ?? ''}</span></li>`)}
</ul></nav>
${operations.map(renderOperation)}
<h2 id="schemas">Schemas</h2>
${schemas.map(([name, schema]) => html`<section id="schema-${name}"><h3>${name}</h3>${renderSchema(schema, 0)}</section>`)}
</body>
</html>`;
}

function renderSecuritySchemes(doc: ApiDocument): Html {
  const schemes = Object.entries(doc.components?.securitySchemes ?? {});
  if (schemes.length === 0) return html``;
  return html`<h2>Authentication</h2><ul>${schemes.map(
    ([name, scheme]) => html`<li><code>${name}</code>: <code>Authorization: Bearer …</code> — ${scheme.description ?? ''}</li>`,
  )}</ul>`;
}

function renderOperation({ path, method, op, id }: ReturnType<typeof operationsOf>[number]): Html {
  const security = (op.security ?? []).flatMap((requirement) => Object.keys(requirement));
  const parameters = op.parameters ?? [];
  return html`<section class="op" id="${id}">
<h3><span class="method ${method}">${method}</span> <code>${path}</code></h3>
<p><strong>${op.summary ?? ''}</strong>${op.tags?.length ? html` <span class="muted">[${op.tags.join(', ')}]</span>` : ''}</p>
${op.description ? html`<p>${prose(op.description)}</p>` : ''}
<p class="muted">Auth: ${security.length ? security.join(' or ') : 'none (the token in the path is the credential)'}</p>
${parameters.length ? html`<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>description</th></tr>${parameters.map(
    (p) => html`<tr><td><code>${p.name}</code>${p.required ? html` <span class="req">required</span>` : ''}</td><td>${p.in}</td><td class="type">${p.schema ? typeOf(p.schema) : ''} ${p.schema ? constraints(p.schema) : ''}</td><td>${prose(p.description ?? p.schema?.description)}</td></tr>`,
  )}</table>` : ''}
${Object.entries(op.requestBody?.content ?? {}).map(
    ([type, media]) => html`<h4>Request body <code>${type}</code></h4>${media.schema ? renderSchema(media.schema, 0) : ''}${renderExamples(media)}`,
  )}
<h4>Responses</h4>
<table><tr><th>status</th><th>description</th><th>body</th></tr>
${Object.entries(op.responses ?? {}).map(
    ([status, response]) => html`<tr><td><code>${status}</code></td><td>${prose(response.description)}${Object.entries(response.headers ?? {}).map(
      ([name, header]) => html`<br><span class="muted">header <code>${name}</code>: ${prose(header.description)}</span>`,
    )}</td><td>${Object.entries(response.content ?? {}).map(([type, media]) => html`<code>${type}</code> ${media.schema ? renderSchema(media.schema, 1) : ''}`)}</td></tr>`,
  )}
</table>
</section>`;
}

function renderExamples(media: MediaType): Html {
  return html`${Object.values(media.examples ?? {}).map(
    (example) => html`<details><summary>Example: ${example.summary ?? ''}</summary><pre>${JSON.stringify(example.value, null, 2)}</pre></details>`,
  )}`;
}

/** A schema's type line, then a table of its properties; referenced schemas are linked, not expanded. */
function renderSchema(schema: Schema, depth: number): Html {
  const objects = inlineObjects(schema);
  return html`<div><span class="type">${typeOf(schema)}</span> ${constraints(schema)}${schema.description && depth === 0 ? html`<br>${prose(schema.description)}` : ''}</div>${
    depth < MAX_DEPTH ? objects.map((object) => renderProperties(object, depth)) : ''
  }`;
}

function renderProperties(object: Schema, depth: number): Html {
  const required = new Set(object.required ?? []);
  return html`<table><tr><th>field</th><th>type</th><th>description</th></tr>${Object.entries(object.properties ?? {}).map(
    ([name, property]) => html`<tr><td><code>${name}</code>${required.has(name) ? html` <span class="req">required</span>` : ''}</td><td>${renderSchema({ ...property, description: undefined }, depth + 1)}</td><td>${prose(property.description)}</td></tr>`,
  )}</table>`;
}

/** The objects written out in place (not `$ref`s) inside a schema, whose fields need a table. */
function inlineObjects(schema: Schema): Schema[] {
  if (schema.$ref) return [];
  if (schema.properties) return [schema];
  const inner = [schema.items, typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined, ...(schema.anyOf ?? []), ...(schema.oneOf ?? []), ...(schema.allOf ?? [])];
  return inner.filter((s): s is Schema => s !== undefined).flatMap(inlineObjects);
}

function typeOf(schema: Schema): Html {
  if (schema.$ref) {
    const name = schema.$ref.split('/').at(-1) ?? schema.$ref;
    return html`<a href="#schema-${name}">${name}</a>`;
  }
  const union = schema.anyOf ?? schema.oneOf;
  if (union) return joinHtml(union.map(typeOf), ' | ');
  if (schema.allOf) return joinHtml(schema.allOf.map(typeOf), ' & ');
  if (schema.enum) return html`${schema.enum.map((value) => JSON.stringify(value)).join(' | ')}`;
  if (schema.const !== undefined) return html`${JSON.stringify(schema.const)}`;
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  const shown = types.map((type) => {
    if (type === 'array') return html`array of ${schema.items ? typeOf(schema.items) : 'any'}`;
    if (type === 'object' && typeof schema.additionalProperties === 'object') return html`map of string → ${typeOf(schema.additionalProperties)}`;
    return html`${type}${type === 'string' && schema.format ? `(${schema.format})` : ''}`;
  });
  return shown.length ? joinHtml(shown, ' | ') : html`any`;
}

function constraints(schema: Schema): Html {
  const notes = [
    schema.minLength !== undefined ? `min ${schema.minLength} chars` : '',
    schema.maxLength !== undefined ? `max ${schema.maxLength} chars` : '',
    schema.minimum !== undefined ? `≥ ${schema.minimum}` : '',
    schema.maximum !== undefined ? `≤ ${schema.maximum}` : '',
    schema.maxItems !== undefined ? `max ${schema.maxItems} items` : '',
    schema.default !== undefined ? `default ${JSON.stringify(schema.default)}` : '',
  ].filter(Boolean);
  return notes.length ? html`<span class="muted">(${notes.join(', ')})</span>` : html``;
}

/** Descriptions are written with `code` in backticks, as in Markdown; everything else stays text. */
const prose = (text: string | undefined): Html =>
  html`${(text ?? '').split('`').map((part, i) => (i % 2 === 1 ? html`<code>${part}</code>` : part))}`;

const joinHtml = (parts: Html[], separator: string): Html => html`${parts.flatMap((part, i) => (i === 0 ? [part] : [separator, part]))}`;

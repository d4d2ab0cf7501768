// `html_to_markdown`: converts HTML documents to Markdown, one output
// reference per document, with a checkpoint after each so an interrupted run
// resumes at the next document.

import { Cancelled, InvalidConfig, defineJobType } from 'jobhost-plugin';
import { htmlToMarkdown } from './convert.js';

export const EXAMPLE = {
  documents: [
    {
      name: 'release-notes',
      html: '<h1>Release 2.1</h1><p>Now with <b>faster</b> exports. See <a href="https://example.com/docs">the docs</a>.</p><ul><li>CSV export</li><li>Dark mode</li></ul>',
    },
  ],
};

export default defineJobType({
  jobType: 'html_to_markdown',
  version: '1.0.0',
  displayName: 'HTML to Markdown',
  description:
    'Converts HTML documents to Markdown (headings, paragraphs, emphasis, links, images, nested lists, ' +
    'quotes, code blocks, tables; scripts and styles are dropped). Each document becomes the output ' +
    'reference `<name>.md`; the result counts headings, links, images and words per document.',
  userFacingDescription: 'Turn web pages or HTML snippets into clean Markdown.',
  config: {
    type: 'object',
    description: 'Config of an html_to_markdown job.',
    properties: {
      documents: {
        type: 'array',
        description: 'The documents to convert, in order; names must be unique.',
        minItems: 1,
        maxItems: 16,
        items: {
          type: 'object',
          properties: {
            name: {
              type: 'string',
              description: 'Name of the document; the output reference is `<name>.md`.',
              pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$',
            },
            html: { type: 'string', description: 'The HTML text.', maxLength: 48000 },
          },
          required: ['name', 'html'],
          additionalProperties: false,
        },
      },
      bullet: { enum: ['-', '*'], default: '-', examples: ['*'], description: 'The marker of unordered list items.' },
      keep_images: { type: 'boolean', default: true, description: 'Keep images as `![alt](src)`; false drops them.' },
    },
    required: ['documents'],
    additionalProperties: false,
  },
  examples: [EXAMPLE],
  interrupted: 'resume',
  sideEffects: { readOnly: true, idempotent: true, destructive: false },

  run(config, ctx) {
    const { documents, bullet = '-', keep_images: keepImages = true } = config;
    const names = new Set();
    for (const [i, d] of documents.entries()) {
      if (names.has(d.name)) throw new InvalidConfig(`documents[${i}].name: '${d.name}' is used twice`);
      names.add(d.name);
    }
    const saved = ctx.resumeFrom();
    const resumed = saved?.count === documents.length && saved.done?.length < documents.length;
    const done = resumed ? saved.done : [];
    const start = done.length;
    if (resumed) ctx.info(`resuming at document ${start + 1} of ${documents.length}`);
    for (let i = done.length; i < documents.length; i++) {
      if (ctx.cancelled()) throw new Cancelled();
      const { name, html } = documents[i];
      const { markdown, headings, links, images } = htmlToMarkdown(html, { bullet, keepImages });
      const words = markdown.split(/\s+/).filter((w) => /[0-9A-Za-z\u00C0-\uFFFF]/.test(w)).length;
      done.push({ name, markdown, headings, links, images, words });
      ctx.progress(((i + 1) * 100) / documents.length, `${i + 1} of ${documents.length}: ${name}`);
      if (i + 1 < documents.length) ctx.saveCheckpointJson({ count: documents.length, done });
    }
    for (const d of done) ctx.addInlineReference(`${d.name}.md`, 'text/markdown', d.markdown);
    ctx.info(`converted ${documents.length} document(s)`);
    return {
      documents: done.map(({ markdown, ...stats }) => ({ ...stats, markdown_bytes: new TextEncoder().encode(markdown).length })),
      resumed_from_document: resumed ? start + 1 : null,
    };
  },
});

// Runs `html_to_markdown` natively: `npm test` from this directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testRun } from 'jobhost-plugin/testing';
import job, { EXAMPLE } from '../src/job.js';
import { htmlToMarkdown } from '../src/convert.js';

const md = (ref) => new TextDecoder().decode(ref.data);

test('the example converts as documented', async () => {
  const out = await testRun(job, { config: EXAMPLE });
  assert.equal(out.error, undefined);
  assert.deepEqual(out.output.documents.map(({ name, headings, links }) => ({ name, headings, links })), [
    { name: 'release-notes', headings: 1, links: 1 },
  ]);
  assert.equal(out.references[0].name, 'release-notes.md');
  assert.equal(
    md(out.references[0]),
    '# Release 2.1\n\nNow with **faster** exports. See [the docs](https://example.com/docs).\n\n- CSV export\n- Dark mode\n',
  );
});

test('markdown syntax in text is escaped and entities decoded', () => {
  assert.equal(htmlToMarkdown('<p>a_b *c* &lt;d&gt; &#x41;</p>').markdown, 'a\\_b \\*c\\* <d> A\n');
});

test('scripts, styles and comments are dropped; tables and quotes kept', () => {
  const { markdown } = htmlToMarkdown(
    '<style>p{}</style><script>x()</script><!-- no --><blockquote><p>q</p></blockquote><table><tr><th>a</th></tr><tr><td>1|2</td></tr></table>',
  );
  assert.equal(markdown, '> q\n\n| a |\n| --- |\n| 1\\|2 |\n');
});

test('a cancelled run resumes at the next document with the same result', async () => {
  const documents = Array.from({ length: 5 }, (_, i) => ({ name: `d${i}`, html: `<h2>Doc ${i}</h2><p>text ${i}</p>` }));
  const whole = await testRun(job, { config: { documents } });
  assert.equal(whole.checkpoints.length, 4);
  const cut = await testRun(job, { config: { documents }, cancelAfter: 3 });
  assert.equal(cut.error?.name, 'Cancelled');
  const resumed = await testRun(job, { config: { documents }, checkpoint: cut.checkpoints.at(-1) });
  assert.equal(resumed.output.resumed_from_document, 4);
  assert.deepEqual(resumed.output.documents, whole.output.documents);
  assert.deepEqual(resumed.references.map(md), whole.references.map(md));
});

test('a repeated name is a config error naming it; the host key job_type is dropped', async () => {
  const doc = { name: 'a', html: '<p>x</p>' };
  const out = await testRun(job, { config: { documents: [doc, doc], job_type: 'html_to_markdown' } });
  assert.equal(out.error?.name, 'InvalidConfig');
  assert.match(out.error.message, /documents\[1\]\.name: 'a' is used twice/);
});

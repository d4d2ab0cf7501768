// HTML to Markdown: a small streaming converter for the HTML people paste
// (headings, paragraphs, emphasis, links, images, lists, quotes, code, tables).
// Unknown tags keep their text; script, style and comments are dropped.

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', copy: '©', mdash: '—', ndash: '–', hellip: '…' };
const TOKEN = /<!--[\s\S]*?-->|<(\/?)([a-zA-Z][a-zA-Z0-9]*)((?:[^>"']|"[^"]*"|'[^']*')*)>|([^<]+)|</g;
const ATTR = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g;
const BLOCK = new Set(['p', 'div', 'section', 'article', 'header', 'footer', 'main', 'nav', 'aside', 'figure', 'table', 'ul', 'ol', 'blockquote', 'pre', 'hr', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6']);
const SKIP = new Set(['script', 'style', 'head', 'template', 'noscript']);

export function decodeEntities(text) {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (all, name) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : all;
    }
    return ENTITIES[name.toLowerCase()] ?? all;
  });
}

function attributes(text) {
  const out = {};
  for (const m of text.matchAll(ATTR)) out[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  return out;
}

const escapeText = (t) => t.replace(/([\\`*_[\]])/g, '\\$1');

/** Converts `html`; returns { markdown, headings, links, images }. */
export function htmlToMarkdown(html, { bullet = '-', keepImages = true } = {}) {
  const out = [];
  const lists = []; // { ordered, n }
  const links = [];
  let line = '';
  let quote = 0;
  let pre = 0;
  let skip = 0;
  let headings = 0;
  let images = 0;
  let table = null; // { rows: [[cell]], cell: string | null }
  const prefix = () => '> '.repeat(quote);
  const flush = () => {
    if (line.trim() !== '' || pre) out.push(prefix() + line.replace(/\s+$/, ''));
    line = '';
  };
  const blank = () => {
    flush();
    if (out.length && out.at(-1).replace(/[> ]/g, '') !== '') out.push(prefix().trimEnd());
  };
  const write = (s) => {
    if (table?.cell != null) table.cell += s;
    else line += s;
  };

  for (const m of html.matchAll(TOKEN)) {
    const [whole, closing, rawTag, rawAttrs, text] = m;
    if (whole.startsWith('<!--')) continue;
    if (text !== undefined || rawTag === undefined) {
      if (skip) continue;
      let t = decodeEntities(text ?? whole);
      if (!pre) t = escapeText(t.replace(/\s+/g, ' '));
      if (!pre && line === '' && (table?.cell == null)) t = t.trimStart();
      write(t);
      continue;
    }
    const tag = rawTag.toLowerCase();
    if (SKIP.has(tag)) { skip += closing ? -1 : 1; skip = Math.max(skip, 0); continue; }
    if (skip) continue;
    const attrs = closing ? {} : attributes(rawAttrs);
    if (/^h[1-6]$/.test(tag)) {
      if (closing) blank(); else { blank(); line = '#'.repeat(Number(tag[1])) + ' '; headings++; }
    } else if (tag === 'p' || tag === 'div' || tag === 'section' || tag === 'article') {
      blank();
    } else if (tag === 'br') {
      if (pre) write('\n'); else { line += '  '; flush(); }
    } else if (tag === 'hr') {
      blank(); out.push(prefix() + '---'); blank();
    } else if (tag === 'strong' || tag === 'b') {
      write('**');
    } else if (tag === 'em' || tag === 'i') {
      write('_');
    } else if (tag === 'code') {
      if (!pre) write('`');
    } else if (tag === 'pre') {
      if (closing) { pre--; const body = line; line = ''; out.push(...body.replace(/\n$/, '').split('\n').map((l) => prefix() + l)); out.push(prefix() + '```'); blank(); }
      else { blank(); out.push(prefix() + '```'); pre++; }
    } else if (tag === 'a') {
      if (closing) { const href = links.pop(); write(href === undefined ? '' : `](${href})`); }
      else if (attrs.href) { links.push(attrs.href); links.count = (links.count ?? 0) + 1; write('['); }
      else links.push(undefined);
    } else if (tag === 'img') {
      if (keepImages && attrs.src) { write(`![${escapeText(attrs.alt ?? '')}](${attrs.src})`); images++; }
    } else if (tag === 'ul' || tag === 'ol') {
      if (closing) { lists.pop(); if (!lists.length) blank(); else flush(); }
      else { if (!lists.length) blank(); else flush(); lists.push({ ordered: tag === 'ol', n: 0 }); }
    } else if (tag === 'li') {
      if (!closing) {
        flush();
        const list = lists.at(-1) ?? { ordered: false, n: 0 };
        list.n++;
        line = '   '.repeat(Math.max(lists.length - 1, 0)) + (list.ordered ? `${list.n}. ` : `${bullet} `);
      } else flush();
    } else if (tag === 'blockquote') {
      blank();
      if (closing && out.length && out.at(-1).replace(/[> ]/g, '') === '') out.pop();
      quote = Math.max(quote + (closing ? -1 : 1), 0);
      if (closing) blank();
    } else if (tag === 'table') {
      if (closing && table) {
        blank();
        const width = Math.max(...table.rows.map((r) => r.length), 1);
        table.rows.forEach((r, i) => {
          const cells = Array.from({ length: width }, (_, k) => (r[k] ?? '').trim().replace(/\|/g, '\\|'));
          out.push(prefix() + '| ' + cells.join(' | ') + ' |');
          if (i === 0) out.push(prefix() + '|' + ' --- |'.repeat(width));
        });
        table = null;
        blank();
      } else if (!closing) { blank(); table = { rows: [], cell: null }; }
    } else if (tag === 'tr' && table) {
      if (!closing) table.rows.push([]);
    } else if ((tag === 'td' || tag === 'th') && table) {
      if (closing) { table.rows.at(-1)?.push(table.cell ?? ''); table.cell = null; }
      else { if (!table.rows.length) table.rows.push([]); table.cell = ''; }
    } else if (BLOCK.has(tag)) {
      blank();
    }
  }
  flush();
  while (out.length && out.at(-1).trim() === '') out.pop();
  while (out.length && out[0].trim() === '') out.shift();
  return { markdown: out.join('\n').replace(/\n{3,}/g, '\n\n') + '\n', headings, links: links.count ?? 0, images };
}

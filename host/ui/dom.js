// Building the DOM without HTML parsing: every string becomes a text node,
// so text from plugins or the API can never become markup.

/** An element with attributes (set with setAttribute, never as HTML) and
 * children: nodes, strings (as text), numbers, or null (skipped). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "href" && !String(value).startsWith("#")) {
      throw new Error("links stay inside the UI: " + value);
    }
    el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Pretty JSON as a <pre> of text. */
export function json(value, attrs) {
  return h("pre", { class: "json", ...attrs }, JSON.stringify(value, null, 2));
}

/** A timestamp as local time, or "—". */
export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

/** An error as an alert box: the API's error type, status and message. */
export function problem(e) {
  const box = h("div", { class: "problem", role: "alert" });
  if (e && e.status) {
    box.append(h("strong", {}, e.type || "error"), " (" + e.status + "): ", e.message);
  } else {
    box.append(String(e?.message || e));
  }
  return box;
}

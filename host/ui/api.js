// The REST API from the browser: the bearer token lives in session storage
// (gone when the tab closes, never in a URL or a cookie, so no other site
// can make requests with it), and every call sends it in a header.

const KEY = "jobhost.token";

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

/** A failed call: the API's error body, with the HTTP status. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || "HTTP " + status);
    this.status = status;
    this.type = body?.error?.type;
    this.details = body?.error?.details || {};
  }
}

function headers(extra) {
  return { Authorization: "Bearer " + (token.get() || ""), ...extra };
}

/** Calls `/api/v1{path}`; resolves to the JSON body, throws ApiError. */
export async function api(method, path, body, contentType = "application/json") {
  const init = { method, headers: headers() };
  if (body !== undefined) {
    init.headers["Content-Type"] = contentType;
    init.body = contentType === "application/json" ? JSON.stringify(body) : body;
  }
  const response = await fetch("/api/v1" + path, init);
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { error: { message: text.slice(0, 500) } };
  }
  if (response.status === 401) window.dispatchEvent(new Event("jobhost:signed-out"));
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

/** A query string from an object (arrays repeat the key; empty values are left out). */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    for (const item of Array.isArray(v) ? v : [v]) {
      if (item !== undefined && item !== null && item !== "") q.append(k, String(item));
    }
  }
  const s = q.toString();
  return s ? "?" + s : "";
}

/** Follows a server-sent event stream with the token in a header (which
 * EventSource cannot send): calls onEvent(type, data) per event until the
 * stream ends or `signal` aborts. */
export async function follow(path, onEvent, signal) {
  const response = await fetch("/api/v1" + path, {
    headers: headers({ Accept: "text/event-stream" }),
    signal,
  });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = "message";
      const data = [];
      for (const line of chunk.split("\n")) {
        if (line.startsWith("event:")) type = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (!data.length) continue;
      try {
        onEvent(type, JSON.parse(data.join("\n")));
      } catch {
        onEvent(type, data.join("\n"));
      }
    }
  }
}

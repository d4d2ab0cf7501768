// The web UI: sign-in, navigation and routing (`#/...` routes, so the
// server serves one page). Each page lives in its own module.

import { h, problem } from "./dom.js";
import { api, token, ApiError } from "./api.js";
import { catalog, newJob } from "./catalog.js";
import { jobs, job } from "./jobs.js";
import { runs, run } from "./runs.js";
import { plugins } from "./plugins.js";

const main = document.getElementById("view");
const nav = document.getElementById("nav");
const who = document.getElementById("who");

/** What every page gets: who is signed in, and a signal that aborts when
 * the page is left (streams and timers stop). */
let current = null;

const routes = [
  [/^#\/?$/, () => catalog],
  [/^#\/catalog$/, () => catalog],
  [/^#\/new\/([a-z][a-z0-9_]*)$/, () => newJob],
  [/^#\/jobs$/, () => jobs],
  [/^#\/jobs\/([0-9a-f-]{36})$/, () => job],
  [/^#\/runs$/, () => runs],
  [/^#\/runs\/([0-9a-f-]{36})$/, () => run],
  [/^#\/plugins$/, () => plugins],
];

async function me() {
  try {
    return await api("GET", "/me");
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) token.clear();
    throw e;
  }
}

function signIn(message) {
  nav.replaceChildren();
  who.replaceChildren();
  const input = h("input", { id: "token", type: "password", autocomplete: "off", placeholder: "jh_…", required: true });
  const error = h("div", { id: "sign-in-error", role: "alert" }, message || "");
  const form = h(
    "form",
    { id: "sign-in-form", class: "card narrow" },
    h("h1", {}, "Sign in"),
    h("p", { class: "hint" }, "Paste a bearer token (from `jobhost token create`, or the operator token printed at the server's first start). It is kept in this tab's session storage only."),
    h("label", { for: "token" }, "Token"),
    input,
    h("button", { id: "sign-in", type: "submit" }, "Sign in"),
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    token.set(input.value.trim());
    try {
      await me();
      if (location.hash === "#/sign-in" || !location.hash) location.hash = "#/catalog";
      await render();
    } catch (e) {
      token.clear();
      error.replaceChildren(problem(e));
    }
  });
  main.replaceChildren(form);
  input.focus();
}

function navigation(caller) {
  const link = (href, text, id) => h("a", { href, id }, text);
  const links = [link("#/catalog", "Job types", "nav-catalog"), link("#/jobs", "Jobs", "nav-jobs"), link("#/runs", "Runs", "nav-runs")];
  if (caller.role === "operator") links.push(link("#/plugins", "Plugins", "nav-plugins"));
  nav.replaceChildren(...links);
  const out = h("button", { id: "sign-out", type: "button", class: "secondary" }, "Sign out");
  out.addEventListener("click", () => {
    token.clear();
    location.hash = "#/";
    render();
  });
  who.replaceChildren(h("span", { id: "caller" }, caller.user + " · " + caller.tenant + " · " + caller.role), out);
  for (const a of nav.querySelectorAll("a")) {
    a.classList.toggle("active", location.hash.startsWith(a.getAttribute("href")));
  }
}

async function render() {
  current?.abort();
  current = new AbortController();
  const signal = current.signal;
  if (!token.get()) return signIn();
  let caller;
  try {
    caller = await me();
  } catch (e) {
    return signIn(e instanceof ApiError && e.status === 401 ? "That token is not valid (any more)." : String(e.message || e));
  }
  navigation(caller);
  const hash = location.hash || "#/";
  for (const [pattern, page] of routes) {
    const m = hash.match(pattern);
    if (m) {
      const view = h("div", { class: "page" });
      main.replaceChildren(view);
      try {
        await page()({ view, caller, signal, params: m.slice(1) });
      } catch (e) {
        if (!signal.aborted) view.append(problem(e));
      }
      return;
    }
  }
  main.replaceChildren(h("div", { class: "page" }, h("h1", {}, "Not found"), h("p", {}, "No page at " + hash)));
}

window.addEventListener("hashchange", render);
window.addEventListener("jobhost:signed-out", () => {
  token.clear();
  signIn("The token was refused; sign in again.");
});
render();

// Operators: the loaded job type versions, publishing a component file,
// approving what a version may reach, and deprecating or yanking it.

import { h, problem, when } from "./dom.js";
import { api } from "./api.js";

function list(values) {
  return values.split(",").map((v) => v.trim()).filter(Boolean);
}

function approve(p, refresh, out) {
  const a = p.approval || {};
  const declared = (a.awaiting?.http || []).concat(a.granted?.http || []).filter((u) => u !== "operator_chosen");
  const http = h("input", { type: "text", class: "grant-http", value: declared.join(", "), placeholder: "https://api.example.com, …" });
  const secrets = h("input", { type: "text", class: "grant-secrets", value: (a.awaiting?.secrets || []).concat(a.granted?.secrets || []).join(", ") });
  const go = h("button", { type: "button", class: "approve" }, "Approve");
  go.addEventListener("click", async () => {
    out.replaceChildren();
    try {
      await api("PATCH", `/plugins/${p.job_type}/${p.version}`, { grants: { http: list(http.value), secrets: list(secrets.value) } });
      await refresh();
    } catch (e) {
      out.append(problem(e));
    }
  });
  return h("div", { class: "grant" }, h("label", {}, "HTTP origins ", http), h("label", {}, "Secrets ", secrets), go);
}

export async function plugins({ view }) {
  view.append(h("h1", {}, "Plugins"));
  const file = h("input", { id: "publish-file", type: "file", accept: ".wasm,application/wasm" });
  const publish = h("button", { id: "publish", type: "button" }, "Publish");
  const published = h("div", { id: "publish-result" });
  publish.addEventListener("click", async () => {
    published.replaceChildren();
    const f = file.files?.[0];
    if (!f) return published.append(problem(new Error("Choose a component file (.wasm) first.")));
    publish.disabled = true;
    try {
      const v = await api("POST", "/plugins", await f.arrayBuffer(), "application/wasm");
      published.append(h("p", {}, "Published ", h("code", {}, v.job_type), " " + v.version + " (approval: " + (v.approval?.state || "") + ")"));
      await refresh();
    } catch (e) {
      published.append(problem(e));
    } finally {
      publish.disabled = false;
    }
  });
  view.append(h("section", { class: "card" }, h("h2", {}, "Publish a component"), file, publish, published));

  const body = h("tbody");
  const out = h("div", { id: "plugin-result" });
  view.append(
    out,
    h("table", { class: "list", id: "plugins" }, h("thead", {}, h("tr", {}, ...["Job type", "Version", "Status", "Origin", "Approval", "Actions"].map((t) => h("th", {}, t)))), body),
  );

  async function setStatus(p, status) {
    out.replaceChildren();
    try {
      await api("PATCH", `/plugins/${p.job_type}/${p.version}`, { status, reason: "set in the web UI" });
      await refresh();
    } catch (e) {
      out.append(problem(e));
    }
  }

  async function refresh() {
    const { items } = await api("GET", "/plugins");
    body.replaceChildren(
      ...items.map((p) => {
        const actions = h("td", { class: "actions" });
        for (const status of ["active", "deprecated", "yanked"]) {
          if (status === p.status) continue;
          const b = h("button", { type: "button", class: status === "yanked" ? "danger" : "secondary", "data-action": status }, status === "active" ? "Activate" : status === "deprecated" ? "Deprecate" : "Yank");
          b.addEventListener("click", () => setStatus(p, status));
          actions.append(b);
        }
        const pending = p.approval?.state === "pending";
        return h(
          "tr",
          { "data-plugin": p.job_type + "@" + p.version },
          h("td", {}, h("code", {}, p.job_type), h("div", { class: "hint" }, p.display_name)),
          h("td", {}, p.version),
          h("td", {}, p.status, p.status_reason ? h("div", { class: "hint" }, p.status_reason) : null),
          h("td", {}, p.origin, p.published_by ? h("div", { class: "hint" }, "by " + p.published_by + " " + when(p.published_at)) : null),
          h("td", { class: "approval" }, p.approval?.state || "", pending ? approve(p, refresh, out) : null),
          actions,
        );
      }),
    );
  }
  await refresh();
}

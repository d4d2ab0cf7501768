// Runs: the list (status filter, paging) and a run's page, updated live
// from the run's event stream: status, progress, logs, output, receipt,
// and cancel, pause and resume.

import { h, json, problem, when } from "./dom.js";
import { api, follow, query } from "./api.js";
import { paged, runRow, statusBadge } from "./jobs.js";

const STATUSES = ["pending", "running", "paused", "completed", "failed", "cancelled"];
const TERMINAL = new Set(["completed", "failed", "cancelled"]);

export async function runs({ view }) {
  view.append(h("h1", {}, "Runs"));
  const status = h("select", { id: "filter-status" }, h("option", { value: "" }, "any status"), ...STATUSES.map((s) => h("option", { value: s }, s)));
  view.append(h("div", { class: "filters" }, status));
  const table = paged(
    view,
    ["Run", "Status", "Trigger", "Created", "Finished"],
    (cursor) => api("GET", "/job-runs" + query({ statuses: status.value, cursor, limit: 20 })),
    runRow,
  );
  status.addEventListener("change", () => table.reload());
  await table.reload();
}

export async function run({ view, params: [id], signal }) {
  let r = await api("GET", "/job-runs/" + id);
  const badge = h("span", { id: "run-status" });
  const bar = h("progress", { id: "progress", max: 100, value: 0 });
  const barText = h("span", { id: "progress-text" });
  const actions = h("div", { class: "actions" });
  const result = h("div", { id: "run-result" });
  const info = h("p", { class: "meta" });
  const message = h("div", { id: "action-result" });
  const level = h("select", { id: "log-level" }, ...["trace", "debug", "info", "warn", "error"].map((l) => h("option", { value: l }, l)));
  level.value = "info";
  const logs = h("ol", { id: "logs", class: "logs" });

  const action = (name, text, danger) => {
    const b = h("button", { type: "button", id: name, class: danger ? "danger" : "secondary" }, text);
    b.addEventListener("click", async () => {
      message.replaceChildren();
      b.disabled = true;
      try {
        await api("POST", "/job-runs/" + id + "/" + name);
        await refresh();
      } catch (e) {
        message.append(problem(e));
      } finally {
        b.disabled = false;
      }
    });
    return b;
  };

  function show() {
    badge.replaceChildren(statusBadge(r.status));
    bar.value = r.progress || 0;
    barText.replaceChildren((r.progress || 0) + "%" + (r.progress_message ? " · " + r.progress_message : ""));
    info.replaceChildren(h("a", { href: "#/jobs/" + r.job_id }, r.job_name || "job"), " · ", h("code", {}, r.job_type), " v" + r.job_type_version + " · attempt " + r.attempt + " · created " + when(r.created_at) + (r.finished_at ? " · finished " + when(r.finished_at) : ""));
    actions.replaceChildren();
    if (!TERMINAL.has(r.status)) actions.append(action("cancel", "Cancel", true));
    if (r.status === "running") actions.append(action("pause", "Pause"));
    if (r.status === "paused") actions.append(action("resume", "Resume"));
    result.replaceChildren();
    if (r.output !== null && r.output !== undefined) result.append(h("h2", {}, "Output"), json(r.output, { id: "output" }));
    if (r.output_references?.length) {
      result.append(h("h2", {}, "Output references"), h("ul", {}, ...r.output_references.map((o) => h("li", {}, h("code", {}, o.name), " · " + o.media_type + " · ", o.location ? h("code", {}, o.location) : o.inline !== undefined ? o.inline.length + " characters inline" : "inline bytes"))));
    }
    if (r.error) result.append(h("h2", {}, "Error"), json(r.error, { id: "error" }));
    if (r.receipt) result.append(h("h2", {}, "Receipt"), json(r.receipt, { id: "receipt" }));
  }

  async function refresh() {
    r = await api("GET", "/job-runs/" + id);
    show();
    await loadLogs();
  }

  let logCursor;
  async function loadLogs(reset) {
    if (reset) {
      logCursor = undefined;
      logs.replaceChildren();
    }
    for (let pages = 0; pages < 20; pages += 1) {
      const page = await api("GET", "/job-runs/" + id + "/logs" + query({ level: level.value, cursor: logCursor, limit: 500 }));
      for (const line of page.items) {
        logs.append(h("li", { class: "log log-" + line.level }, h("span", { class: "log-level" }, line.level), " ", h("span", { class: "log-time" }, when(line.timestamp || line.at)), " ", h("span", { class: "log-message" }, line.message)));
      }
      if (page.items.length) logCursor = page.next_cursor || String(page.items[page.items.length - 1].seq ?? "");
      if (!page.next_cursor) break;
    }
  }
  level.addEventListener("change", () => loadLogs(true));

  view.append(
    h("h1", {}, "Run ", h("code", {}, id.slice(0, 8)), " ", badge),
    info,
    h("div", { class: "progress-row" }, bar, barText),
    actions,
    message,
    result,
    h("h2", {}, "Logs ", level),
    logs,
  );
  show();
  await loadLogs(true);

  // Live: each event of the run's stream refreshes the page; progress
  // events carry what the bar needs.
  (async () => {
    let refreshing = null;
    try {
      await follow(
        "/job-runs/" + id + "/events",
        (type, data) => {
          const d = data?.data || {};
          if (type === "job_run.progress" || type === "job_run.snapshot" || type === "job_run.status_changed") {
            if (d.status) r.status = d.status;
            if (d.progress !== undefined) r.progress = d.progress;
            if (d.progress_message !== undefined) r.progress_message = d.progress_message;
            show();
          }
          if (type === "job_run.status_changed" || TERMINAL.has(d.status)) {
            refreshing = refresh();
          }
        },
        signal,
      );
      await refreshing;
      if (!signal.aborted) await refresh();
    } catch (e) {
      if (!signal.aborted) message.append(problem(e));
    }
  })();
  // Logs between events.
  const timer = setInterval(() => {
    if (signal.aborted || TERMINAL.has(r.status)) return clearInterval(timer);
    loadLogs().catch(() => {});
  }, 1000);
  signal.addEventListener("abort", () => clearInterval(timer));
}

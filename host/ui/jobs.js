// Jobs: the list (filters, paging) and a job's page (config, schedule
// controls, trigger with overrides, its runs).

import { h, json, problem, when } from "./dom.js";
import { api, query } from "./api.js";

/** A table of `items` that pages with the API's cursors. `load(cursor)`
 * resolves to a list body; `row(item)` makes a <tr>. */
export function paged(container, headers, load, row) {
  const body = h("tbody");
  const prev = h("button", { type: "button", class: "secondary", id: "page-prev" }, "Previous");
  const next = h("button", { type: "button", class: "secondary", id: "page-next" }, "Next");
  const status = h("span", { class: "hint" });
  const error = h("div");
  const cursors = [undefined];
  let page = 0;
  let nextCursor = null;
  async function show() {
    error.replaceChildren();
    try {
      const list = await load(cursors[page]);
      body.replaceChildren(...list.items.map(row));
      if (!list.items.length) body.append(h("tr", {}, h("td", { colspan: headers.length, class: "hint" }, "Nothing here yet.")));
      nextCursor = list.next_cursor;
      prev.disabled = page === 0;
      next.disabled = !nextCursor;
      status.replaceChildren("page " + (page + 1));
    } catch (e) {
      error.append(problem(e));
    }
  }
  prev.addEventListener("click", () => {
    page = Math.max(0, page - 1);
    show();
  });
  next.addEventListener("click", () => {
    if (!nextCursor) return;
    cursors[page + 1] = nextCursor;
    page += 1;
    show();
  });
  container.append(
    error,
    h("table", { class: "list" }, h("thead", {}, h("tr", {}, ...headers.map((t) => h("th", {}, t)))), body),
    h("div", { class: "pager" }, prev, status, next),
  );
  return { reload: () => { cursors.length = 1; page = 0; return show(); } };
}

export function statusBadge(status) {
  return h("span", { class: "status status-" + status, "data-status": status }, status);
}

export async function jobs({ view }) {
  view.append(h("h1", {}, "Jobs"));
  const types = await api("GET", "/jobs/schemas");
  const typeFilter = h("select", { id: "filter-job-type" }, h("option", { value: "" }, "all job types"), ...types.map((t) => h("option", { value: t.job_type }, t.display_name)));
  const deleted = h("input", { id: "filter-deleted", type: "checkbox" });
  view.append(h("div", { class: "filters" }, typeFilter, h("label", { class: "toggle" }, deleted, " include deleted")));
  const table = paged(
    view,
    ["Name", "Job type", "Version", "Created", "Schedule"],
    (cursor) => api("GET", "/jobs" + query({ job_types: typeFilter.value, include_deleted: deleted.checked || "", cursor, limit: 20 })),
    (j) =>
      h(
        "tr",
        { "data-job": j.uuid },
        h("td", {}, h("a", { href: "#/jobs/" + j.uuid }, j.name), j.is_deleted ? " (deleted)" : ""),
        h("td", {}, h("code", {}, j.job_type)),
        h("td", {}, j.job_type_version),
        h("td", {}, when(j.created_at)),
        h("td", {}, j.schedule ? (j.schedule.cron + " · " + (j.schedule_state || "")) : "—"),
      ),
  );
  typeFilter.addEventListener("change", () => table.reload());
  deleted.addEventListener("change", () => table.reload());
  await table.reload();
}

export async function job({ view, params: [id] }) {
  const j = await api("GET", "/jobs/" + id);
  view.append(
    h("h1", {}, j.name),
    h("p", { class: "meta" }, h("code", {}, j.job_type), " v" + j.job_type_version, " · created " + when(j.created_at) + " by " + j.created_by),
    j.description ? h("p", {}, j.description) : null,
    j.is_deleted ? h("p", { class: "problem" }, "This job is deleted; it cannot run.") : null,
    h("h2", {}, "Config"),
    json(j.config, { id: "job-config" }),
  );
  if (j.schedule) view.append(schedule(j));
  if (!j.is_deleted) view.append(trigger(j));
  view.append(h("h2", {}, "Runs"));
  await paged(
    view,
    ["Run", "Status", "Trigger", "Created", "Finished"],
    (cursor) => api("GET", "/job-runs" + query({ job_id: id, cursor, limit: 10 })),
    runRow,
  ).reload();
}

export function runRow(r) {
  return h(
    "tr",
    { "data-run": r.uuid },
    h("td", {}, h("a", { href: "#/runs/" + r.uuid }, r.uuid.slice(0, 8)), " ", h("code", {}, r.job_type)),
    h("td", {}, statusBadge(r.status), r.status === "running" ? " " + r.progress + "%" : ""),
    h("td", {}, r.trigger || "api"),
    h("td", {}, when(r.created_at)),
    h("td", {}, when(r.finished_at)),
  );
}

function schedule(j) {
  const out = h("div", { id: "schedule-result" });
  const button = (action, text) => {
    const b = h("button", { type: "button", class: "secondary", id: "schedule-" + action }, text);
    b.addEventListener("click", async () => {
      out.replaceChildren();
      try {
        const r = await api("POST", "/jobs/" + j.uuid + "/schedule/" + action);
        if (action === "run-now" && r?.uuid) location.hash = "#/runs/" + r.uuid;
        else out.append(h("p", {}, "Done: " + action));
      } catch (e) {
        out.append(problem(e));
      }
    });
    return b;
  };
  return h(
    "section",
    { class: "card", id: "schedule" },
    h("h2", {}, "Schedule"),
    h("p", {}, h("code", {}, j.schedule.cron), " (" + (j.schedule.timezone || "UTC") + ") · " + (j.schedule_state || "") + " · next " + when(j.next_run_at)),
    button("pause", "Pause schedule"),
    button("resume", "Resume schedule"),
    button("run-now", "Run now"),
    out,
  );
}

function trigger(j) {
  const overrides = h("textarea", { id: "overrides", rows: 4, spellcheck: "false", placeholder: '{"field": "value"}  (optional: merged into the job\'s config for this run)' });
  const out = h("div", { id: "trigger-result" });
  const go = h("button", { id: "trigger", type: "button" }, "Run now");
  go.addEventListener("click", async () => {
    out.replaceChildren();
    const body = { job_id: j.uuid };
    if (overrides.value.trim()) {
      try {
        body.config = JSON.parse(overrides.value);
      } catch (e) {
        out.append(problem(new Error("The overrides are not JSON: " + e.message)));
        return;
      }
    }
    go.disabled = true;
    try {
      const run = await api("POST", "/job-runs", body);
      location.hash = "#/runs/" + run.uuid;
    } catch (e) {
      out.append(problem(e));
      if (Array.isArray(e.details?.violations)) out.append(json(e.details.violations));
    } finally {
      go.disabled = false;
    }
  });
  return h("section", { class: "card", id: "trigger-card" }, h("h2", {}, "Trigger a run"), h("label", { for: "overrides" }, "Overrides"), overrides, go, out);
}

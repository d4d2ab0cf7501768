// The job type catalog and the page that creates a job from a form
// generated from the job type's schema.

import { h, json, problem } from "./dom.js";
import { api, query } from "./api.js";
import { buildForm } from "./form.js";

function network(capabilities) {
  const http = capabilities?.http || { kind: "none" };
  if (http.kind === "none") return "no network";
  if (http.kind === "operator_chosen") return "network: destinations the operator chooses";
  return "network: " + (http.destinations || []).map((d) => d.url).join(", ");
}

function canCreate(caller, t) {
  return t.creatable_on_ui && (caller.role !== "agent" || t.creatable_by_agent) && t.approval?.state !== "pending";
}

export async function catalog({ view, caller }) {
  view.append(h("h1", {}, "Job types"));
  const types = await api("GET", "/jobs/schemas" + query({ visible_on_ui: true }));
  if (!types.length) view.append(h("p", {}, "No job types are visible here."));
  const list = h("div", { class: "cards" });
  for (const t of types) {
    const secrets = (t.capabilities?.secrets || []).map((s) => s.name);
    list.append(
      h(
        "section",
        { class: "card job-type", "data-job-type": t.job_type },
        h("h2", {}, t.display_name),
        h("p", { class: "meta" }, h("code", {}, t.job_type), " v" + t.version, t.contract ? " · " + t.contract : ""),
        h("p", { class: "description" }, t.user_facing_description || t.description),
        h(
          "ul",
          { class: "facts" },
          h("li", {}, network(t.capabilities)),
          secrets.length ? h("li", {}, "secrets: " + secrets.join(", ")) : null,
          h("li", { class: "approval" }, "approval: " + (t.approval?.state || "not needed")),
          t.creatable_by_agent ? h("li", {}, "agents may create") : null,
        ),
        canCreate(caller, t)
          ? h("a", { class: "button create", href: "#/new/" + t.job_type }, "Create job")
          : h("p", { class: "hint" }, t.creatable_on_ui ? "Not open to this token now." : "Created by API only."),
      ),
    );
  }
  view.append(list);
}

export async function newJob({ view, params: [jobType] }) {
  const versions = (await api("GET", "/jobs/schemas" + query({ job_types: jobType, all_versions: true })))
    .filter((t) => t.status !== "yanked")
    .reverse();
  if (!versions.length) throw new Error("No usable version of " + jobType);
  let chosen = versions[0];
  let form;
  const title = h("h1", {}, "New job: ", chosen.display_name);
  const about = h("p", { class: "description" }, chosen.user_facing_description || chosen.description);
  const version = h("select", { id: "version" }, ...versions.map((v, i) => h("option", { value: String(i) }, v.version + (v.status && v.status !== "active" ? " (" + v.status + ")" : ""))));
  const name = h("input", { id: "job-name", type: "text", maxlength: 200, placeholder: "generated from the display name" });
  const description = h("input", { id: "job-description", type: "text", maxlength: 4096 });
  const holder = h("div", { id: "config-form" });
  const rawToggle = h("input", { id: "raw-toggle", type: "checkbox" });
  const raw = h("textarea", { id: "raw-json", class: "raw", rows: 14, hidden: true, spellcheck: "false" });
  const rawNote = h("p", { class: "hint", id: "raw-note" });
  const outcome = h("div", { id: "outcome" });

  function build() {
    form = buildForm(chosen.json_schema, undefined);
    holder.replaceChildren(form.element);
    rawNote.replaceChildren(form.supported ? "" : "Some fields of this schema have no form control: edit them as raw JSON.");
  }
  function useRaw(on) {
    if (on) raw.value = JSON.stringify(form.value(), null, 2);
    raw.hidden = !on;
    holder.hidden = on;
  }
  version.addEventListener("change", () => {
    chosen = versions[Number(version.value)];
    build();
    useRaw(rawToggle.checked);
  });
  rawToggle.addEventListener("change", () => useRaw(rawToggle.checked));
  build();

  const submit = h("button", { id: "submit", type: "submit" }, "Create job");
  const page = h(
    "form",
    { id: "new-job", novalidate: true },
    title,
    about,
    h("div", { class: "row" }, h("label", { for: "version" }, "Version"), version),
    h("div", { class: "row" }, h("label", { for: "job-name" }, "Name"), name),
    h("div", { class: "row" }, h("label", { for: "job-description" }, "Description"), description),
    h("h2", {}, "Config"),
    rawNote,
    holder,
    h("label", { class: "toggle" }, rawToggle, " Edit the config as raw JSON"),
    raw,
    h("div", { class: "submit-row" }, submit),
    outcome,
  );
  page.addEventListener("submit", async (event) => {
    event.preventDefault();
    outcome.replaceChildren();
    form.clearErrors();
    let config;
    if (rawToggle.checked) {
      try {
        config = JSON.parse(raw.value);
      } catch (e) {
        outcome.append(problem(new Error("The raw config is not JSON: " + e.message)));
        return;
      }
    } else {
      config = form.value();
    }
    const body = { job_type: jobType, job_type_version: "=" + chosen.version, config };
    if (name.value.trim()) body.name = name.value.trim();
    if (description.value.trim()) body.description = description.value.trim();
    submit.disabled = true;
    try {
      const created = await api("POST", "/jobs", body);
      location.hash = "#/jobs/" + created.uuid;
    } catch (e) {
      const violations = e.details?.violations;
      if (Array.isArray(violations) && violations.length) {
        if (rawToggle.checked) outcome.append(json(violations));
        else form.setErrors(violations);
      }
      outcome.prepend(problem(e));
      (holder.querySelector(".invalid") || outcome).scrollIntoView({ block: "center" });
    } finally {
      submit.disabled = false;
    }
  });
  view.append(page);
}

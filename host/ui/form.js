// A form generated from a job type's JSON Schema: objects (nested),
// strings, numbers and integers with their bounds, booleans, enums and
// arrays, with defaults, examples and required marks. Local `$ref`s,
// nullable types and `anyOf: [T, null]` (what schemars writes) are followed.
// Everything a plugin wrote (titles, descriptions, enum values, examples)
// is shown as text: this file builds the DOM with textContent only.
//
// buildForm(schema, initial) -> {element, value(), supported, setErrors(v), clearErrors()}

import { h } from "./dom.js";

/** Follows local `$ref`s and picks the non-null branch of nullable schemas. */
function resolve(root, schema, depth = 0) {
  if (!schema || typeof schema !== "object" || depth > 32) return {};
  if (typeof schema.$ref === "string" && schema.$ref.startsWith("#/")) {
    let target = root;
    for (const part of schema.$ref.slice(2).split("/")) {
      target = target?.[part.replace(/~1/g, "/").replace(/~0/g, "~")];
    }
    const { $ref, ...rest } = schema;
    return resolve(root, { ...target, ...rest }, depth + 1);
  }
  for (const key of ["anyOf", "oneOf"]) {
    if (Array.isArray(schema[key])) {
      const branches = schema[key].filter((b) => !(b && b.type === "null"));
      if (branches.length === 1) {
        const { [key]: _, ...rest } = schema;
        return resolve(root, { ...rest, ...branches[0] }, depth + 1);
      }
      return { ...schema, unsupported: true };
    }
  }
  if (Array.isArray(schema.type)) {
    const types = schema.type.filter((t) => t !== "null");
    if (types.length === 1) return { ...schema, type: types[0], nullable: true };
    return { ...schema, unsupported: true };
  }
  if (!schema.type && schema.properties) return { ...schema, type: "object" };
  if (!schema.type && Array.isArray(schema.enum)) return { ...schema, type: "enum" };
  return schema;
}

function text(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

export function buildForm(rootSchema, initial) {
  const errorSlots = new Map();
  let supported = true;

  function slot(pointer) {
    const el = h("div", { class: "field-error", "data-pointer": pointer, role: "alert" });
    errorSlots.set(pointer, el);
    return el;
  }

  function describe(schema) {
    const parts = [];
    if (schema.description) parts.push(h("p", { class: "hint" }, schema.description));
    if (Array.isArray(schema.examples) && schema.examples.length) {
      parts.push(h("p", { class: "hint example" }, "e.g. " + schema.examples.map(text).join(", ")));
    }
    const bounds = [];
    if (schema.minimum !== undefined) bounds.push("≥ " + schema.minimum);
    if (schema.maximum !== undefined) bounds.push("≤ " + schema.maximum);
    if (schema.minLength !== undefined) bounds.push("at least " + schema.minLength + " characters");
    if (schema.maxLength !== undefined) bounds.push("at most " + schema.maxLength + " characters");
    if (bounds.length) parts.push(h("p", { class: "hint bounds" }, bounds.join(", ")));
    return parts;
  }

  function label(name, schema, required, id) {
    return h(
      "label",
      { for: id },
      schema.title || name || "value",
      required ? h("span", { class: "required", title: "required" }, " *") : null,
    );
  }

  // Returns {el, get} for the value at `pointer`.
  function field(raw, pointer, name, required, init) {
    const schema = resolve(rootSchema, raw);
    const id = "f" + pointer.replace(/[^a-zA-Z0-9_-]/g, "_");
    const start = init !== undefined ? init : schema.default;
    if (schema.const !== undefined) {
      // A fixed value (such as `job_type`): nothing to fill in.
      return { el: h("div", { hidden: true, "data-pointer": pointer }), get: () => schema.const };
    }
    if (schema.unsupported) {
      supported = false;
      return {
        el: h("div", { class: "field unsupported" }, label(name, schema, required, id), h("p", { class: "hint" }, "edit this field as raw JSON"), slot(pointer)),
        get: () => start,
      };
    }
    if (schema.type === "object") {
      const props = schema.properties || {};
      const req = new Set(schema.required || []);
      const children = Object.keys(props).map((key) => {
        const child = field(props[key], pointer + "/" + key.replace(/~/g, "~0").replace(/\//g, "~1"), key, req.has(key), start?.[key]);
        return [key, child];
      });
      const legend = pointer === "" ? null : h("legend", {}, schema.title || name);
      const el = h("fieldset", { class: "object", "data-pointer": pointer }, legend, ...(pointer === "" ? [] : describe(schema)), slot(pointer), ...children.map(([, c]) => c.el));
      return {
        el,
        get() {
          const out = {};
          for (const [key, child] of children) {
            const v = child.get();
            if (v !== undefined) out[key] = v;
          }
          return Object.keys(out).length || required || pointer === "" ? out : undefined;
        },
      };
    }
    if (schema.type === "array") {
      const items = h("ol", { class: "items" });
      const rows = [];
      const add = (v) => {
        const index = rows.length;
        const child = field(schema.items || {}, pointer + "/" + index, (schema.title || name) + " " + (index + 1), true, v);
        const remove = h("button", { type: "button", class: "secondary remove" }, "Remove");
        const row = h("li", {}, child.el, remove);
        const entry = { child, row };
        remove.addEventListener("click", () => {
          rows.splice(rows.indexOf(entry), 1);
          row.remove();
        });
        rows.push(entry);
        items.append(row);
      };
      (Array.isArray(start) ? start : []).forEach(add);
      const more = h("button", { type: "button", class: "secondary add", "data-pointer": pointer }, "Add");
      more.addEventListener("click", () => add(undefined));
      return {
        el: h("fieldset", { class: "array", "data-pointer": pointer }, h("legend", {}, schema.title || name), ...describe(schema), items, more, slot(pointer)),
        get: () => (rows.length || required ? rows.map((r) => r.child.get()) : undefined),
      };
    }
    let input;
    let get;
    if (Array.isArray(schema.enum)) {
      input = h("select", { id, "data-pointer": pointer });
      if (!required || start === undefined) input.append(h("option", { value: "" }, "—"));
      schema.enum.forEach((v, i) => {
        const option = h("option", { value: String(i) }, text(v));
        if (JSON.stringify(v) === JSON.stringify(start)) option.selected = true;
        input.append(option);
      });
      get = () => (input.value === "" ? undefined : schema.enum[Number(input.value)]);
    } else if (schema.type === "boolean") {
      input = h("input", { id, type: "checkbox", "data-pointer": pointer });
      input.checked = start === true;
      let touched = false;
      input.addEventListener("change", () => (touched = true));
      get = () => (touched || required || start !== undefined ? input.checked : undefined);
    } else if (schema.type === "integer" || schema.type === "number") {
      input = h("input", { id, type: "number", "data-pointer": pointer, step: schema.type === "integer" ? "1" : "any" });
      if (schema.minimum !== undefined) input.min = String(schema.minimum);
      if (schema.maximum !== undefined) input.max = String(schema.maximum);
      if (typeof start === "number") input.value = String(start);
      if (schema.examples?.length) input.placeholder = text(schema.examples[0]);
      get = () => {
        if (input.value.trim() === "") return undefined;
        const n = Number(input.value);
        return Number.isFinite(n) ? n : input.value;
      };
    } else {
      const long = schema.maxLength === undefined || schema.maxLength > 200;
      input = h(long ? "textarea" : "input", { id, "data-pointer": pointer });
      if (!long) input.type = "text";
      if (schema.maxLength !== undefined) input.maxLength = schema.maxLength;
      if (typeof start === "string") input.value = start;
      if (schema.examples?.length) input.placeholder = text(schema.examples[0]);
      get = () => (input.value === "" && !required ? undefined : input.value);
    }
    if (required) input.required = true;
    return {
      el: h("div", { class: "field", "data-field": pointer }, label(name, schema, required, id), input, ...describe(schema), slot(pointer)),
      get,
    };
  }

  const root = field(rootSchema, "", "", true, initial);
  const general = h("ul", { class: "form-errors", role: "alert" });
  return {
    element: h("div", { class: "schema-form" }, general, root.el),
    supported,
    value: () => root.get(),
    clearErrors() {
      general.replaceChildren();
      for (const el of errorSlots.values()) el.replaceChildren();
      for (const el of document.querySelectorAll(".invalid")) el.classList.remove("invalid");
    },
    /** Shows each violation at the field its JSON Pointer names (or the
     * nearest enclosing one); returns how many found no field. */
    setErrors(violations) {
      this.clearErrors();
      let unplaced = 0;
      for (const v of violations) {
        let pointer = v.pointer || "";
        while (!errorSlots.has(pointer) && pointer !== "") pointer = pointer.slice(0, pointer.lastIndexOf("/"));
        const target = errorSlots.get(pointer);
        const message = (v.pointer ? v.pointer + ": " : "") + v.message;
        if (target && pointer !== "") {
          target.append(h("p", {}, message));
          target.parentElement?.classList.add("invalid");
        } else {
          unplaced += 1;
          general.append(h("li", {}, message));
        }
      }
      return unplaced;
    },
  };
}

// Building DOM nodes. Every value from the API goes in as text (textContent), never as HTML:
// customer ids, plans and comments are whatever product backends sent.

/**
 * h("td", {class: "num", colspan: 2}, "text", otherNode) -> HTMLTableCellElement.
 * Attributes whose value is null, undefined or false are left out; `on` takes listeners.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "on") {
      for (const [type, listener] of Object.entries(value)) el.addEventListener(type, listener);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

/** The body of a panel section (its `.panel-body`). */
export function panelBody(id) {
  return document.querySelector(`#${id} .panel-body`);
}

export function message(text, kind = "") {
  return h("p", { class: `notice ${kind}`.trim(), role: kind === "error" ? "alert" : null }, text);
}

/** A horizontally scrollable box for a wide table; focusable, so keyboard users can scroll it. */
export function scrollable(label, child) {
  return h("div", { class: "scroll-x", tabindex: 0, role: "region", "aria-label": label }, child);
}

/** A table with a caption, column headers and rows of cells (strings, numbers or nodes). */
export function table({ caption, columns, rows, className = "data", captionHidden = false }) {
  return h(
    "table",
    { class: className },
    caption ? h("caption", { class: captionHidden ? "visually-hidden" : null }, caption) : null,
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        columns.map((c) => h("th", { scope: "col", class: c.numeric ? "num" : null }, c.label)),
      ),
    ),
    h(
      "tbody",
      {},
      rows.map((cells) =>
        h(
          "tr",
          {},
          cells.map((cell, i) =>
            i === 0 && columns[0].rowHeader
              ? h("th", { scope: "row" }, cell)
              : h("td", { class: columns[i].numeric ? "num" : null }, cell),
          ),
        ),
      ),
    ),
  );
}

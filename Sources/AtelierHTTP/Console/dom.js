// Small DOM and formatting helpers shared by the pages (no framework: the console ships as plain modules).
import { imageURL, Unauthorized } from "./api.js";

/** Creates an element: h("a", {href: "#/x", class: "y"}, "text", child…). Text is always set as text. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** An SVG element (charts). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** An <img> that loads a stored image with the token; `cls` styles it (thumb, full, draft). */
export function image(ref, cls, alt = "") {
  const img = h("img", { class: cls, alt, width: ref.width, height: ref.height, dataset: { imageUuid: ref.imageUUID } });
  imageURL(ref.taskUUID, ref.imageUUID).then((url) => { img.src = url; }).catch((e) => {
    img.replaceWith(h("span", { class: cls + " broken", title: String(e.message) }, e instanceof Unauthorized ? "token?" : "no image"));
  });
  return img;
}

/** USD with enough digits for cheap images; "—" for null; "unknown" when the source says so. */
export function money(usd, source) {
  if (source === "unknown") return "unknown";
  if (usd === null || usd === undefined) return "—";
  const digits = usd !== 0 && Math.abs(usd) < 0.1 ? 4 : 2;
  return "$" + usd.toFixed(digits);
}

/** A cost with its source as a badge (provider, computed, estimated, unknown). */
export function cost(usd, source) {
  return h("span", { class: "cost" }, money(usd, source), source ? h("span", { class: "badge src-" + source, title: "costSource" }, source) : null);
}

/** "12 s", "5 min", "3 h", "2 d" since an ISO time. */
export function age(iso) {
  if (!iso) return "—";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return Math.round(s) + " s";
  if (s < 3600) return Math.round(s / 60) + " min";
  if (s < 86400) return Math.round(s / 3600) + " h";
  return Math.round(s / 86400) + " d";
}

export function status(st) { return h("span", { class: "status st-" + st }, st); }

/** Replaces the page's content. */
export function show(...nodes) {
  const view = document.getElementById("view");
  view.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
}

/** A titled section. */
export function section(title, ...body) { return h("section", { class: "panel" }, h("h2", {}, title), ...body); }

/** A definition list from [label, value] pairs (values may be nodes). */
export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter((p) => p).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v === null || v === undefined ? "—" : v)]));
}

/** Pretty JSON in a <pre>. */
export function code(value) { return h("pre", { class: "json" }, JSON.stringify(value, null, 2)); }

export function errorPanel(e) { return h("p", { class: "panel error" }, String(e.message || e)); }

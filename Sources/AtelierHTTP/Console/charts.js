// Inline SVG charts (no library): stacked columns over time, and horizontal bars with an optional cap marker.
import { s, h } from "./dom.js";

const PALETTE = ["#3867d6", "#20bf6b", "#f7b731", "#eb3b5a", "#8854d0", "#0fb9b1", "#fa8231", "#4b6584", "#a55eea", "#2d98da"];
export function colour(i) { return PALETTE[i % PALETTE.length]; }

/** An axis label in USD with enough digits for the scale (`top` is the axis' largest value). */
function usd(v, top) {
  const digits = top >= 10 ? 0 : top >= 1 ? 2 : Math.min(6, 2 - Math.floor(Math.log10(top)));
  return "$" + v.toFixed(digits);
}

/** Stacked columns: one per bucket, one colour per series ({group, values}). */
export function columns(buckets, series, { width = 720, height = 220, label = "" } = {}) {
  const pad = { l: 56, r: 8, t: 10, b: 26 };
  const n = buckets.length;
  const totals = buckets.map((_, i) => series.reduce((a, x) => a + x.values[i], 0));
  const max = Math.max(...totals, 1e-9);
  const cw = (width - pad.l - pad.r) / Math.max(n, 1);
  const y = (v) => pad.t + (height - pad.t - pad.b) * (1 - v / max);
  const svg = s("svg", { class: "chart columns", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  for (const f of [0, 0.5, 1]) {
    svg.append(s("line", { x1: pad.l, x2: width - pad.r, y1: y(max * f), y2: y(max * f), class: "grid" }),
      s("text", { x: pad.l - 6, y: y(max * f) + 4, class: "axis", "text-anchor": "end" }, usd(max * f, max)));
  }
  buckets.forEach((start, i) => {
    let acc = 0;
    series.forEach((x, k) => {
      const v = x.values[i];
      if (v <= 0) return;
      svg.append(s("rect", { x: pad.l + i * cw + 1, y: y(acc + v), width: Math.max(cw - 2, 1), height: y(acc) - y(acc + v), fill: colour(k), class: "bar" },
        s("title", {}, `${x.group}: $${v.toFixed(4)} (${start})`)));
      acc += v;
    });
    const every = Math.ceil(n / 8);
    if (i % every === 0) {
      const d = new Date(start);
      const text = n > 30 || (buckets.length > 1 && Date.parse(buckets[1]) - Date.parse(buckets[0]) > 3600000)
        ? d.toLocaleDateString(undefined, { month: "short", day: "numeric" }) : d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
      svg.append(s("text", { x: pad.l + i * cw + cw / 2, y: height - 8, class: "axis", "text-anchor": "middle" }, text));
    }
  });
  return svg;
}

/** Horizontal bars: items [{label, value, text, cap?}]; a cap draws a marker at that value. */
export function bars(items, { width = 520, row = 24, label = "", max: fixedMax } = {}) {
  const pad = { l: 170, r: 90 };
  const max = fixedMax ?? Math.max(...items.map((x) => Math.max(x.value, x.cap || 0)), 1e-9);
  const height = Math.max(items.length, 1) * row + 6;
  const w = (v) => (width - pad.l - pad.r) * Math.min(v / max, 1);
  const svg = s("svg", { class: "chart bars", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  items.forEach((x, i) => {
    const top = 3 + i * row;
    svg.append(
      s("text", { x: pad.l - 8, y: top + row / 2 + 4, class: "axis", "text-anchor": "end" }, x.label.length > 24 ? x.label.slice(0, 23) + "…" : x.label),
      s("rect", { x: pad.l, y: top + 3, width: Math.max(w(x.value), x.value > 0 ? 2 : 0), height: row - 8, fill: x.colour || colour(i), class: "bar" },
        s("title", {}, `${x.label}: ${x.text}`)),
      s("text", { x: pad.l + w(x.value) + 6, y: top + row / 2 + 4, class: "value" }, x.text));
    if (x.cap) svg.append(s("line", { x1: pad.l + w(x.cap), x2: pad.l + w(x.cap), y1: top, y2: top + row - 2, class: "cap" }));
  });
  if (!items.length) svg.append(s("text", { x: 8, y: 18, class: "axis" }, "nothing in this window"));
  return svg;
}

/** A colour legend for the series of a column chart. */
export function legend(series) {
  return h("ul", { class: "legend" }, series.map((x, k) => {
    const swatch = h("span", { class: "swatch" });
    swatch.style.background = colour(k); // through the CSSOM: the page's policy forbids style attributes
    return h("li", {}, swatch, x.group);
  }));
}

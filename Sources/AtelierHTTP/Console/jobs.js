// Jobs: the live list (thumbnail, status, model, cost, age), filtered by status, model and tag. New and changed jobs
// arrive through the event stream; the list is fetched once per filter change, never polled.
import { get, call } from "./api.js";
import { h, image, cost, age, status, show, errorPanel } from "./dom.js";

const STATUSES = ["", "queued", "running", "succeeded", "failed", "cancelled"];

export function jobsPage(query, live) {
  const filter = { status: query.get("status") || "", model: query.get("model") || "", tag: query.get("tag") || "" };
  const rows = new Map();
  const tbody = h("tbody", {});
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More");
  let nextCursor = null;

  const models = h("datalist", { id: "models" });
  call("models.list").then((r) => models.replaceChildren(...r.models.map((m) => h("option", { value: m.id })))).catch(() => {});

  const form = h("form", { class: "filters", onsubmit: (e) => {
      e.preventDefault();
      const q = new URLSearchParams();
      for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
      location.hash = "#/jobs" + (q.toString() ? "?" + q : "");
    } },
    h("label", {}, "Status ", h("select", { name: "status" }, STATUSES.map((s) => h("option", { value: s, selected: s === filter.status }, s || "any")))),
    h("label", {}, "Model ", h("input", { name: "model", list: "models", value: filter.model, placeholder: "any", size: 22 })),
    h("label", {}, "Tag ", h("input", { name: "tag", value: filter.tag, placeholder: "key=value", size: 18 })),
    h("button", { type: "submit" }, "Filter"), models);

  function matches(j) {
    if (filter.status && j.status !== filter.status) return false;
    if (filter.model && j.model !== filter.model) return false;
    if (filter.tag) {
      const i = filter.tag.indexOf("=");
      if ((j.tags || {})[filter.tag.slice(0, i)] !== filter.tag.slice(i + 1)) return false;
    }
    return true;
  }

  function row(j) {
    return h("tr", { dataset: { task: j.taskUUID, status: j.status }, class: "job-row", onclick: () => { location.hash = "#/job/" + j.taskUUID; } },
      h("td", { class: "thumb-cell" }, j.thumbnail ? image(j.thumbnail, "thumb", "result of " + j.taskUUID) : h("span", { class: "thumb empty" }, j.status === "failed" ? "✕" : "…")),
      h("td", {}, status(j.status)),
      h("td", {}, h("a", { href: "#/job/" + j.taskUUID, class: "mono" }, j.taskUUID.slice(0, 8)), h("div", { class: "prompt" }, j.prompt)),
      h("td", {}, j.model, h("div", { class: "muted" }, j.provider || "")),
      h("td", { class: "num" }, cost(j.costUSD, j.costSource)),
      h("td", { class: "num", dataset: { created: j.createdAt } }, age(j.createdAt)));
  }

  function put(j, atTop) {
    const old = rows.get(j.taskUUID);
    const fresh = row(j);
    rows.set(j.taskUUID, fresh);
    if (old) old.replaceWith(fresh);
    else if (atTop) tbody.prepend(fresh);
    else tbody.append(fresh);
  }

  async function load(cursor) {
    const q = new URLSearchParams();
    for (const k of ["status", "model", "tag"]) if (filter[k]) q.set(k, filter[k]);
    q.set("limit", "50");
    if (cursor) q.set("cursor", cursor);
    const page = await get("/api/jobs?" + q);
    for (const j of page.jobs) put(j, false);
    nextCursor = page.nextCursor;
    more.hidden = !nextCursor;
    empty.hidden = rows.size > 0;
  }
  more.addEventListener("click", () => load(nextCursor).catch((e) => show(errorPanel(e))));

  const empty = h("p", { class: "muted", hidden: true }, "No jobs match.");
  const table = h("table", { class: "jobs", id: "jobs" },
    h("thead", {}, h("tr", {}, ["", "Status", "Job", "Model", "Cost", "Age"].map((t) => h("th", {}, t)))), tbody);
  show(h("h1", {}, "Jobs"), form, table, empty, more);

  const ticker = setInterval(() => {
    for (const td of tbody.querySelectorAll("td[data-created]")) td.textContent = age(td.dataset.created);
  }, 10000);
  const off = live.on("job", (e) => {
    if (matches(e.job)) { put(e.job, !rows.has(e.job.taskUUID)); empty.hidden = true; }
    else if (rows.has(e.job.taskUUID)) { rows.get(e.job.taskUUID).remove(); rows.delete(e.job.taskUUID); }
  });
  const offReset = live.on("dropped", () => { rows.clear(); tbody.replaceChildren(); load(null).catch(() => {}); });
  load(null).catch((e) => show(errorPanel(e)));
  return () => { clearInterval(ticker); off(); offReset(); };
}

// A job: its images at full size, the task as accepted, the route with every alternative and rejection reason,
// each attempt, verification, cost and costSource, delivery state, and the recipe to reproduce it.
import { call } from "./api.js";
import { h, image, cost, age, status, show, section, facts, code, errorPanel } from "./dom.js";

export function jobPage(taskUUID, live) {
  let current = null;
  async function render() {
    let job;
    try { job = await call("job.get", { taskUUID }); } catch (e) { show(errorPanel(e)); return; }
    current = job;
    const [explain, recipe] = await Promise.all([
      call("route.explain", { task: job.task }).catch((e) => ({ error: { message: e.message } })),
      job.status === "succeeded" ? call("job.recipe", { taskUUID }).catch((e) => ({ unavailable: e.message, code: e.code })) : null,
    ]);
    const unfinished = job.status === "queued" || job.status === "running";
    const cancel = unfinished ? h("button", { type: "button", class: "danger", onclick: async (e) => {
        e.target.disabled = true;
        try { await call("job.cancel", { taskUUID }); } catch (err) { alert(err.message); e.target.disabled = false; }
      } }, "Cancel job") : null;
    show(
      h("p", {}, h("a", { href: "#/jobs" }, "← Jobs")),
      h("h1", {}, "Job ", h("span", { class: "mono" }, taskUUID), " ", status(job.status), " ", cancel),
      h("p", { class: "prompt-full" }, job.task.positivePrompt),
      images(job),
      section("Summary", facts([
        ["Model", job.route ? job.route.model + " (" + job.route.provider + ")" : job.task.model],
        ["Cost", cost(job.costUSD, job.costSource)],
        ["Estimated", job.route ? "$" + job.route.estimatedCostUSD.toFixed(4) : null],
        ["Created", job.createdAt + " (" + age(job.createdAt) + " ago)"],
        ["Finished", job.finishedAt],
        ["Error", job.error ? job.error.code + ": " + job.error.message : null],
      ])),
      route(job, explain),
      attempts(job),
      verification(job),
      deliveries(job),
      section("Recipe", recipe === null ? h("p", { class: "muted" }, "Available once the job succeeded.")
        : recipe.unavailable ? h("p", { class: "muted" }, recipe.unavailable) : code(recipe)),
      section("Task as accepted", code(job.task)),
    );
  }
  function images(job) {
    if (!job.results.length) return h("p", { class: "muted" }, job.status === "succeeded" ? "No images." : "No images yet.");
    return h("div", { class: "images" }, job.results.map((r) => h("figure", {},
      image({ taskUUID: job.taskUUID, imageUUID: r.imageUUID, width: r.width, height: r.height }, "full", "image " + r.imageUUID),
      h("figcaption", {}, r.width + "×" + r.height + " " + r.mimeType + " · seed " + (r.seed ?? "—") + (r.seedHonored ? " (honoured)" : "") + " · ", cost(r.costUSD, r.costSource)))));
  }
  render();
  const off = live.on("job", (e) => { if (e.taskUUID === taskUUID && (!current || e.status !== current.status || e.event === "result")) render(); });
  return off;
}

function route(job, explain) {
  const recorded = job.route ? facts([
    ["Chosen", job.route.model + " on " + job.route.provider],
    ["Arm", job.route.arm],
    ["Fallbacks", job.route.fallbacks.join(", ") || "none"],
    ["Reasons", h("ul", {}, job.route.reasons.map((r) => h("li", {}, r)))],
  ]) : h("p", { class: "muted" }, "Not routed.");
  let now = null;
  if (explain && !explain.error) {
    now = h("table", { class: "route" },
      h("thead", {}, h("tr", {}, ["Model", "Provider", "Estimate", "Outcome"].map((t) => h("th", {}, t)))),
      h("tbody", {},
        explain.chosen ? h("tr", { class: "chosen" }, h("td", {}, explain.chosen.model), h("td", {}, explain.chosen.provider),
          h("td", { class: "num" }, "$" + explain.chosen.estimatedCostUSD.toFixed(4)), h("td", {}, "chosen")) : null,
        explain.alternatives.map((a) => h("tr", {}, h("td", {}, a.model), h("td", {}, a.provider),
          h("td", { class: "num" }, "$" + a.estimatedCostUSD.toFixed(4)), h("td", {}, a.fallback ? "alternative (fallback)" : "alternative"))),
        explain.rejected.map((r) => h("tr", { class: "rejected" }, h("td", {}, r.model), h("td", {}, r.provider || ""), h("td", {}, ""),
          h("td", {}, h("strong", {}, r.reason), " ", r.detail)))));
  }
  return section("Route", recorded,
    h("h3", {}, "Every model, as the router decides this task now"),
    now || h("p", { class: "muted" }, explain && explain.error ? explain.error.message : "—"));
}

function attempts(job) {
  if (!job.attempts.length) return section("Attempts", h("p", { class: "muted" }, "None yet."));
  return section("Attempts", h("table", { class: "attempts" },
    h("thead", {}, h("tr", {}, ["#", "Model", "Provider", "Outcome", "Started", "Ended", "Cost", "Error"].map((t) => h("th", {}, t)))),
    h("tbody", {}, job.attempts.map((a) => h("tr", {},
      h("td", {}, a.number), h("td", {}, a.model), h("td", {}, a.provider), h("td", {}, status(a.outcome)),
      h("td", {}, a.startedAt), h("td", {}, a.endedAt || "—"), h("td", { class: "num" }, a.costSource ? cost(a.costUSD, a.costSource) : "—"),
      h("td", {}, a.error ? a.error.code + ": " + a.error.message : ""))))));
}

function verification(job) {
  const rows = job.results.map((r) => h("li", {}, r.imageUUID.slice(0, 8) + ": ",
    !r.verification ? "not checked" : r.verification.ok ? h("span", { class: "ok" }, "matches the request")
      : h("span", { class: "warn" }, "differs: " + JSON.stringify(r.verification.mismatches))));
  return section("Verification", rows.length ? h("ul", {}, rows) : h("p", { class: "muted" }, "No results to check."));
}

function deliveries(job) {
  const list = job.deliveries || [];
  if (!list.length) return section("Delivery", h("p", { class: "muted" }, "No webhook or upload for this job."));
  return section("Delivery", h("table", {},
    h("thead", {}, h("tr", {}, ["Kind", "Event", "Status", "Attempts", "Next", "Last error"].map((t) => h("th", {}, t)))),
    h("tbody", {}, list.map((d) => h("tr", {}, h("td", {}, d.kind), h("td", {}, d.event || ""), h("td", {}, status(d.status)),
      h("td", { class: "num" }, d.attempts ?? 0), h("td", {}, d.nextAttemptAt || "—"), h("td", {}, d.lastError || ""))))));
}

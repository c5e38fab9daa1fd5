// Workflows: the list, and one workflow — its drafts as a contact sheet (a click selects one with workflow.select),
// the final followed live as it runs, then draft and final side by side with the cost and the saving against
// running everything on the most expensive model.
import { call } from "./api.js";
import { h, image, money, age, status, show, section, facts, errorPanel } from "./dom.js";

export function workflowsPage(query, live) {
  const tbody = h("tbody", {});
  async function load() {
    const state = query.get("state");
    const page = await call("workflow.list", state ? { state, limit: 100 } : { limit: 100 });
    tbody.replaceChildren(...page.workflows.map((w) => h("tr", { class: "workflow-row", dataset: { workflow: w.workflowUUID, state: w.state },
        onclick: () => { location.hash = "#/workflow/" + w.workflowUUID; } },
      h("td", {}, h("a", { href: "#/workflow/" + w.workflowUUID, class: "mono" }, w.workflowUUID.slice(0, 8))),
      h("td", {}, status(w.state)), h("td", { class: "prompt" }, w.positivePrompt),
      h("td", { class: "num" }, w.succeededVariants + "/" + w.variants), h("td", { class: "num" }, money(w.totalUSD)),
      h("td", { class: "num" }, age(w.createdAt)))));
    empty.hidden = page.workflows.length > 0;
  }
  const empty = h("p", { class: "muted", hidden: true }, "No workflows yet.");
  show(h("h1", {}, "Workflows"),
    h("table", { class: "workflows", id: "workflows" },
      h("thead", {}, h("tr", {}, ["Workflow", "State", "Prompt", "Drafts", "Cost", "Age"].map((t) => h("th", {}, t)))), tbody),
    empty);
  load().catch((e) => show(errorPanel(e)));
  return live.on("workflow", () => load().catch(() => {}));
}

export function workflowPage(workflowUUID, live) {
  let w = null;
  let selecting = false;
  async function render() {
    try { w = await call("workflow.get", { workflowUUID }); } catch (e) { show(errorPanel(e)); return; }
    const ideation = w.stages.ideation;
    const final = w.stages.final;
    const selection = w.stages.selection;
    const choosable = w.state === "awaiting_selection" || (w.state === "ideating" && selection && selection.mode === "client");
    const sheet = h("div", { class: "contact-sheet", id: "contact-sheet" }, ideation.variants.map((v) => {
      const chosen = selection && selection.imageUUID && v.image && v.image.imageUUID === selection.imageUUID;
      const card = h("figure", { class: "draft-card" + (chosen ? " chosen" : "") + (v.image && choosable ? " selectable" : ""),
          dataset: { variant: v.index, imageUuid: v.image ? v.image.imageUUID : "" } },
        v.image ? image({ taskUUID: v.taskUUID, imageUUID: v.image.imageUUID, width: v.image.width, height: v.image.height }, "draft", "draft " + v.index)
          : h("div", { class: "draft placeholder" }, v.status),
        h("figcaption", {}, "#" + v.index + " · " + (v.model || "") + " · " + money(v.costUSD, v.costSource) + (chosen ? " · selected" : "")));
      if (v.image && choosable) card.addEventListener("click", () => select(v.image.imageUUID, card));
      return card;
    }));
    show(
      h("p", {}, h("a", { href: "#/workflows" }, "← Workflows")),
      h("h1", {}, "Workflow ", h("span", { class: "mono" }, workflowUUID), " ", h("span", { id: "workflow-state", dataset: { state: w.state } }, status(w.state))),
      h("p", { class: "prompt-full" }, w.request.positivePrompt),
      section(choosable ? "Drafts — click one to make the final from it" : "Drafts", sheet),
      finalSection(w),
      costSection(w),
      w.error ? h("p", { class: "panel error" }, w.error.code + ": " + w.error.message) : null,
    );
  }
  async function select(imageUUID, card) {
    if (selecting) return;
    selecting = true;
    card.classList.add("chosen");
    try { await call("workflow.select", { workflowUUID, imageUUID }); } catch (e) { alert(e.message); }
    selecting = false;
    render();
  }
  render();
  const offW = live.on("workflow", (e) => { if (e.workflowUUID === workflowUUID) render(); });
  const offJ = live.on("job", (e) => {
    if (w && (e.taskUUID === w.stages.final.taskUUID || w.stages.ideation.variants.some((v) => v.taskUUID === e.taskUUID))) render();
  });
  return () => { offW(); offJ(); };
}

function finalSection(w) {
  const final = w.stages.final;
  const selection = w.stages.selection;
  const variant = selection && selection.imageUUID ? w.stages.ideation.variants.find((v) => v.image && v.image.imageUUID === selection.imageUUID) : null;
  if (!variant) return section("Final", h("p", { class: "muted" }, "Runs once a draft is selected."));
  const left = h("figure", { class: "side" },
    image({ taskUUID: variant.taskUUID, imageUUID: variant.image.imageUUID, width: variant.image.width, height: variant.image.height }, "side-image", "selected draft"),
    h("figcaption", {}, "Draft #" + variant.index + " · " + (variant.model || "") + " · " + money(variant.costUSD, variant.costSource)));
  const right = final.image
    ? h("figure", { class: "side", id: "final" },
        image({ taskUUID: final.taskUUID, imageUUID: final.image.imageUUID, width: final.image.width, height: final.image.height }, "side-image final-image", "final"),
        h("figcaption", {}, "Final · " + (final.model || "") + " · seed " + (final.seed ?? "—") + " · " + money(final.costUSD, final.costSource)))
    : h("figure", { class: "side pending", id: "final" }, h("div", { class: "draft placeholder" }, final.status || "pending"), h("figcaption", {}, "Final: " + (final.status || "pending")));
  return section("Draft and final", h("div", { class: "side-by-side" }, left, right),
    h("p", {}, h("a", { href: "#/job/" + final.taskUUID }, "The final's job →")));
}

function costSection(w) {
  const c = w.cost || {};
  const ref = c.allOnMostExpensive || {};
  const by = c.bySource || {};
  const unknown = by.unknown || {};
  const saving = typeof c.savingsUSD === "number"
    ? h("strong", { class: c.savingsUSD >= 0 ? "ok" : "warn", id: "saving" }, money(c.savingsUSD) + (typeof c.savingsPercent === "number" ? " (" + c.savingsPercent.toFixed(1) + " %)" : ""))
    : h("span", { id: "saving" }, "—");
  return section("Cost", facts([
    ["Drafts", money(c.ideationUSD)],
    ["Final", money(c.finalUSD)],
    ["Total", money(c.totalUSD)],
    c.projected ? ["Projected", money(c.projected.totalUSD)] : null,
    ["All on " + (ref.model || "the most expensive model"), money(ref.totalUSD)],
    ["Saving", saving],
    by.estimatedUSD ? ["Of which estimated", money(by.estimatedUSD)] : null,
    unknown.jobs ? ["Jobs without a known price", unknown.jobs + " (at most " + money(unknown.ceilingUSD) + ")"] : null,
  ]));
}

// Costs: spend per model, provider and arm over the last day or week (inline SVG), budgets against their caps, and
// success rate and p95 latency per model (stats.get).
import { call, get } from "./api.js";
import { h, money, show, section, errorPanel } from "./dom.js";
import { columns, bars, legend } from "./charts.js";

export function costsPage(query, live) {
  const hours = query.get("window") === "week" ? 168 : 24;
  const switcher = h("p", { class: "switch" },
    h("a", { href: "#/costs?window=day", class: hours === 24 ? "on" : "" }, "Last day"), " ",
    h("a", { href: "#/costs?window=week", class: hours === 168 ? "on" : "" }, "Last week"));
  async function render() {
    const groupings = ["model", "provider", "arm"];
    const [series, stats] = await Promise.all([
      Promise.all(groupings.map((by) => get(`/api/spend?hours=${hours}&by=${by}`))),
      call("stats.get", { by: "model", sinceHours: hours }),
    ]);
    const spend = groupings.map((by, i) => {
      const x = series[i];
      const note = [];
      if (x.estimatedUSD > 0) note.push(money(x.estimatedUSD) + " of it estimated (catalog price)");
      const unknown = Object.values(x.unknownJobs).reduce((a, b) => a + b, 0);
      if (unknown > 0) note.push(unknown + " job" + (unknown === 1 ? "" : "s") + " without a known price (not in the total)");
      return section("Spend per " + by + " — " + money(x.totalUSD),
        h("div", { class: "chart-row" },
          h("div", {}, columns(x.buckets, x.series, { label: "spend per " + by + " over time" }), legend(x.series)),
          bars(x.series.map((s) => ({ label: s.group, value: s.totalUSD, text: money(s.totalUSD) })), { label: "spend per " + by })),
        note.length ? h("p", { class: "muted" }, note.join("; ")) : null);
    });
    const budgets = stats.budgets || [];
    const budgetChart = section("Budgets against caps (current period)", budgets.length
      ? bars(budgets.map((b) => ({ label: `${b.tag}=${b.value} (${b.period})`, value: b.spentUSD, cap: b.capUSD,
          text: `${money(b.spentUSD)} of ${money(b.capUSD)}`, colour: b.spentUSD >= b.capUSD ? "#eb3b5a" : b.spentUSD >= 0.8 * b.capUSD ? "#f7b731" : "#20bf6b" })),
          { label: "budgets against caps" })
      : h("p", { class: "muted" }, "No budgets are configured (routing.json budgets)."));
    const groups = stats.groups || [];
    const models = section("Success rate and p95 latency per model",
      h("div", { class: "chart-row" },
        bars(groups.map((g) => ({ label: g.group, value: g.successRate ?? 0, text: g.successRate === null ? "—" : (g.successRate * 100).toFixed(1) + " % of " + (g.succeeded + g.failed) })),
          { label: "success rate per model", max: 1 }),
        bars(groups.map((g) => ({ label: g.group, value: g.latencyP95Seconds ?? 0, text: g.latencyP95Seconds === null ? "—" : g.latencyP95Seconds.toFixed(2) + " s" })),
          { label: "p95 latency per model" })));
    show(h("h1", {}, "Costs"), switcher, ...spend, budgetChart, models);
  }
  render().catch((e) => show(errorPanel(e)));
  let pending = null;
  return live.on("job", (e) => {
    if (!e.job.finishedAt || pending) return;
    pending = setTimeout(() => { pending = null; render().catch(() => {}); }, 3000);
  });
}

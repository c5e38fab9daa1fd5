// The console's entry: takes the token from the URL fragment, asks for it when missing or refused, follows the
// event stream, and shows the page the hash names (#/jobs, #/job/<id>, #/workflows, #/workflow/<id>, #/costs).
import { adoptTokenFromFragment, token, setToken, forgetToken, call, followEvents, Unauthorized } from "./api.js";
import { h, show } from "./dom.js";
import { jobsPage } from "./jobs.js";
import { jobPage } from "./job.js";
import { workflowsPage, workflowPage } from "./workflows.js";
import { costsPage } from "./costs.js";

/** Listeners of the event stream, by event name; pages register and unregister. */
const live = {
  listeners: new Map(),
  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
    return () => this.listeners.get(name).delete(fn);
  },
  emit(name, data) { for (const fn of this.listeners.get(name) || []) fn(data); },
};

let leave = null;
let stopEvents = null;

function tokenGate(message) {
  if (stopEvents) { stopEvents(); stopEvents = null; }
  setLive("unauthorized");
  const input = h("input", { type: "password", name: "token", autocomplete: "off", size: 66, placeholder: "64 hex digits", required: true });
  const form = h("form", { onsubmit: (e) => { e.preventDefault(); setToken(input.value); route(); } },
    h("label", {}, "Token ", input), " ", h("button", { type: "submit" }, "Open"));
  show(h("section", { class: "panel gate", id: "token-gate" },
    h("h1", {}, "Token required"),
    h("p", {}, message),
    h("p", {}, "Run ", h("code", {}, "atelier console"), " on the daemon's machine: it prints the console's address with the token. Or paste the token from the file next to the daemon's socket (",
      h("code", {}, "atelierd.token"), ")."),
    form));
}

function setLive(state) {
  const el = document.getElementById("live");
  el.textContent = state === "live" ? "live" : state === "unauthorized" ? "no token" : "offline";
  el.className = "live state-" + state;
}

async function route() {
  if (leave) { leave(); leave = null; }
  if (!token()) { tokenGate("This console shows your jobs and images; it needs the daemon's token."); return; }
  try {
    await call("daemon.health");
  } catch (e) {
    if (e instanceof Unauthorized) { forgetToken(); tokenGate("The daemon refused that token (it changes at every start)."); return; }
  }
  if (!stopEvents) stopEvents = followEvents((name, data) => live.emit(name, data), setLive);
  const [path, q] = (location.hash.slice(1) || "/jobs").split("?");
  const query = new URLSearchParams(q || "");
  const parts = path.split("/").filter(Boolean);
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("on", parts[0] && a.dataset.nav.startsWith(parts[0].replace(/s$/, "")));
  switch (parts[0]) {
    case "job": leave = jobPage(parts[1], live); break;
    case "workflows": leave = workflowsPage(query, live); break;
    case "workflow": leave = workflowPage(parts[1], live); break;
    case "costs": leave = costsPage(query, live); break;
    default: leave = jobsPage(query, live);
  }
}

adoptTokenFromFragment();
window.addEventListener("hashchange", () => { adoptTokenFromFragment(); route(); });
route();

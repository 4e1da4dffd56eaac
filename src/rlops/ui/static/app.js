// The dashboard's shell: hash routes → page modules, the nav bar and the server's health dot.
// A page module exports mount(root, params) and returns its cleanup (streams, timers, charts).

import { api } from "./api.js";
import { closeVideo, errorPanel, loading, toast } from "./dom.js";

const PAGES = {
  runs: () => import("./runs.js"),
  run: () => import("./run.js"),
  replay: () => import("./replay.js"),
  compare: () => import("./compare.js"),
  start: () => import("./start.js"),
  models: () => import("./models.js"),
  retention: () => import("./retention.js"),
  play: () => import("./play.js"),
  datasets: () => import("./datasets.js"),
};

/** "#/runs/abc/replay?x=1" → {page, params, nav} */
export function route(hash) {
  const [path, query = ""] = (hash || "").replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  const params = Object.fromEntries(new URLSearchParams(query));
  if (!parts.length || (parts[0] === "runs" && parts.length === 1)) return { page: "runs", params, nav: "runs" };
  if (parts[0] === "runs" && parts.length === 2) return { page: "run", params: { ...params, id: parts[1] }, nav: "runs" };
  if (parts[0] === "runs" && parts.length === 3 && parts[2] === "replay") {
    return { page: "replay", params: { ...params, id: parts[1] }, nav: "runs" };
  }
  if (parts.length === 1 && parts[0] === "compare") return { page: "compare", params, nav: "runs" };
  if (parts.length === 1 && parts[0] === "new") return { page: "start", params, nav: "new" };
  if (parts.length === 1 && parts[0] === "models") return { page: "models", params, nav: "models" };
  if (parts.length === 1 && parts[0] === "play") return { page: "play", params, nav: "play" };
  if (parts.length === 1 && parts[0] === "retention") return { page: "retention", params, nav: "retention" };
  if (parts.length === 1 && parts[0] === "datasets") return { page: "datasets", params, nav: "datasets" };
  return { page: null, params, nav: null, path };
}

const root = document.getElementById("view");
let cleanup = null;
let generation = 0;

async function show() {
  const mine = ++generation;
  if (cleanup) {
    try {
      cleanup();
    } catch (err) {
      console.error(err);
    }
    cleanup = null;
  }
  closeVideo();
  const r = route(window.location.hash);
  for (const a of document.querySelectorAll("nav.top a[data-nav]")) {
    a.classList.toggle("active", a.dataset.nav === r.nav);
    if (a.dataset.nav === r.nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!r.page) {
    root.innerHTML = errorPanel(
      { status: 404, message: `there is no page ${r.path || "/"}`, hint: "the pages: Runs, New run, Models, Retention" },
      "Page not found");
    return;
  }
  root.innerHTML = loading();
  try {
    const module = await PAGES[r.page]();
    if (mine !== generation) return;
    root.innerHTML = "";
    window.scrollTo(0, 0);
    cleanup = module.mount(root, r.params) || null;
  } catch (err) {
    console.error(err);
    if (mine === generation) root.innerHTML = errorPanel(err, "This page failed to load");
  }
}

async function health() {
  const dot = document.getElementById("health");
  try {
    const h = await api("/api/health");
    dot.className = "health " + (h && h.ok ? "ok" : "bad");
    dot.querySelector(".version").textContent = h.version ? `v${h.version}` : "";
    dot.title = h.ok ? `server healthy, rlops ${h.version ?? ""}` : "the server reports a problem";
  } catch (err) {
    dot.className = "health bad";
    dot.title = `${err.message}${err.hint ? " — " + err.hint : ""}`;
  }
}

window.addEventListener("hashchange", show);
window.addEventListener("unhandledrejection", (e) => {
  const err = e.reason;
  if (err && err.name === "ApiError") {
    toast(err);
    e.preventDefault();
  }
});
if (!window.location.hash) window.history.replaceState(null, "", "#/runs");
show();
health();
setInterval(health, 15000);

// For the console: what the dashboard knows it is.
window.__rlops = window.__rlops || { lastDraw: null };
window.__rlops.route = route;
window.__rlops.version = () => document.querySelector("#health .version")?.textContent;

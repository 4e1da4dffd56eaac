// One run: header and actions, live charts (downsampled history, then the run's record stream),
// artifacts, checkpoints and resume points, evaluations, failures and the log drawer.

import { api, apiOr, encodePath, fileUrl, openStream, runPath } from "./api.js";
import { Chart } from "./charts.js";
import { errorPanel, loading, playVideo, runHref, toast } from "./dom.js";
import {
  ago, datetime, duration, elapsed, esc, flatten, int, num, placement, show, shortHash, si, statusBadge, DASH,
} from "./format.js";
import { subscribeRuns } from "./live.js";
import { createLogDrawer } from "./logs.js";
import { datasetPart } from "./run_dataset.js";

const ACTIVE = new Set(["queued", "running"]);
const STREAM_TYPES = "meta,metrics,episode,checkpoint,eval,end,error,artifact,resume";
const MAX_POINTS = 2000;
const ENVELOPE = new Set(["v", "type", "run_id", "trace_id", "seq", "t", "env_steps", "values"]);

// Which metric keys each fixed chart draws; `has` says which keys the run has so far. One chart
// holds one quantity on one axis: episode returns and their rolling mean; reward per step apart;
// each loss its own small chart (a value loss of ~20 would flatten an entropy loss of ~-0.6).
const CHARTS = [
  { name: "reward", title: "Episode return", yLabel: "return", accepts: (k) => k === "rollout/ep_rew_mean",
    series: () => ({ color: "#059669" }) },
  { name: "reward-step", title: "Reward per step", yLabel: "reward / step", accepts: (k) => k === "reward_mean",
    series: () => ({ color: "#2563eb" }) },
  { name: "losses", group: true, yLabel: "loss", accepts: (k) => /^train\/.*loss/.test(k) },
  { name: "entropy", title: "Entropy", yLabel: "entropy", accepts: (k, has) => k === "entropy_mean" || (k === "train/entropy_loss" && !has("entropy_mean")) },
  { name: "rates", title: "Done / truncation rate", yLabel: "per env step", accepts: (k) => k === "done_rate" || k === "trunc_rate", yFormat: (v) => num(v, 2) },
  { name: "sps", title: "Steps per second", yLabel: "env steps / s", accepts: (k, has) => k === "sps" || (k === "time/fps" && !has("sps")), yFormat: (v) => si(v) },
];

/** A metrics record's values: {values: {...}} or, as rlops writes them, flat numeric fields. */
export function metricValues(rec) {
  if (rec.values && typeof rec.values === "object") return rec.values;
  const out = {};
  for (const [k, v] of Object.entries(rec)) {
    if (!ENVELOPE.has(k) && typeof v === "number" && Number.isFinite(v)) out[k] = v;
  }
  return out;
}

/** The artifacts still there: the manifest also records what retention pruned since. */
function liveArtifacts(run) {
  const list = run.artifacts ?? [];
  const pruned = new Set(list.filter((a) => a.action === "pruned").map((a) => a.path));
  return list.filter((a) => a.action !== "pruned" && !pruned.has(a.path) && !pruned.has("."));
}

/** A W&B run's page: the artifact's url, or its path when the run printed a URL (online mode). */
function wandbUrl(a) {
  if (a.url) return a.url;
  return /^https?:\/\//.test(a.path ?? "") ? a.path : null;
}

export function mount(root, params) {
  const id = params.id;
  const base = runPath(id);
  const ctx = {
    run: null,
    keys: new Set(),
    routes: new Map(), // metric key → [{chart, i}]
    lastStep: new Map(), // metric key → last env step drawn
    charts: new Map(), // name → Chart
    groups: new Map(), // name → the element a group's charts (one per key) go in
    parent: null, // the model a warm-started run began from: {id, run, path}
    extra: new Map(), // key → Chart
    events: [], // checkpoint, resume, eval, error records
    seenSeq: new Set(),
    lastEpisodeSeq: -1,
    replays: null,
    stopping: false,
    tbUrl: null,
    disposed: false,
  };
  const cleanups = [];
  root.innerHTML = loading("Loading run…");

  const has = (k) => ctx.keys.has(k);

  // ---- layout ----
  function renderShell() {
    root.innerHTML = `<section class="page run-page">
      <div class="run-head">
        <div>
          <div class="run-title"><a href="#/" class="muted" title="all runs">Runs /</a>
            <h1 data-testid="run-name">${esc(id)}</h1><span data-status-slot></span></div>
          <div class="run-sub" data-sub></div>
        </div>
        <div class="run-actions">
          <button type="button" class="btn btn-danger" data-testid="stop-button">Stop</button>
          <button type="button" class="btn" data-testid="tensorboard-button">TensorBoard</button>
          <a class="tb-link" data-tb-link target="_blank" rel="noopener" hidden></a>
          <button type="button" class="btn" data-testid="wandb-button">W&amp;B</button>
          <a class="btn" data-testid="open-replay" href="${esc(runHref(id))}/replay">Replay</a>
          <button type="button" class="btn" data-testid="log-toggle" aria-expanded="false">Logs</button>
        </div>
      </div>
      <div class="stats" data-stats></div>
      <div data-failure></div>
      <div class="run-body">
        <div class="main-col">
          <div class="charts wide" data-charts></div>
          <div class="charts-toolbar"><h2>More metrics</h2>
            <select data-testid="more-metrics" aria-label="add a metric chart"><option value="">+ add a metric chart…</option></select></div>
          <div class="charts" data-extra-charts></div>
        </div>
        <aside class="side">
          <div class="panel"><h2>Artifacts <span class="muted" data-artifact-count></span></h2><ul class="list" data-testid="artifacts"></ul></div>
          <div class="panel"><h2>Checkpoints &amp; resume points</h2><ul class="list" data-testid="checkpoints"></ul></div>
          <div class="panel"><h2>Evaluations</h2><div data-testid="evals"></div></div>
          <div class="panel"><details><summary><b>Options</b> <span class="muted">the run's configuration</span></summary><div data-config></div></details></div>
        </aside>
      </div></section>`;
    const q = (s) => root.querySelector(s);
    ctx.el = {
      status: q("[data-status-slot]"), sub: q("[data-sub]"), stats: q("[data-stats]"), failure: q("[data-failure]"),
      stop: q('[data-testid="stop-button"]'), tb: q('[data-testid="tensorboard-button"]'), tbLink: q("[data-tb-link]"),
      wandb: q('[data-testid="wandb-button"]'), replay: q('[data-testid="open-replay"]'),
      logToggle: q('[data-testid="log-toggle"]'), charts: q("[data-charts]"), extraCharts: q("[data-extra-charts]"),
      more: q('[data-testid="more-metrics"]'), artifacts: q('[data-testid="artifacts"]'),
      artifactCount: q("[data-artifact-count]"), checkpoints: q('[data-testid="checkpoints"]'),
      evals: q('[data-testid="evals"]'), config: q("[data-config]"),
    };
    ctx.el.stop.addEventListener("click", stop);
    ctx.el.tb.addEventListener("click", openTensorBoard);
    ctx.el.wandb.addEventListener("click", openWandb);
    ctx.el.more.addEventListener("change", () => {
      const key = ctx.el.more.value;
      ctx.el.more.value = "";
      if (key) addExtraChart(key);
    });
    ctx.el.artifacts.addEventListener("click", (e) => {
      const btn = e.target.closest('[data-testid="play-video"]');
      if (btn) playVideo(fileUrl(id, btn.dataset.path), btn.dataset.path);
    });
    const drawer = createLogDrawer(id, (open) => {
      ctx.el.logToggle.setAttribute("aria-expanded", String(open));
      ctx.el.logToggle.classList.toggle("active", open);
    });
    cleanups.push(() => drawer.destroy());
    ctx.el.logToggle.addEventListener("click", () => drawer.toggle());
    for (const spec of CHARTS) {
      const box = document.createElement("div");
      box.dataset.testid = `chart-${spec.name}`;
      ctx.el.charts.appendChild(box);
      if (spec.group) { // its charts come with their keys (route)
        box.className = "chart-group";
        ctx.groups.set(spec.name, box);
        continue;
      }
      const chart = new Chart(box, { name: spec.name, title: spec.title, yLabel: spec.yLabel, yFormat: spec.yFormat,
        height: 210, toggles: true });
      ctx.charts.set(spec.name, chart);
    }
    ctx.episodeSeries = ctx.charts.get("reward").addSeries({ label: "episode return", color: "#94a3b8", points: true });
  }

  // ---- header ----
  /** Where it executes: "on ray node 10.0.0.5 (ab12cd34)", "on ray, not placed on a node yet", "local on host-1". */
  function placementHtml(run) {
    const where = placement(run);
    const what = where.backend === "local"
      ? (where.node === DASH ? "local" : `local on <span class="mono">${esc(where.node)}</span>`)
      : run.node ? `on ${esc(where.backend)} node <span class="mono">${esc(where.node)}</span>`
      : `on ${esc(where.backend)}, not placed on a node yet`;
    return `<span data-testid="run-node" data-backend="${esc(where.backend)}" title="${esc(where.title)}">${what}</span>`;
  }

  function renderHeader() {
    const run = ctx.run;
    const el = ctx.el;
    el.status.innerHTML = statusBadge(run.status, "run-status");
    const parts = [
      run.env_id && `<span class="mono">${esc(run.env_id)}</span>`,
      run.algorithm && `<span class="mono">${esc(run.algorithm)}</span>`,
      run.runner && `<span>runner ${esc(run.runner)}</span>`,
      placementHtml(run),
      datasetPart(run),
      run.experiment && run.experiment !== "default" && `<span>experiment ${esc(run.experiment)}</span>`,
      run.seed !== null && run.seed !== undefined && `<span>seed <span class="mono">${esc(run.seed)}</span></span>`,
      parentHtml(),
      `<span title="${esc(datetime(run.created))}" data-created>created ${esc(ago(run.created))}</span>`,
    ].filter(Boolean);
    el.sub.innerHTML = parts.join('<span class="sep">·</span>') +
      (run.reason ? `<span class="sep">·</span><span class="reason">${esc(run.reason)}</span>` : "");
    renderStats();
    const active = ACTIVE.has(run.status);
    if (!active) ctx.stopping = false;
    el.stop.disabled = !active || ctx.stopping;
    el.stop.textContent = ctx.stopping ? "stopping…" : "Stop";
    el.stop.title = active ? "stop the run (its last checkpoint stays)" : `the run is ${run.status}`;
    const artifacts = liveArtifacts(run);
    const tb = artifacts.find((a) => a.kind === "tensorboard");
    el.tb.disabled = !tb;
    el.tb.title = tb ? "open TensorBoard for this run (started on a free port)"
      : "no TensorBoard event files for this run (train with store.backend=tensorboard)";
    el.tbLink.hidden = !ctx.tbUrl;
    if (ctx.tbUrl) {
      el.tbLink.href = ctx.tbUrl;
      el.tbLink.textContent = "TensorBoard ↗";
    }
    const wb = artifacts.find((a) => a.kind === "wandb");
    el.wandb.disabled = !wb;
    el.wandb.title = !wb ? "this run did not log to Weights & Biases (train with store.backend=wandb)"
      : wandbUrl(wb) ? `open ${wandbUrl(wb)}` : `offline W&B run at ${wb.path}`;
    const replays = ctx.replays ?? [];
    const noReplay = !replays.length;
    el.replay.classList.toggle("disabled", noReplay);
    el.replay.setAttribute("aria-disabled", String(noReplay));
    el.replay.title = noReplay ? "no recorded evaluation episodes (eval.record_steps)" : `${replays.length} recorded episode(s)`;
    renderArtifacts();
    renderFailure();
  }

  /** "warm start from model #12 (run seeded)", the model linking to the run that made it. */
  function parentHtml() {
    const p = ctx.parent;
    if (!p) return "";
    if (p.id === null) {
      return `<span data-testid="parent-model" title="${esc(p.path)}">warm start from <span class="mono">${esc(String(p.path).split("/").pop())}</span></span>`;
    }
    const model = p.run
      ? `<a href="${esc(runHref(p.run))}" title="the run that trained model #${esc(p.id)}">model #${esc(p.id)}</a> <span class="muted">(run ${esc(p.run)})</span>`
      : `<a href="#/models" title="the checkpoint browser">model #${esc(p.id)}</a>`;
    return `<span data-testid="parent-model">warm start from ${model}</span>`;
  }

  /** The model train.init_from named: the registry id its models carry as parent, else the id
   * (or path) the option gave (a run registers its first model at its first checkpoint). */
  async function loadParent() {
    const from = ctx.run.config?.train?.init_from;
    if (from === null || from === undefined || from === "" || ctx.parentAsked) return;
    ctx.parentAsked = true;
    const models = await apiOr("/api/models", []);
    if (ctx.disposed) return;
    const own = models.find((m) => m.run_id === id && m.parent_model_id !== null && m.parent_model_id !== undefined);
    const parentId = own ? own.parent_model_id : /^\d+$/.test(String(from)) ? Number(from) : null;
    const parent = models.find((m) => m.id === parentId);
    ctx.parent = { id: parentId, run: parent?.run_id ?? null, path: String(from) };
    renderHeader();
  }

  /** Checkpoints: the count the store has, or the list's, whichever is more (the summaries that
   * stream in carry no count; the list grows with the run's records). */
  function checkpointCount() {
    const listed = ctx.events.filter((e) => e.type === "checkpoint").length;
    const stored = typeof ctx.run.checkpoints === "number" ? ctx.run.checkpoints : 0;
    const shown = ctx.run.last_checkpoint ? 1 : 0; // the list shows the last one when no record is loaded
    return Math.max(listed, stored, shown);
  }

  /** Env steps: the furthest any record reached (episodes end long before PPO's first metrics). */
  function noteSteps(steps) {
    if (typeof steps === "number" && steps > (ctx.run.env_steps ?? -1)) ctx.run.env_steps = steps;
  }

  function renderStats() {
    const run = ctx.run;
    const stats = [
      ["Elapsed", duration(elapsed(run)), "elapsed"],
      ["Env steps", si(run.env_steps), "steps", int(run.env_steps)],
      ["Episodes", si(run.episodes), "episodes", int(run.episodes)],
      ["Return (last 100)", num(run.recent_return), "recent-return",
        run.recent_episodes ? `mean of the last ${run.recent_episodes} episodes; the last one: ${num(run.last_return)}` : ""],
      ["Best eval", num(run.best_eval), "best-eval"],
      ["SPS", si(run.sps), "sps", num(run.sps)],
      ["Checkpoints", String(checkpointCount()), "checkpoints-count"],
      ["Resumes", run.resumes ? String(run.resumes) : "0", "resumes"],
      ["Started", ago(run.started), "started", datetime(run.started)],
    ];
    if (run.exit_code !== null && run.exit_code !== undefined) stats.push(["Exit code", String(run.exit_code), "exit-code"]);
    ctx.el.stats.innerHTML = stats.map(([label, value, key, title]) =>
      `<div class="stat"><div class="label">${label}</div><div class="value" data-stat="${key}"${title ? ` title="${esc(title)}"` : ""}>${esc(value)}</div></div>`).join("");
  }

  function renderFailure() {
    const run = ctx.run;
    const errors = ctx.events.filter((e) => e.type === "error");
    const failed = run.status === "failed" || run.status === "lost";
    if (!failed && !errors.length) {
      ctx.el.failure.innerHTML = "";
      return;
    }
    const title = run.status === "lost" ? "The run was lost" : failed ? "The run failed" : "The run reported errors";
    const items = errors.map((e) => `<div class="error-message">${esc(e.message ?? "error")}</div>
      ${e.traceback ? `<details><summary>traceback</summary><pre>${esc(e.traceback)}</pre></details>` : ""}`).join("");
    // No error record (the process died before it could write one): the log's end says why.
    if (failed && !errors.length && ctx.logTail === undefined) {
      ctx.logTail = null;
      apiOr(`${base}/logs?tail=15`, null).then((tail) => {
        ctx.logTail = tail?.lines ?? [];
        if (!ctx.disposed) renderFailure();
      });
    }
    const tail = !errors.length && ctx.logTail && ctx.logTail.length
      ? `<div class="muted" style="margin-top:6px">the end of its log:</div><pre data-testid="failure-log">${esc(ctx.logTail.join("\n"))}</pre>` : "";
    const reason = run.reason ? `<div class="reason"><b>reason:</b> ${esc(run.reason)}</div>` : "";
    const exit = run.exit_code !== null && run.exit_code !== undefined ? ` <span class="muted">(exit code ${esc(run.exit_code)})</span>` : "";
    ctx.el.failure.innerHTML = `<div class="failure" data-testid="run-error"><h2>${title}${exit}</h2>${reason}${items}${tail}
      ${failed ? `<div class="muted" style="margin-top:6px">the log has the details: <a href="#" data-open-log>open the log</a></div>` : ""}</div>`;
    ctx.el.failure.querySelector("[data-open-log]")?.addEventListener("click", (e) => {
      e.preventDefault();
      if (ctx.el.logToggle.getAttribute("aria-expanded") !== "true") ctx.el.logToggle.click();
    });
  }

  function renderArtifacts() {
    const list = liveArtifacts(ctx.run);
    ctx.el.artifactCount.textContent = list.length ? String(list.length) : "";
    if (!list.length) {
      ctx.el.artifacts.innerHTML = `<li class="none">no artifacts yet</li>`;
      return;
    }
    ctx.el.artifacts.innerHTML = list.map((a) => {
      const kind = `<span class="kind">${esc(a.kind ?? "file")}</span>`;
      let path;
      if (a.kind === "wandb" && wandbUrl(a)) path = `<a class="path" href="${esc(wandbUrl(a))}" target="_blank" rel="noopener">${esc(wandbUrl(a))}</a>`;
      else if (a.kind === "tensorboard" || a.kind === "wandb") path = `<span class="path" title="${esc(a.path)}">${esc(a.path)}</span>`;
      else path = `<a class="path" href="${esc(fileUrl(id, a.path))}" target="_blank" rel="noopener">${esc(a.path)}</a>`;
      const play = a.kind === "video"
        ? `<button type="button" class="btn btn-small" data-testid="play-video" data-path="${esc(a.path)}">▶ Play</button>` : "";
      return `<li data-kind="${esc(a.kind)}">${kind}${path}${play}</li>`;
    }).join("");
  }

  function renderEvents() {
    const points = ctx.events.filter((e) => e.type === "checkpoint" || e.type === "resume").slice().reverse();
    if (!points.length) {
      const last = ctx.run.last_checkpoint;
      ctx.el.checkpoints.innerHTML = last
        ? `<li><span class="kind kind-checkpoint">checkpoint</span><span class="path">${esc(last)}</span></li>`
        : `<li class="none">no checkpoints yet</li>`;
    } else {
      ctx.el.checkpoints.innerHTML = points.map((e) => {
        const path = e.type === "resume" ? e.checkpoint : e.path;
        const abs = path && ctx.run.run_dir && !String(path).startsWith("/") ? `${ctx.run.run_dir}/${path}` : path;
        const warm = e.type === "checkpoint" && abs
          ? `<a class="btn btn-small" href="#/new?init_from=${encodeURIComponent(abs)}" title="start a new run from these weights">warm start</a>` : "";
        return `<li data-kind="${e.type}"><span class="kind kind-${e.type}">${e.type === "resume" ? "resumed" : "checkpoint"}</span>
          <span class="num" title="${esc(int(e.env_steps))} env steps">${esc(si(e.env_steps))}</span>
          <span class="path" title="${esc(e.sha256 ? "sha256 " + e.sha256 : path ?? "")}">${esc(path ?? DASH)}</span>${warm}</li>`;
      }).join("");
    }
    const evals = ctx.events.filter((e) => e.type === "eval");
    ctx.el.evals.innerHTML = evals.length
      ? `<table class="grid compact"><thead><tr><th class="num">step</th><th class="num">reward</th><th class="num">episodes</th><th>checkpoint</th></tr></thead>
        <tbody>${evals.slice().reverse().map((e) => `<tr><td class="num">${esc(si(e.env_steps))}</td>
          <td class="num">${esc(num(e.mean_reward))} ± ${esc(num(e.std_reward, 3))}</td><td class="num">${esc(e.episodes ?? DASH)}</td>
          <td class="mono" title="${esc(e.checkpoint ?? "")}">${esc(String(e.checkpoint ?? DASH).split("/").pop())}</td></tr>`).join("")}</tbody></table>`
      : `<div class="none muted">no evaluations yet</div>`;
    renderFailure();
  }

  function renderConfig() {
    const rows = flatten(ctx.run.config ?? {});
    ctx.el.config.innerHTML = rows.length
      ? `<table class="kv">${rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(show(v))}</td></tr>`).join("")}</table>`
      : `<div class="muted">no options recorded</div>`;
  }

  // ---- charts ----
  function groupChart(spec, key) {
    const name = `${spec.name}:${key}`;
    if (!ctx.charts.has(name)) {
      const box = document.createElement("div");
      box.dataset.testid = "chart-loss";
      box.dataset.key = key;
      ctx.groups.get(spec.name).appendChild(box);
      ctx.charts.set(name, new Chart(box, { name: key, title: key, yLabel: spec.yLabel, height: 170, toggles: true,
        series: [{ label: key }] }));
    }
    return ctx.charts.get(name);
  }

  function route(key) {
    for (const spec of CHARTS) {
      if (!spec.accepts(key, has)) continue;
      const chart = spec.group ? groupChart(spec, key) : ctx.charts.get(spec.name);
      let i = chart.indexOf(key);
      if (i < 0) i = chart.addSeries({ label: key, ...(spec.series?.(key) ?? {}) });
      addRoute(key, chart, i);
    }
  }

  function addRoute(key, chart, i) {
    const list = ctx.routes.get(key) ?? [];
    if (!list.some((r) => r.chart === chart)) list.push({ chart, i });
    ctx.routes.set(key, list);
  }

  function noteKeys(keys) {
    let added = false;
    for (const k of keys) {
      if (ctx.keys.has(k)) continue;
      ctx.keys.add(k);
      added = true;
    }
    if (added) {
      const current = new Set([...ctx.el.more.options].map((o) => o.value));
      for (const k of [...ctx.keys].sort()) {
        if (!current.has(k)) ctx.el.more.add(new Option(k, k));
      }
    }
    return added;
  }

  async function loadSeries(key) {
    const data = await api(`${base}/metrics/${encodePath(key)}?max_points=${MAX_POINTS}`);
    const arrival = performance.now();
    if (ctx.disposed) return;
    for (const { chart, i } of ctx.routes.get(key) ?? []) {
      // points streamed in while the history loaded stay, after the history
      const live = chart.data[i];
      const last = data.steps.length ? data.steps[data.steps.length - 1] : -Infinity;
      const keep = live.xs.map((x, j) => [x, live.ys[j]]).filter(([x]) => x > last);
      chart.setSeries(i, data.steps.concat(keep.map((p) => p[0])), data.values.concat(keep.map((p) => p[1])), arrival);
    }
    const last = data.steps.length ? data.steps[data.steps.length - 1] : -Infinity;
    ctx.lastStep.set(key, Math.max(ctx.lastStep.get(key) ?? -Infinity, last));
  }

  async function addExtraChart(key) {
    if (ctx.extra.has(key)) return;
    const box = document.createElement("div");
    box.dataset.testid = "chart-metric";
    box.dataset.key = key;
    ctx.el.extraCharts.appendChild(box);
    const chart = new Chart(box, {
      name: key, title: key, height: 180, series: [{ label: key }], toggles: true,
      actions: `<button type="button" class="chart-close" title="remove this chart" aria-label="remove">×</button>`,
    });
    ctx.extra.set(key, chart);
    box.querySelector(".chart-close").addEventListener("click", () => {
      chart.destroy();
      box.remove();
      ctx.extra.delete(key);
      const list = (ctx.routes.get(key) ?? []).filter((r) => r.chart !== chart);
      ctx.routes.set(key, list);
    });
    addRoute(key, chart, 0);
    try {
      await loadSeries(key);
    } catch (err) {
      toast(err);
    }
  }

  function onMetrics(rec, arrival) {
    const values = metricValues(rec);
    const step = rec.env_steps;
    if (typeof step !== "number") return;
    const fresh = Object.keys(values).filter((k) => !ctx.keys.has(k));
    if (fresh.length) {
      noteKeys(fresh);
      for (const k of fresh) route(k);
    }
    for (const [key, value] of Object.entries(values)) {
      const targets = ctx.routes.get(key);
      if (!targets) continue;
      if (step <= (ctx.lastStep.get(key) ?? -Infinity)) continue;
      ctx.lastStep.set(key, step);
      for (const { chart, i } of targets) chart.append(i, step, value, arrival);
    }
    noteSteps(step);
    if (typeof values.sps === "number") ctx.run.sps = values.sps;
    scheduleStats();
  }

  function onEpisode(rec, arrival) {
    if (typeof rec.seq === "number") {
      if (rec.seq <= ctx.lastEpisodeSeq) return;
      ctx.lastEpisodeSeq = rec.seq;
    }
    const reward = ctx.charts.get("reward");
    if (typeof rec.env_steps === "number" && typeof rec.return === "number") {
      reward.append(ctx.episodeSeries, rec.env_steps, rec.return, arrival);
    }
    ctx.run.last_return = rec.return ?? ctx.run.last_return;
    noteSteps(rec.env_steps);
    if (typeof rec.episode === "number") ctx.run.episodes = Math.max(ctx.run.episodes ?? 0, rec.episode + 1);
    scheduleStats();
  }

  let statsTimer = null;
  function scheduleStats() {
    if (statsTimer) return;
    statsTimer = setTimeout(() => {
      statsTimer = null;
      if (!ctx.disposed) renderStats();
    }, 500);
  }

  function onEvent(rec) {
    if (typeof rec.seq === "number") {
      if (ctx.seenSeq.has(rec.seq)) return;
      ctx.seenSeq.add(rec.seq);
    }
    ctx.events.push(rec);
    ctx.events.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
    noteSteps(rec.env_steps);
    if (rec.type === "eval" && typeof rec.mean_reward === "number") {
      ctx.run.last_eval = rec.mean_reward;
      if (!(ctx.run.best_eval >= rec.mean_reward)) ctx.run.best_eval = rec.mean_reward;
    }
    renderEvents();
    scheduleStats();
  }

  /** A run opened while queued learns its options (and its parent model) from its meta record. */
  function onMeta(rec) {
    if (!rec.config || ctx.run.config?.train) return;
    ctx.run.config = rec.config;
    renderConfig();
    loadParent();
  }

  function onRecord(rec, type) {
    window.dispatchEvent(new CustomEvent("rlops:record", { detail: rec }));
    const arrival = performance.now();
    if (type === "metrics") onMetrics(rec, arrival);
    else if (type === "episode") onEpisode(rec, arrival);
    else if (type === "meta") onMeta(rec);
    else if (type === "end") {
      if (rec.status) ctx.run.status = rec.status;
      renderHeader();
      refreshRun();
    } else if (type === "artifact") refreshRun();
    else onEvent({ ...rec, type });
  }

  // ---- actions ----
  async function stop() {
    ctx.stopping = true;
    renderHeader();
    try {
      const answer = await api(`${base}/stop`, { method: "POST" });
      if (answer?.state === "stopped") {
        ctx.run.status = "stopped";
        ctx.stopping = false;
      }
      toast(answer?.state === "stopped" ? `run ${id} stopped` : `stopping run ${id}…`);
    } catch (err) {
      ctx.stopping = false;
      toast(err);
    }
    renderHeader();
  }

  async function openTensorBoard() {
    const btn = ctx.el.tb;
    btn.disabled = true;
    const label = btn.textContent;
    btn.textContent = "starting…";
    try {
      const answer = await api(`${base}/tensorboard`, { method: "POST" });
      ctx.tbUrl = answer.url;
      if (answer.url) window.open(answer.url, "_blank", "noopener");
      toast(`TensorBoard at ${answer.url}`);
    } catch (err) {
      toast(err);
    } finally {
      btn.textContent = label;
      renderHeader();
    }
  }

  function openWandb() {
    const wb = liveArtifacts(ctx.run).find((a) => a.kind === "wandb");
    if (!wb) return;
    if (wandbUrl(wb)) window.open(wandbUrl(wb), "_blank", "noopener");
    else toast(`offline W&B run at ${ctx.run.run_dir ? ctx.run.run_dir + "/" : ""}${wb.path} — upload it with: wandb sync <that path>`, { timeout: 15000 });
  }

  let refreshTimer = null;
  function refreshRun() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(async () => {
      try {
        const [run, replays] = await Promise.all([api(base), apiOr(`${base}/replays`, ctx.replays)]);
        if (ctx.disposed) return;
        const configured = !ctx.run.config?.train && run.config?.train; // a queued run's meta came since
        ctx.run = { ...ctx.run, ...run };
        ctx.replays = Array.isArray(replays) ? replays : [];
        renderHeader();
        if (configured) {
          renderConfig();
          loadParent();
        }
      } catch {
        // the next change tries again
      }
    }, 400);
  }

  // ---- load ----
  (async () => {
    // Everything the page needs is asked at once: the run, its records and its metric keys
    // (a chain of round trips was most of the time to the first chart).
    const rest = Promise.all([
      apiOr(`${base}/events?types=checkpoint,eval,resume,error,end&after=-1&limit=1000`, null),
      apiOr(`${base}/episodes?limit=2000`, []),
      apiOr(`${base}/replays`, []),
      apiOr(`${base}/metrics`, []),
      apiOr(`${base}/tensorboard`, null),
    ]);
    let run;
    try {
      run = await api(base);
    } catch (err) {
      if (!ctx.disposed) root.innerHTML = errorPanel(err, err.status === 404 ? "Run not found" : "Could not load the run");
      return;
    }
    if (ctx.disposed) return;
    ctx.run = run;
    document.title = `${id} · rlops`;
    renderShell();
    renderHeader();
    renderConfig();
    renderEvents();
    loadParent();

    const [events, episodes, replays, keys, tb] = await rest;
    if (ctx.disposed) return;
    ctx.replays = Array.isArray(replays) ? replays : [];
    if (tb && tb.running && tb.url) ctx.tbUrl = tb.url;
    let after = -1;
    if (Array.isArray(events)) {
      for (const e of events) {
        if (typeof e.seq === "number") after = Math.max(after, e.seq);
        if (e.type !== "end") onEvent(e);
      }
    }
    const arrival = performance.now();
    const reward = ctx.charts.get("reward");
    if (episodes.length) {
      reward.setSeries(ctx.episodeSeries, episodes.map((e) => e.env_steps), episodes.map((e) => e.return), arrival);
      for (const e of episodes) noteSteps(e.env_steps);
      const lastSeq = episodes[episodes.length - 1].seq;
      ctx.lastEpisodeSeq = lastSeq ?? -1;
      if (Array.isArray(events)) after = Math.max(after, lastSeq ?? -1);
    } else {
      reward.scheduleDraw(arrival);
    }
    renderHeader();
    noteKeys(keys);
    for (const k of keys) route(k);
    for (const chart of ctx.charts.values()) if (!chart.points()) chart.scheduleDraw(arrival);
    const wanted = [...ctx.routes.keys()];
    const results = await Promise.allSettled(wanted.map(loadSeries));
    if (ctx.disposed) return;
    const failed = results.find((r) => r.status === "rejected");
    if (failed) toast(failed.reason);
    // The history is drawn: the stream adds what comes after it (the events route gives the seq
    // to resume from; without it the stream replays and old points are skipped by env step).
    ctx.maxSeq = after;
    openRunStream();
  })();

  // The run's records from ctx.maxSeq on; a refused stream is retried while the run is active.
  let stream = null;
  let retry = null;
  function openRunStream() {
    const handlers = { eof: () => refreshRun() };
    for (const type of STREAM_TYPES.split(",")) {
      handlers[type] = (rec) => {
        if (typeof rec.seq === "number") ctx.maxSeq = Math.max(ctx.maxSeq, rec.seq);
        onRecord(rec, type);
      };
    }
    handlers.fail = () => {
      if (!ctx.disposed && ACTIVE.has(ctx.run.status)) retry = setTimeout(openRunStream, 3000);
    };
    stream = openStream(`${base}/stream?types=${STREAM_TYPES}&after=${ctx.maxSeq}`, handlers);
  }
  cleanups.push(() => {
    clearTimeout(retry);
    stream?.close();
  });

  // Status changes from the runs stream (or polling): the badge follows without a reload.
  const unsubscribe = subscribeRuns((summaries) => {
    if (!ctx.run || !ctx.el) return;
    const mine = summaries.filter((s) => s.run_id === id).pop();
    if (!mine) return;
    const before = ctx.run.status;
    const changed = Object.keys(mine).some((k) => mine[k] !== ctx.run[k]);
    if (!changed) return;
    // live counters from the record stream are fresher than a summary that lags behind them
    const merged = { ...ctx.run, ...mine };
    for (const k of ["env_steps", "episodes"]) {
      if ((ctx.run[k] ?? -1) > (mine[k] ?? -1)) merged[k] = ctx.run[k];
    }
    ctx.run = merged;
    renderHeader();
    if (before !== mine.status) refreshRun(); // ended: its last counts; started: its options (meta)
  });
  cleanups.push(unsubscribe);

  const ticker = setInterval(() => {
    if (!ctx.run || !ctx.el) return;
    const created = ctx.el.sub.querySelector("[data-created]");
    if (created) created.textContent = `created ${ago(ctx.run.created)}`; // "19s ago" moves on, as Elapsed does
    if (ctx.run.status === "running") {
      const cell = ctx.el.stats.querySelector('[data-stat="elapsed"]');
      if (cell) cell.textContent = duration(elapsed(ctx.run));
    }
  }, 1000);
  cleanups.push(() => clearInterval(ticker));

  return () => {
    ctx.disposed = true;
    clearTimeout(refreshTimer);
    clearTimeout(statsTimer);
    for (const fn of cleanups) fn();
    for (const chart of ctx.charts.values()) chart.destroy();
    for (const chart of ctx.extra.values()) chart.destroy();
    document.title = "rlops";
  };
}

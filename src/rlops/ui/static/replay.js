// Replay a recorded evaluation episode step by step: frame (where recorded), action, reward,
// flags and observation, with a scrubber, play/pause and a reward chart with a cursor.

import { api, apiOr, fileUrl, runPath } from "./api.js";
import { Chart, cursorLine } from "./charts.js";
import { errorPanel, loading, playVideo, runHref } from "./dom.js";
import { esc, num, statusBadge, DASH } from "./format.js";

const SPEEDS = [0.25, 0.5, 1, 2, 4, 8];
const BASE_FPS = 10; // steps a second at 1×

function showValue(v) {
  if (v === null || v === undefined) return DASH;
  if (typeof v === "number") return num(v);
  if (Array.isArray(v)) {
    const flat = v.flat(Infinity);
    const head = flat.slice(0, 64).map((x) => (typeof x === "number" ? num(x, 3) : String(x))).join(", ");
    return `[${head}${flat.length > 64 ? `, … (${flat.length})` : ""}]`;
  }
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function obsHtml(obs) {
  if (obs === null || obs === undefined) return `<span class="muted">not recorded</span>`;
  if (typeof obs === "object" && !Array.isArray(obs)) {
    return `<table class="kv">${Object.entries(obs).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(showValue(v))}</td></tr>`).join("")}</table>`;
  }
  return `<code>${esc(showValue(obs))}</code>`;
}

export function mount(root, params) {
  const id = params.id;
  const base = runPath(id);
  const state = { run: null, replays: [], steps: [], idx: 0, playing: false, timer: null, speed: 1, frameAt: [], chart: null };
  let disposed = false;
  root.innerHTML = loading("Loading recorded episodes…");

  (async () => {
    let run;
    let replays;
    try {
      [run, replays] = await Promise.all([api(base), api(`${base}/replays`)]);
    } catch (err) {
      if (!disposed) root.innerHTML = errorPanel(err, err.status === 404 ? "Not found" : "Could not load the replays");
      return;
    }
    if (disposed) return;
    state.run = run;
    state.replays = replays ?? [];
    document.title = `replay · ${id} · rlops`;
    render();
  })();

  function key(r) {
    return `${r.episode}:${r.env_index ?? 0}:${r.recording ?? ""}`;
  }

  function render() {
    const videos = (state.run.artifacts ?? []).filter((a) => a.kind === "video");
    const video = videos[videos.length - 1];
    const head = `<div class="page-head"><div class="run-title"><a class="muted" href="#/">Runs /</a>
        <a class="mono" href="${esc(runHref(id))}">${esc(id)}</a><span class="muted">/ replay</span>${statusBadge(state.run.status)}</div>
        <div class="toolbar">${video ? `<button type="button" class="btn" data-testid="play-video" data-path="${esc(video.path)}">▶ Play video</button>` : ""}
        <a class="btn" href="${esc(runHref(id))}">Back to the run</a></div></div>`;
    if (!state.replays.length) {
      root.innerHTML = `<section class="page">${head}<div class="panel empty" data-testid="replay-empty">
        <p>This run has no recorded evaluation episodes.</p>
        <p class="muted">The final evaluation records each step when <code>eval.record_steps</code> is on (frames every <code>eval.frame_every</code> steps).</p></div></section>`;
      bindVideo();
      return;
    }
    const options = state.replays.map((r, i) => {
      const label = `episode ${r.episode} · env ${r.env_index ?? 0} · return ${num(r.return)} · ${r.steps} steps` +
        `${r.frames ? ` · ${r.frames} frames` : ""}${r.checkpoint ? ` · ${String(r.checkpoint).split("/").pop()}` : ""}` +
        `${r.recording !== undefined && r.recording !== null && state.replays.some((o) => o.recording !== r.recording) ? ` · recording ${r.recording}` : ""}`;
      return `<option value="${i}" data-key="${esc(key(r))}">${esc(label)}</option>`;
    }).join("");
    root.innerHTML = `<section class="page replay-page">${head}
      <div class="panel" style="margin-bottom:12px"><div class="episode-pick">
        <label for="replay-episode"><b>Episode</b></label>
        <select id="replay-episode" data-testid="replay-episode">${options}</select>
        <span class="muted" data-episode-meta></span></div></div>
      <div class="replay-layout">
        <div>
          <div class="frame-box"><img data-testid="replay-frame" alt="frame" hidden><div class="no-frames" data-no-frames hidden>no frames were recorded for this episode</div></div>
          <div class="transport">
            <button type="button" class="btn btn-primary" data-testid="replay-play">Play</button>
            <input type="range" data-testid="replay-scrub" min="0" max="0" value="0" aria-label="step">
            <select data-testid="replay-speed" aria-label="speed">${SPEEDS.map((s) => `<option value="${s}"${s === 1 ? " selected" : ""}>${s}×</option>`).join("")}</select>
            <span class="step" data-testid="replay-step">step 0 / 0</span>
          </div>
          <div class="muted"><kbd>←</kbd> <kbd>→</kbd> step · <kbd>space</kbd> play/pause · <kbd>Home</kbd>/<kbd>End</kbd></div>
        </div>
        <div>
          <div data-testid="chart-replay"></div>
          <div class="panel" style="margin-top:12px"><h2>This step</h2><div data-testid="replay-detail"></div></div>
        </div>
      </div></section>`;
    const q = (s) => root.querySelector(s);
    state.el = {
      select: q('[data-testid="replay-episode"]'), scrub: q('[data-testid="replay-scrub"]'), play: q('[data-testid="replay-play"]'),
      speed: q('[data-testid="replay-speed"]'), step: q('[data-testid="replay-step"]'), img: q('[data-testid="replay-frame"]'),
      noFrames: q("[data-no-frames]"), detail: q('[data-testid="replay-detail"]'), meta: q("[data-episode-meta]"),
    };
    state.chart = new Chart(q('[data-testid="chart-replay"]'), {
      name: "replay", title: "Reward per step", height: 220, xLabel: "step", xFormat: (v) => String(Math.round(v)),
      series: [{ label: "reward", color: "#2563eb" }, { label: "return so far", color: "#059669", scale: "y2" }],
      plugins: [cursorLine(() => state.steps[state.idx]?.step ?? null)],
      hooks: {
        ready: [(u) => u.over.addEventListener("click", () => {
          const x = u.posToVal(u.cursor.left, "x");
          if (Number.isFinite(x)) seekStep(x);
        })],
      },
    });
    state.el.select.addEventListener("change", () => loadEpisode(Number(state.el.select.value)));
    state.el.scrub.addEventListener("input", () => {
      pause();
      go(Number(state.el.scrub.value));
    });
    state.el.play.addEventListener("click", () => (state.playing ? pause() : play()));
    state.el.speed.addEventListener("change", () => {
      state.speed = Number(state.el.speed.value);
      if (state.playing) {
        pause();
        play();
      }
    });
    bindVideo();
    const wanted = params.episode !== undefined ? state.replays.findIndex((r) => String(r.episode) === String(params.episode)) : 0;
    state.el.select.value = String(Math.max(0, wanted));
    loadEpisode(Math.max(0, wanted));
  }

  function bindVideo() {
    const btn = root.querySelector('[data-testid="play-video"]');
    btn?.addEventListener("click", () => playVideo(fileUrl(id, btn.dataset.path), btn.dataset.path));
  }

  async function loadEpisode(i) {
    pause();
    const r = state.replays[i];
    if (!r) return;
    const q = new URLSearchParams({ env_index: String(r.env_index ?? 0) });
    if (r.recording !== undefined && r.recording !== null) q.set("recording", String(r.recording));
    state.el.step.textContent = "loading…";
    let data;
    try {
      data = await api(`${base}/replays/${encodeURIComponent(r.episode)}?${q}`);
    } catch (err) {
      if (!disposed) state.el.detail.innerHTML = errorPanel(err, "Could not load the episode");
      return;
    }
    if (disposed) return;
    state.steps = data.steps ?? [];
    // the frame shown at each step: the latest one recorded at or before it
    state.frameAt = [];
    let last = null;
    for (const s of state.steps) {
      if (s.frame) last = s.frame;
      state.frameAt.push(last);
    }
    const frames = [...new Set(state.steps.map((s) => s.frame).filter(Boolean))];
    for (const f of frames.slice(0, 400)) new Image().src = fileUrl(id, f); // warm the cache for smooth play
    state.el.noFrames.hidden = frames.length > 0;
    state.el.img.hidden = true;
    state.el.scrub.max = String(Math.max(0, state.steps.length - 1));
    const total = state.steps.reduce((a, s) => a + (typeof s.reward === "number" ? s.reward : 0), 0);
    const end = r.terminated ? "terminated" : r.truncated ? "truncated" : "";
    state.el.meta.textContent = `return ${num(total)} over ${state.steps.length} steps${end ? ` · ${end}` : ""}`;
    let acc = 0;
    const xs = state.steps.map((s, j) => s.step ?? j);
    state.chart.setSeries(0, xs, state.steps.map((s) => s.reward ?? null));
    state.chart.setSeries(1, xs, state.steps.map((s) => (acc += typeof s.reward === "number" ? s.reward : 0)));
    go(0);
  }

  function seekStep(stepValue) {
    let best = 0;
    for (let j = 0; j < state.steps.length; j++) {
      if ((state.steps[j].step ?? j) <= stepValue) best = j;
      else break;
    }
    pause();
    go(best);
  }

  function go(i) {
    const n = state.steps.length;
    if (!n) {
      state.el.step.textContent = "step 0 / 0";
      state.el.detail.innerHTML = `<span class="muted">this episode has no steps</span>`;
      return;
    }
    state.idx = Math.max(0, Math.min(n - 1, i));
    const s = state.steps[state.idx];
    state.el.scrub.value = String(state.idx);
    state.el.step.textContent = `step ${s.step ?? state.idx} / ${n}`;
    const frame = state.frameAt[state.idx];
    if (frame) {
      const url = fileUrl(id, frame);
      if (state.el.img.dataset.frame !== frame) {
        state.el.img.src = url;
        state.el.img.dataset.frame = frame;
        state.el.img.alt = frame;
      }
      state.el.img.hidden = false;
    } else {
      state.el.img.hidden = true;
    }
    const flag = (v) => (v ? `<span class="term">true</span>` : "false");
    state.el.detail.innerHTML = `<table class="grid compact step-table"><tbody>
      <tr><th>step</th><td>${esc(s.step ?? state.idx)}</td></tr>
      <tr><th>action</th><td>${esc(showValue(s.action))}</td></tr>
      <tr><th>reward</th><td>${esc(showValue(s.reward))}</td></tr>
      <tr><th>terminated</th><td>${flag(s.terminated)}</td></tr>
      <tr><th>truncated</th><td>${flag(s.truncated)}</td></tr>
      <tr><th>frame</th><td>${s.frame ? esc(s.frame) : frame ? `<span class="muted">${esc(frame)} (earlier)</span>` : DASH}</td></tr>
      <tr><th>obs</th><td><div class="obs">${obsHtml(s.obs)}</div></td></tr>${extraRows(s)}</tbody></table>`;
    state.chart.u?.redraw(false);
  }

  // A play session's step (who acted, keys held) and a custom runtime's (belief, intention, confidence), when present.
  function extraRows(s) {
    return ["actor", "keys", "belief", "intention", "confidence"].filter((k) => s[k] != null)
      .map((k) => `<tr data-step-field="${k}"><th>${k}</th><td>${esc(typeof s[k] === "object" && !Array.isArray(s[k]) ? JSON.stringify(s[k]) : showValue(s[k]))}</td></tr>`).join("");
  }

  function play() {
    if (!state.steps.length) return;
    if (state.idx >= state.steps.length - 1) go(0);
    state.playing = true;
    state.el.play.textContent = "Pause";
    state.timer = setInterval(() => {
      if (state.idx >= state.steps.length - 1) {
        pause();
        return;
      }
      go(state.idx + 1);
    }, 1000 / (BASE_FPS * state.speed));
  }

  function pause() {
    clearInterval(state.timer);
    state.timer = null;
    state.playing = false;
    if (state.el) state.el.play.textContent = "Play";
  }

  function onKey(e) {
    if (!state.el || !state.steps.length) return;
    if (e.target.closest && e.target.closest("input, select, textarea")) return; // the scrubber steps itself
    if (e.key === "ArrowRight") { pause(); go(state.idx + 1); e.preventDefault(); }
    else if (e.key === "ArrowLeft") { pause(); go(state.idx - 1); e.preventDefault(); }
    else if (e.key === "Home") { pause(); go(0); e.preventDefault(); }
    else if (e.key === "End") { pause(); go(state.steps.length - 1); e.preventDefault(); }
    else if (e.key === " " && e.target.tagName !== "BUTTON") { state.playing ? pause() : play(); e.preventDefault(); }
  }
  document.addEventListener("keydown", onKey);

  return () => {
    disposed = true;
    pause();
    document.removeEventListener("keydown", onKey);
    state.chart?.destroy();
    document.title = "rlops";
  };
}

// Play: a person (human), a registered model (agent) or both (hybrid) act in an env that runs on
// the server. One WebSocket per tab: JPEG frames come in, the keys held go out; closing the tab
// ends the session. Every step is recorded: the run then replays like any other.

import { ApiError, api, withToken } from "./api.js";
import { errorPanel, runHref } from "./dom.js";
import { esc } from "./format.js";

const MODES = [
  ["human", "human: the keyboard acts"],
  ["agent", "agent: a registered model acts"],
  ["hybrid", "hybrid: the model acts unless a key is held"],
];

export function mount(root) {
  const state = { ws: null, envs: [], models: [], held: [], seq: 0, keyMap: null, frameUrl: null, runId: null };
  root.innerHTML = `<section class="page play-page">
    <div class="panel"><h2>Play <span class="muted">a person, an agent, or both, in an env on the server</span></h2>
      <div class="toolbar">
        <label>Env <input data-testid="play-env" list="play-envs" value="CartPole-v1" size="22"><datalist id="play-envs"></datalist></label>
        <label>Mode <select data-testid="play-mode">${MODES.map(([v, t]) => `<option value="${v}">${esc(t)}</option>`).join("")}</select></label>
        <label data-model-row hidden>Model <select data-testid="play-model"></select></label>
        <button class="btn-primary" data-testid="play-start">Start</button>
        <button data-testid="play-stop" disabled>End session</button>
      </div>
      <div data-testid="play-refusal"></div>
      <details><summary>Key map <span class="muted">(keys → actions; edit to remap)</span></summary>
        <textarea data-testid="play-keymap" rows="5" cols="70" class="mono"></textarea></details>
    </div>
    <div class="panel" data-session hidden>
      <div class="toolbar" data-agent-controls hidden>
        <button data-testid="play-pause">Pause</button>
        <button data-testid="play-step" disabled>Step</button>
        <label>Speed <input type="range" min="1" max="60" value="30" data-testid="play-speed"> <span data-speed-value>30</span> steps/s</label>
      </div>
      <div class="frame-box" tabindex="0"><img data-testid="play-frame" alt="the env" width="600"></div>
      <div class="mono" data-testid="play-status">connecting…</div>
      <div data-testid="play-keys" class="muted"></div>
      <div data-testid="play-error"></div>
      <div data-testid="play-run"></div>
      <div class="toolbar"><button data-testid="play-save" disabled title="the session's finished episodes as an offline-RL dataset">Save as dataset</button>
        <span data-testid="play-saved"></span></div>
    </div>
  </section>`;
  const q = (s) => root.querySelector(s);
  const el = {
    env: q('[data-testid="play-env"]'), mode: q('[data-testid="play-mode"]'), model: q('[data-testid="play-model"]'),
    modelRow: q("[data-model-row]"), start: q('[data-testid="play-start"]'), stop: q('[data-testid="play-stop"]'),
    keymap: q('[data-testid="play-keymap"]'), refusal: q('[data-testid="play-refusal"]'), session: q("[data-session]"),
    img: q('[data-testid="play-frame"]'), status: q('[data-testid="play-status"]'), keys: q('[data-testid="play-keys"]'),
    error: q('[data-testid="play-error"]'), run: q('[data-testid="play-run"]'), agent: q("[data-agent-controls]"),
    pause: q('[data-testid="play-pause"]'), step: q('[data-testid="play-step"]'), speed: q('[data-testid="play-speed"]'),
    save: q('[data-testid="play-save"]'), saved: q('[data-testid="play-saved"]'),
  };

  function fillKeyMap() {
    const known = state.envs.find((e) => e.env_id === el.env.value.trim());
    el.keymap.value = known ? JSON.stringify(known.key_map, null, 1) : "";
  }
  function fillModels() {
    const env = el.env.value.trim();
    const rows = state.models.slice().sort((a, b) => (b.env_id === env) - (a.env_id === env));
    el.model.innerHTML = rows.length
      ? rows.map((m) => `<option value="${m.id}">#${m.id} ${esc(m.algorithm)} · ${esc(m.env_id)}${m.mean_reward != null ? ` · ${Number(m.mean_reward).toFixed(1)}` : ""}</option>`).join("")
      : `<option value="">no validated model</option>`;
    el.modelRow.hidden = el.mode.value === "human";
  }
  function showRefusal(err) {
    const e = err instanceof ApiError ? err : { message: String(err.message || err) };
    const m = /switch env to (\S+?),/.exec(e.hint || "");
    el.refusal.innerHTML = `<div class="error-panel" role="alert"><strong>${esc(e.message)}</strong>${e.hint ? `<div class="muted">${esc(e.hint)}</div>` : ""}
      ${m ? `<button data-testid="play-switch-env" data-env="${esc(m[1])}">Switch env to ${esc(m[1])}</button>` : ""}</div>`;
    const sw = el.refusal.querySelector("[data-testid=play-switch-env]");
    if (sw) sw.onclick = () => { el.env.value = sw.dataset.env; fillKeyMap(); fillModels(); el.refusal.innerHTML = ""; };
  }

  (async () => {
    try {
      [state.envs, state.models] = await Promise.all([api("/api/play/envs"), api("/api/models?validated=true")]);
    } catch (err) {
      root.innerHTML = errorPanel(err, "Could not load the play page");
      return;
    }
    q("#play-envs").innerHTML = state.envs.map((e) => `<option value="${esc(e.env_id)}">`).join("");
    fillKeyMap();
    fillModels();
  })();
  el.env.addEventListener("change", () => { fillKeyMap(); fillModels(); });
  el.mode.addEventListener("change", fillModels);

  function actionOf() {
    const map = state.keyMap?.keys || {};
    for (let i = state.held.length - 1; i >= 0; i--) if (state.held[i] in map) return map[state.held[i]];
    return null;
  }
  function send(message) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
  }
  function sendInput(press) {
    state.seq += 1;
    send({ type: "input", keys: state.held.slice(), action: actionOf(), press, seq: state.seq });
    el.keys.textContent = state.held.length ? `held: ${state.held.join(" + ")}` : "no key held";
  }
  function onKeyDown(e) {
    if (!state.ws || !state.keyMap || !(e.key in state.keyMap.keys)) return;
    e.preventDefault();
    if (e.repeat) return;
    if (!state.held.includes(e.key)) state.held.push(e.key);
    sendInput(true);
  }
  function onKeyUp(e) {
    if (!state.held.includes(e.key)) return;
    e.preventDefault();
    state.held = state.held.filter((k) => k !== e.key);
    sendInput(false);
  }
  window.addEventListener("keydown", onKeyDown);
  window.addEventListener("keyup", onKeyUp);
  window.addEventListener("blur", () => { if (state.held.length) { state.held = []; sendInput(false); } });

  el.start.onclick = async () => {
    el.refusal.innerHTML = "";
    let keyMap = null;
    if (el.mode.value !== "agent" && el.keymap.value.trim()) {
      try {
        keyMap = JSON.parse(el.keymap.value);
      } catch (err) {
        showRefusal({ message: `the key map is not JSON: ${err.message}` });
        return;
      }
    }
    const body = { env_id: el.env.value.trim(), mode: el.mode.value, key_map: keyMap };
    if (el.mode.value !== "human") body.model_id = el.model.value ? Number(el.model.value) : null;
    if (el.mode.value !== "human") body.fps = Number(el.speed.value);
    let started;
    try {
      el.start.disabled = true;
      started = await api("/api/play", { method: "POST", body });
    } catch (err) {
      el.start.disabled = false;
      showRefusal(err);
      return;
    }
    connect(started.run_id, started.socket);
  };

  function connect(runId, path) {
    state.runId = runId;
    el.session.hidden = false;
    el.error.innerHTML = "";
    el.save.disabled = true;
    el.saved.innerHTML = "";
    el.agent.hidden = el.mode.value === "human";
    el.run.innerHTML = `run <a data-testid="play-run-link" href="${esc(runHref(runId))}">${esc(runId)}</a>`;
    const url = withToken(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`);
    const ws = new WebSocket(url);
    ws.binaryType = "blob";
    state.ws = ws;
    el.stop.disabled = false;
    ws.onmessage = (event) => {
      if (typeof event.data !== "string") {
        const next = URL.createObjectURL(event.data);
        el.img.onload = () => { window.__rlops.playFrames = (window.__rlops.playFrames || 0) + 1; };
        el.img.src = next;
        if (state.frameUrl) URL.revokeObjectURL(state.frameUrl);
        state.frameUrl = next;
        return;
      }
      const m = JSON.parse(event.data);
      if (m.type === "hello") {
        state.keyMap = m.key_map;
        state.header = `${m.env_id} · ${m.mode}${m.turn_based ? " · a step per key press" : ""} · ${m.action_space}`;
        el.status.textContent = state.header;
        el.img.focus?.();
      } else if (m.type === "step") {
        el.status.textContent = `${state.header ? `${state.header} — ` : ""}episode ${m.episode} · step ${m.step} · return ${Number(m["return"]).toFixed(1)} · ` +
          `action ${JSON.stringify(m.action)} by ${m.actor}${m.refused ? ` · ${m.refused} refused` : ""}` +
          `${m.intention ? ` · ${m.intention}` : ""}${m.confidence != null ? ` · confidence ${Number(m.confidence).toFixed(2)}` : ""}`;
        el.status.dataset.actor = m.actor;
        el.status.dataset.step = m.step;
      } else if (m.type === "episode") {
        el.save.disabled = false; // a finished episode is something to save
        el.run.insertAdjacentHTML("beforeend", `<div class="muted" data-testid="play-episode">episode ${m.episode}: return ${Number(m["return"]).toFixed(1)} in ${m.length} steps</div>`);
      } else if (m.type === "refused") {
        el.keys.textContent = `refused (${m.refused}): ${m.message}`;
      } else if (m.type === "error") {
        el.error.innerHTML = `<div class="error-panel" role="alert"><strong>${esc(m.message)}</strong>${m.hint ? `<div class="muted">${esc(m.hint)}</div>` : ""}</div>`;
      }
    };
    ws.onclose = (event) => {
      if (state.ws === ws) state.ws = null;
      el.stop.disabled = true;
      el.save.disabled = false; // a cut episode is kept too: the server says if there is none
      el.start.disabled = false;
      if (event.reason) el.error.insertAdjacentHTML("beforeend", `<div class="muted">${esc(event.reason)}</div>`);
      el.run.insertAdjacentHTML("beforeend", ` <span data-testid="play-ended">· session ended: <a href="${esc(runHref(runId))}/replay">replay it</a></span>`);
    };
  }

  el.stop.onclick = () => state.ws && state.ws.close();
  el.save.onclick = async () => {
    el.save.disabled = true;
    try {
      const d = await api(`/api/play/${encodeURIComponent(state.runId)}/dataset`, { method: "POST", body: {} });
      el.saved.innerHTML = `saved as dataset <a data-testid="play-dataset-link" href="#/datasets">${esc(d.name)}</a>: ` +
        `${d.episodes} episodes, ${d.steps} steps`;
    } catch (err) {
      const e = err instanceof ApiError ? err : { message: String(err.message || err) };
      el.saved.innerHTML = `<span class="error-panel" role="alert">${esc(e.message)}${e.hint ? ` — ${esc(e.hint)}` : ""}</span>`;
    } finally {
      el.save.disabled = false;
    }
  };
  let paused = false;
  el.pause.onclick = () => {
    paused = !paused;
    send({ type: "pause", paused });
    el.pause.textContent = paused ? "Resume" : "Pause";
    el.step.disabled = !paused;
  };
  el.step.onclick = () => send({ type: "step" });
  el.speed.oninput = () => {
    q("[data-speed-value]").textContent = el.speed.value;
    send({ type: "speed", fps: Number(el.speed.value) });
  };

  return () => {
    window.removeEventListener("keydown", onKeyDown);
    window.removeEventListener("keyup", onKeyUp);
    if (state.ws) state.ws.close();
    if (state.frameUrl) URL.revokeObjectURL(state.frameUrl);
  };
}

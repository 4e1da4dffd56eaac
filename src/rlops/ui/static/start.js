// Start a run: the runner catalog with each runner's capabilities (GET /api/runners/capabilities,
// what `rlops runs runners` prints), a form generated from the option schema (GET /api/options),
// checked as you type by the server (POST /api/options/check: each option, then what `rlops
// train` would refuse of the whole draft), "train new" or "warm start from a checkpoint".
// Only the options changed from their defaults are sent, typed. What the chosen runner does not
// support (warm start; options, for a runner started from the CLI) is hidden. Where the run
// executes (orchestrator.backend, the ray.* options) is listed only by a server with a Ray cluster
// configured, with its own values as defaults; the Ray options show while the backend is ray.

import { api, apiOr } from "./api.js";
import { debounce, errorPanel, loading, runHref, toast } from "./dom.js";
import { esc, num } from "./format.js";

const OPEN_SECTIONS = new Set(["orchestrator", "env", "agent", "train"]);
const PLACEMENT_SECTIONS = new Set(["orchestrator", "ray"]); // where the run executes: the service's, not the trainer's
const HANDLED_ELSEWHERE = new Set(["train.init_from"]); // the warm start control sends it

// Until the server lists its options, a few that every run takes.
const FALLBACK = {
  sections: [
    { name: "env", doc: "Env", fields: [
      { option: "env.env_id", key: "env_id", type: "string", nullable: false, default: "CartPole-v1", help: "Gymnasium id" },
      { option: "env.n_envs", key: "n_envs", type: "integer", nullable: false, default: 8, help: "parallel environments", minimum: 1 }] },
    { name: "agent", doc: "Agent", fields: [
      { option: "agent.algorithm", key: "algorithm", type: "string", nullable: false, default: "ppo", help: "ppo | a2c | dqn | sac | td3" }] },
    { name: "train", doc: "Train", fields: [
      { option: "train.total_timesteps", key: "total_timesteps", type: "integer", nullable: false, default: 100000, help: "environment steps to train for", minimum: 1 }] },
    { name: "eval", doc: "Eval", fields: [
      { option: "eval.episodes", key: "episodes", type: "integer", nullable: false, default: 10, help: "episodes per evaluation", minimum: 1 }] },
  ],
};

// The capability matrix's columns, as `rlops runs runners` names them.
const CAPABILITIES = [
  ["warm_start", "warm start"], ["offline_inference", "offline inference"], ["needs_gpu", "needs GPU"],
  ["external_services", "external services"], ["live_step_telemetry", "live per-step telemetry"],
];

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const domId = (option) => "opt-" + option.replace(/[^a-zA-Z0-9_-]/g, "-");

/** "ppo | a2c | dqn" at the start of a help text: suggestions for a free-text field. */
function suggestions(help) {
  const m = /^\s*([\w:.\-]+(?:\s*\|\s*[\w:.\-]+)+)/.exec(help ?? "");
  return m ? m[1].split("|").map((s) => s.trim()) : [];
}

function placeholder(f) {
  if (f.default === null || f.default === undefined) return f.nullable ? "unset" : "default";
  return f.type === "json" ? JSON.stringify(f.default) : String(f.default);
}

function typeLabel(f) {
  const parts = [f.choices?.length ? "choice" : f.type];
  if (f.nullable) parts.push("optional");
  const lo = f.minimum ?? f.exclusive_minimum;
  const hi = f.maximum ?? f.exclusive_maximum;
  if (lo !== null && lo !== undefined) parts.push(`${f.exclusive_minimum !== null && f.exclusive_minimum !== undefined ? ">" : "≥"} ${lo}`);
  if (hi !== null && hi !== undefined) parts.push(`${f.exclusive_maximum !== null && f.exclusive_maximum !== undefined ? "<" : "≤"} ${hi}`);
  return parts.join(", ");
}

function inputHtml(f) {
  const name = esc(f.option);
  const id = domId(f.option);
  const common = `id="${id}" name="${name}" data-option="${name}" aria-describedby="${id}-help"`;
  if (f.choices && f.choices.length) {
    const opts = [];
    if (f.nullable) opts.push(`<option value=""${f.default === null ? " selected" : ""}>unset${f.default === null ? " (default)" : ""}</option>`);
    for (const c of f.choices) {
      const isDefault = same(c, f.default);
      opts.push(`<option value="${esc(String(c))}"${isDefault ? " selected" : ""}>${esc(String(c))}${isDefault ? " (default)" : ""}</option>`);
    }
    return `<select ${common}>${opts.join("")}</select>`;
  }
  if (f.type === "boolean") {
    if (!f.nullable) return `<input type="checkbox" ${common}${f.default ? " checked" : ""}>`;
    const opt = (v, label) => `<option value="${v}"${String(f.default ?? "") === v ? " selected" : ""}>${label}${String(f.default ?? "") === v ? " (default)" : ""}</option>`;
    return `<select ${common}>${opt("", "unset")}${opt("true", "true")}${opt("false", "false")}</select>`;
  }
  if (f.type === "integer" || f.type === "number") {
    const lo = f.minimum ?? f.exclusive_minimum;
    const hi = f.maximum ?? f.exclusive_maximum;
    const attrs = [
      `step="${f.type === "integer" ? 1 : "any"}"`,
      lo !== null && lo !== undefined ? `min="${esc(lo)}"` : "",
      hi !== null && hi !== undefined ? `max="${esc(hi)}"` : "",
    ].join(" ");
    // type=text, not number: a number input silently drops "lots", so nothing would say it is wrong.
    return `<input type="text" inputmode="${f.type === "integer" ? "numeric" : "decimal"}" ${common} ${attrs} placeholder="${esc(placeholder(f))}">`;
  }
  if (f.type === "json") {
    return `<textarea ${common} rows="2" spellcheck="false" placeholder="${esc(placeholder(f))}"></textarea>`;
  }
  const list = suggestions(f.help);
  const datalist = list.length
    ? `<datalist id="${id}-list">${list.map((s) => `<option value="${esc(s)}"></option>`).join("")}</datalist>` : "";
  return `<input type="text" ${common} placeholder="${esc(placeholder(f))}" autocomplete="off" spellcheck="false"${list.length ? ` list="${id}-list"` : ""}>${datalist}`;
}

function fieldHtml(f) {
  const id = domId(f.option);
  return `<div class="field" data-field="${esc(f.option)}">
    <label for="${id}">${esc(f.option)} <span class="type">${esc(typeLabel(f))}</span></label>
    ${inputHtml(f)}
    <div class="help" id="${id}-help">${esc(f.help ?? "")}</div>
    <div class="field-error" data-error-for="${esc(f.option)}" role="alert"></div></div>`;
}

/** The typed value of one field, whether it differs from the default, or a parse error. */
export function readField(f, el) {
  const dirty = el.dataset.dirty === "1";
  const emptyMeans = () =>
    dirty && f.nullable && f.default !== null && f.default !== undefined ? { changed: true, value: null } : { changed: false };
  if (f.choices && f.choices.length) {
    if (el.value === "") return { changed: f.default !== null && f.default !== undefined, value: null };
    const value = f.choices.find((c) => String(c) === el.value) ?? el.value;
    return { changed: !same(value, f.default), value };
  }
  if (f.type === "boolean") {
    if (el.type === "checkbox") return { changed: el.checked !== Boolean(f.default), value: el.checked };
    const value = el.value === "" ? null : el.value === "true";
    return { changed: value !== (f.default ?? null), value };
  }
  const raw = el.value.trim();
  if (f.type === "integer" || f.type === "number") {
    if (el.validity && el.validity.badInput) return { error: "not a number" };
    if (raw === "") return emptyMeans();
    const value = Number(raw);
    if (!Number.isFinite(value)) return { error: "not a number" };
    if (f.type === "integer" && !Number.isInteger(value)) return { error: "must be a whole number" };
    return { changed: value !== f.default, value };
  }
  if (f.type === "json") {
    if (raw === "") return emptyMeans();
    try {
      const value = JSON.parse(raw);
      return { changed: !same(value, f.default), value };
    } catch (err) {
      return { error: `not valid JSON: ${err.message}` };
    }
  }
  if (raw === "") return emptyMeans();
  return { changed: raw !== f.default, value: raw };
}

function modelLabel(m) {
  const reward = typeof m.mean_reward === "number"
    ? `${num(m.mean_reward)}±${num(m.std_reward ?? 0, 3)}` : "no eval";
  return `#${m.id} ${m.env_id ?? "?"} ${m.algorithm ?? "?"} ${reward} (${m.deployment_status ?? "none"})`;
}

export function mount(root, params) {
  let disposed = false;
  root.innerHTML = loading("Loading the option schema…");
  const state = { fields: [], runner: "rlops", runners: [], models: [], clientErrors: {}, serverErrors: {}, hints: {}, checkSeq: 0 };

  (async () => {
    const [runners, matrix, schema, models] = await Promise.all([
      apiOr("/api/runners", [{ name: "rlops", description: "rlops's own pipeline", http_start: true }]),
      apiOr("/api/runners/capabilities", []),
      apiOr("/api/options", null),
      apiOr("/api/models", []),
    ]);
    if (disposed) return;
    const rows = new Map((Array.isArray(matrix) ? matrix : []).map((row) => [row.name, row]));
    state.runners = runners.map((r) => ({ ...r, supports: rows.get(r.name) ?? null }));
    state.models = Array.isArray(models) ? models : [];
    const sections = (schema ?? FALLBACK).sections ?? [];
    state.fields = sections.flatMap((s) => s.fields.filter((f) => !HANDLED_ELSEWHERE.has(f.option)));
    render(sections, !schema);
  })().catch((err) => {
    if (!disposed) root.innerHTML = errorPanel(err, "Could not load the start form");
  });

  function startable(r) {
    return r.http_start ?? r.name === "rlops";
  }

  function render(sections, fallback) {
    const runnerCards = state.runners.map((r) => {
      const ok = startable(r);
      const checked = r.name === state.runner;
      return `<label class="runner${checked ? " selected" : ""}${ok ? "" : " unavailable"}" data-runner="${esc(r.name)}"
        title="${ok ? "" : "start from the CLI: rlops runs start --runner " + esc(r.name) + " -- …"}">
        <input type="radio" name="runner" value="${esc(r.name)}"${checked ? " checked" : ""}>
        <span><span class="name">${esc(r.name)}</span><div class="desc">${esc(r.description ?? "")}</div>
        ${ok ? "" : `<div class="desc"><em>${r.name === "play" ? "starts on the Play page" : "starts from a terminal"}</em></div>`}</span></label>`;
    }).join("");
    const modelOptions = state.models.map((m) => `<option value="${esc(String(m.id))}">${esc(modelLabel(m))}</option>`).join("");
    const sectionHtml = sections.map((s) => {
      const fields = s.fields.filter((f) => !HANDLED_ELSEWHERE.has(f.option));
      if (!fields.length) return "";
      return `<details class="section" data-section="${esc(s.name)}"${OPEN_SECTIONS.has(s.name) ? " open" : ""}>
        <summary>${esc(s.name)} <span class="doc">${esc(s.doc ?? "")}</span><span class="changed badge info" data-changed-count hidden></span></summary>
        <fieldset name="${esc(s.name)}">${fields.map(fieldHtml).join("")}</fieldset></details>`;
    }).join("");
    root.innerHTML = `<section class="page start-page">
      <div class="page-head"><h1>New run</h1></div>
      ${fallback ? `<div class="panel"><span class="muted">The server does not list its options yet (GET /api/options): a few common ones are shown.</span></div>` : ""}
      <h2>Runner</h2><div class="runners" data-testid="runners">${runnerCards}</div>
      <div class="panel capabilities" data-testid="runner-capabilities"></div>
      <div class="panel cli-only" data-testid="runner-cli-only" hidden></div>
      <form data-testid="start-form" novalidate autocomplete="off">
        <div class="start-layout"><div>
          <div class="panel" style="margin-bottom:10px">
            <div class="mode">
              <label><input type="radio" name="start_mode" value="new" data-testid="mode-new" checked> Train new</label>
              <label data-warm-mode><input type="radio" name="start_mode" value="warm" data-testid="mode-warm"${state.models.length || params.init_from ? "" : " disabled"}> Warm start from a checkpoint</label>
              ${state.models.length || params.init_from ? "" : `<span class="muted">no models in the registry yet</span>`}
            </div>
            <div class="warm field" data-warm hidden style="margin-top:8px">
              <select name="train.init_from" data-option="train.init_from" data-testid="init-from" aria-label="checkpoint to start from">
                <option value="">choose a model…</option>${modelOptions}</select>
              <div class="help" data-warm-help>the new run begins from these weights (train.init_from)</div>
              <div class="field-error" data-error-for="train.init_from" role="alert"></div>
            </div>
          </div>
          <div data-sections>${sectionHtml}</div>
        </div>
        <aside><div class="panel submit-panel">
          <label for="run-name">Run name <span class="muted">(optional)</span></label>
          <input id="run-name" name="run_name" placeholder="<env>-<algo>-<time>" autocomplete="off" spellcheck="false">
          <div class="muted" style="margin-top:10px">Options sent <span data-count></span></div>
          <div class="summary" data-testid="options-summary"></div>
          <button type="submit" class="btn-primary" data-testid="start-submit">Start run</button>
          <div class="form-error" data-testid="form-error" role="alert"></div>
          <details style="margin-top:10px"><summary class="muted">same run from a terminal</summary><div class="summary" data-cli></div></details>
        </div></aside></div>
      </form></section>`;

    const form = root.querySelector("form");
    state.form = form;
    state.submit = form.querySelector('[data-testid="start-submit"]');
    state.formError = form.querySelector('[data-testid="form-error"]');
    const warmBox = form.querySelector("[data-warm]");
    const warmSelect = form.querySelector('[data-testid="init-from"]');
    state.warmSelect = warmSelect;

    root.querySelector('[data-testid="runners"]').addEventListener("change", (e) => {
      if (e.target.name !== "runner") return;
      state.runner = e.target.value;
      for (const card of root.querySelectorAll(".runner")) card.classList.toggle("selected", card.dataset.runner === state.runner);
      showRunner();
      changed();
    });
    const setMode = (mode) => {
      warmBox.hidden = mode !== "warm";
      form.querySelector(`[name="start_mode"][value="${mode}"]`).checked = true;
      changed();
    };
    form.addEventListener("change", (e) => {
      if (e.target.name === "start_mode") setMode(e.target.value);
      else if (e.target === warmSelect) matchModel();
      else changed(e);
    });
    form.addEventListener("input", (e) => changed(e));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      submit();
    });

    // #/new?env.env_id=Pendulum-v1&train.total_timesteps=5000: a link to a prefilled form
    for (const f of state.fields) {
      if (params[f.option] === undefined) continue;
      const el = form.querySelector(`[name="${CSS.escape(f.option)}"]`);
      if (!el) continue;
      if (el.type === "checkbox") el.checked = params[f.option] === "true";
      else if (el.tagName === "SELECT" && ![...el.options].some((o) => o.value === params[f.option])) {
        // a link naming a value that is not a choice: kept, so the check says what is wrong with it
        el.add(new Option(`${params[f.option]} (not a choice)`, params[f.option], true, true));
      } else el.value = params[f.option];
      el.dataset.dirty = "1";
      const details = el.closest("details");
      if (details) details.open = true;
    }
    if (params.run_name) form.querySelector('[name="run_name"]').value = params.run_name;
    if (params.init_from) {
      const want = String(params.init_from);
      if (![...warmSelect.options].some((o) => o.value === want)) {
        warmSelect.add(new Option(want, want));
      }
      warmSelect.value = want;
      setMode("warm");
      matchModel();
    }
    showRunner();
    showPlacement();
    summarize();
    if (Object.keys(params).some((k) => k.includes("."))) changed();
  }

  /** The Ray options matter only for a run on Ray: their section shows while the backend is ray. */
  function showPlacement() {
    const backend = state.form.querySelector('[name="orchestrator.backend"]');
    const ray = state.form.querySelector('details.section[data-section="ray"]');
    if (!backend || !ray) return;
    const onRay = backend.value === "ray";
    ray.hidden = !onRay;
    if (onRay && !ray.dataset.shown) {
      ray.open = true; // the first time: its address and resources in view
      ray.dataset.shown = "1";
    }
  }

  /** The chosen runner's row of the capability matrix; what it does not support is hidden. */
  function showRunner() {
    const runner = state.runners.find((r) => r.name === state.runner) ?? { name: state.runner };
    const supports = runner.supports;
    const box = root.querySelector('[data-testid="runner-capabilities"]');
    box.hidden = !supports;
    if (supports) {
      const value = (key) => {
        const v = supports[key];
        if (Array.isArray(v)) return v.length ? v.join(", ") : "none";
        return v ? "yes" : "no";
      };
      box.innerHTML = `<h2>What <code>${esc(runner.name)}</code> supports</h2><dl>${CAPABILITIES.map(([key, label]) =>
        `<div data-capability="${key}" data-value="${esc(String(supports[key] === true || (Array.isArray(supports[key]) && supports[key].length > 0)))}">
          <dt>${esc(label)}</dt><dd>${esc(value(key))}</dd>${supports.notes?.[key] ? `<div class="note muted">${esc(supports.notes[key])}</div>` : ""}</div>`).join("")}</dl>`;
    }
    // warm start: only for a runner that can begin from another model's weights
    const warm = supports ? Boolean(supports.warm_start) : runner.capabilities?.warm_start ?? true;
    const warmMode = state.form.querySelector("[data-warm-mode]");
    warmMode.hidden = !warm;
    if (!warm && state.form.querySelector('[name="start_mode"]:checked')?.value === "warm") {
      state.form.querySelector('[name="start_mode"][value="new"]').checked = true;
      state.form.querySelector("[data-warm]").hidden = true;
    }
    // the option sections are rlops train's: a runner started from the CLI takes its own arguments
    const ok = startable(runner);
    state.form.hidden = !ok;
    const cli = root.querySelector('[data-testid="runner-cli-only"]');
    cli.hidden = ok;
    cli.innerHTML = ok ? "" : runner.name === "play"
      ? `a play session starts on the <a href="#/play">Play page</a>, where you choose its env, mode and model`
      : runner.name === "offline"
      ? `an offline run starts on the <a href="#/datasets">Datasets page</a>, where you choose its dataset and algorithm
        (Start waits until the dataset's hashes match)`
      : `the ${esc(runner.name)} runner runs a program or dataset of your choosing, so it starts from a terminal:
        <code>rlops runs start --runner ${esc(runner.name)} -- …</code> (<code>rlops runs runners</code> lists what each takes)`;
  }

  // A model trained on another env or algorithm: follow it unless the user chose otherwise.
  function matchModel() {
    const model = state.models.find((m) => String(m.id) === state.warmSelect.value);
    const help = state.form.querySelector("[data-warm-help]");
    if (model) {
      for (const [option, value] of [["env.env_id", model.env_id], ["agent.algorithm", model.algorithm]]) {
        const el = state.form.querySelector(`[name="${option}"]`);
        if (el && value && el.dataset.dirty !== "1") el.value = value;
      }
      help.textContent = `begins from model #${model.id}: ${model.env_id} ${model.algorithm}, ${model.total_timesteps ?? "?"} steps (${model.model_path ?? ""})`;
    } else {
      help.textContent = "the new run begins from these weights (train.init_from)";
    }
    changed();
  }

  function collect() {
    const options = {};
    const errors = {};
    for (const f of state.fields) {
      const el = state.form.querySelector(`[name="${CSS.escape(f.option)}"]`);
      if (!el || el.closest("details.section")?.hidden) continue; // a hidden section sends nothing
      const r = readField(f, el);
      if (r.error) errors[f.option] = r.error;
      else if (r.changed) options[f.option] = r.value;
      el.closest(".field")?.classList.toggle("changed", Boolean(r.changed));
    }
    const warm = state.form.querySelector('[name="start_mode"]:checked')?.value === "warm" &&
      !state.form.querySelector("[data-warm-mode]")?.hidden;
    if (warm) {
      const v = state.warmSelect.value;
      if (v) options["train.init_from"] = String(v);
      else errors["train.init_from"] = "choose the checkpoint to start from";
    }
    return { options, errors };
  }

  function showErrors() {
    const all = { ...state.serverErrors, ...state.clientErrors };
    for (const el of state.form.querySelectorAll("[data-error-for]")) {
      const option = el.dataset.errorFor;
      el.textContent = all[option] ?? "";
      const hint = state.hints[option];
      if (all[option] && hint && state.serverErrors[option] === all[option]) {
        el.insertAdjacentHTML("beforeend", `<div class="hint">${esc(hint)}</div>`);
      }
      const input = state.form.querySelector(`[data-option="${CSS.escape(option)}"]`);
      if (input) {
        if (all[option]) input.setAttribute("aria-invalid", "true");
        else input.removeAttribute("aria-invalid");
      }
      if (all[option]) {
        const details = el.closest("details");
        if (details && !details.open) details.open = true;
      }
    }
    const stray = Object.entries(all).filter(([option]) => !state.form.querySelector(`[data-error-for="${CSS.escape(option)}"]`));
    const n = Object.keys(all).length;
    const runner = state.runners.find((r) => r.name === state.runner);
    const cliOnly = runner && !startable(runner);
    state.submit.disabled = n > 0 || state.submitting || cliOnly;
    state.submit.title = cliOnly ? `the ${runner.name} runner starts from a terminal`
      : n ? `fix ${n} option error${n > 1 ? "s" : ""} first` : "";
    if (!state.submitting && !state.startError) {
      state.formError.innerHTML = stray.length
        ? stray.map(([o, m]) => `<div>${o ? `<span class="message">${esc(o)}</span>: ` : ""}${esc(m)}${state.hints[o] ? `<div class="hint">${esc(state.hints[o])}</div>` : ""}</div>`).join("") : "";
    }
  }

  function summarize() {
    const { options } = collect();
    const entries = Object.entries(options);
    state.form.querySelector("[data-count]").textContent = entries.length ? `(${entries.length})` : "(none: all defaults)";
    state.form.querySelector('[data-testid="options-summary"]').textContent =
      entries.map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join("\n") || "defaults";
    const flag = ([k, v]) => {
      const [section, ...rest] = k.split(".");
      const text = typeof v === "string" ? v : JSON.stringify(v);
      return `--${section}.${rest.join(".").replace(/_/g, "-")} ${/^[\w.:\/@+-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`}`;
    };
    const where = entries.filter(([k]) => PLACEMENT_SECTIONS.has(k.split(".")[0])).map(flag);
    const cli = entries.filter(([k]) => !PLACEMENT_SECTIONS.has(k.split(".")[0])).map(flag);
    const name = state.form.querySelector('[name="run_name"]').value.trim();
    // a run placed elsewhere is a supervised one: rlops runs start takes where, the run takes the rest
    const lines = where.length ? ["rlops runs start", ...where, ...(name ? [`--name ${name}`] : []), "--", ...cli]
      : ["rlops train", ...cli, ...(name ? [`--store.run-name ${name}`] : [])];
    state.form.querySelector("[data-cli]").textContent = lines.join(" \\\n  ");
    for (const details of state.form.querySelectorAll("details.section")) {
      const n = details.querySelectorAll(".field.changed").length;
      const badge = details.querySelector("[data-changed-count]");
      badge.hidden = !n;
      badge.textContent = `${n} changed`;
    }
  }

  async function check() {
    const { options, errors } = collect();
    state.clientErrors = errors;
    const seq = ++state.checkSeq;
    try {
      const answer = await api("/api/options/check", { method: "POST", body: { options } });
      if (disposed || seq !== state.checkSeq) return null;
      state.serverErrors = Object.fromEntries((answer.errors ?? []).map((e) => [e.option, e.message]));
      state.hints = Object.fromEntries((answer.errors ?? []).filter((e) => e.hint).map((e) => [e.option, e.hint]));
    } catch (err) {
      if (disposed || seq !== state.checkSeq) return null;
      if (err.status === 422 && err.fields) {
        state.serverErrors = Object.fromEntries(err.fields.map((e) => [e.option, e.message]));
        state.hints = Object.fromEntries(err.fields.filter((e) => e.hint).map((e) => [e.option, e.hint]));
      } else {
        state.serverErrors = {}; // no checker on this server: the start request checks
      }
    }
    showErrors();
    return { options, ok: !Object.keys({ ...state.serverErrors, ...state.clientErrors }).length };
  }

  const checkSoon = debounce(check, 300);

  function changed(e) {
    if (e && e.target && e.target.dataset && e.target.dataset.option) e.target.dataset.dirty = "1";
    state.startError = false;
    showPlacement();
    const { errors } = collect();
    // a JSON or number typo shows at once; the server's verdict follows the debounce
    state.clientErrors = errors;
    for (const option of Object.keys(state.serverErrors)) {
      if (e && e.target && e.target.dataset.option === option) delete state.serverErrors[option];
    }
    showErrors();
    summarize();
    checkSoon();
  }

  async function submit() {
    if (state.submitting) return;
    checkSoon.cancel();
    state.startError = false;
    const verdict = await check();
    if (!verdict || !verdict.ok) {
      state.formError.innerHTML = `<div class="message">Fix the options marked in red first.</div>`;
      state.startError = true;
      return;
    }
    const runner = state.runners.find((r) => r.name === state.runner);
    if (runner && !startable(runner)) {
      state.formError.innerHTML = `<div class="message">the ${esc(runner.name)} runner starts from the CLI</div><div class="hint">rlops runs start --runner ${esc(runner.name)} -- script.py</div>`;
      state.startError = true;
      return;
    }
    state.submitting = true;
    state.submit.disabled = true;
    state.submit.textContent = "Starting…";
    state.formError.innerHTML = "";
    const name = state.form.querySelector('[name="run_name"]').value.trim() || null;
    try {
      const run = await api("/api/runs", { method: "POST", body: { runner: state.runner, options: verdict.options, name } });
      if (disposed) return;
      toast(`run ${run.run_id} ${run.status ?? "queued"}`, { kind: "success" });
      window.location.hash = runHref(run.run_id);
    } catch (err) {
      if (disposed) return;
      if (err.fields) state.serverErrors = Object.fromEntries(err.fields.map((f) => [f.option, f.message]));
      state.startError = true;
      state.formError.innerHTML = `<div class="message">${esc(err.message)}</div>${err.hint ? `<div class="hint">${esc(err.hint)}</div>` : ""}`;
    } finally {
      state.submitting = false;
      if (!disposed) {
        state.submit.textContent = "Start run";
        showErrors();
      }
    }
  }

  return () => {
    disposed = true;
  };
}

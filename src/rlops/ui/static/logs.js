// The log drawer: a bottom panel with the run's output, the last 500 lines then the live tail.

import { api, openStream, runPath } from "./api.js";
import { esc } from "./format.js";
import { h } from "./dom.js";

const MAX_LINES = 5000;
const ERRORISH = /(traceback|error|exception|fatal)/i;

export function createLogDrawer(runId, onToggle = () => {}) {
  const node = h(`<section class="log-drawer" data-testid="log-drawer" hidden aria-label="log">
      <div class="log-head"><span class="title">Log</span><span class="file mono"></span>
        <span class="state"></span><span class="spacer"></span>
        <label><input type="checkbox" data-follow checked> follow</label>
        <button type="button" data-close>Close</button></div>
      <div class="log-lines" data-testid="log-lines"></div></section>`);
  document.body.appendChild(node);
  const lines = node.querySelector(".log-lines");
  const stateEl = node.querySelector(".state");
  const fileEl = node.querySelector(".file");
  const follow = node.querySelector("[data-follow]");
  let stream = null;
  let pending = [];
  let scheduled = false;
  let generation = 0;

  function flush() {
    scheduled = false;
    if (!pending.length) return;
    const atBottom = lines.scrollHeight - lines.scrollTop - lines.clientHeight < 40;
    const frag = document.createDocumentFragment();
    for (const text of pending) {
      const div = document.createElement("div");
      if (ERRORISH.test(text)) div.className = "err";
      div.textContent = text;
      frag.appendChild(div);
    }
    pending = [];
    lines.appendChild(frag);
    while (lines.childElementCount > MAX_LINES) lines.firstElementChild.remove();
    if (follow.checked || atBottom) lines.scrollTop = lines.scrollHeight;
  }

  function push(text) {
    pending.push(text.replace(/\n$/, ""));
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(flush);
      setTimeout(() => scheduled && flush(), 300);
    }
  }

  function note(text, cls = "end") {
    flush();
    const div = document.createElement("div");
    div.className = cls;
    div.textContent = text;
    lines.appendChild(div);
    if (follow.checked) lines.scrollTop = lines.scrollHeight;
  }

  async function open() {
    const mine = ++generation;
    node.hidden = false;
    document.body.classList.add("drawer-open");
    lines.textContent = "";
    stateEl.textContent = "loading…";
    onToggle(true);
    let tail;
    try {
      tail = await api(`${runPath(runId)}/logs?tail=500`);
    } catch (err) {
      if (mine !== generation) return;
      stateEl.textContent = "";
      lines.innerHTML = `<div class="err">${esc(err.message)}</div>${err.hint ? `<div class="end">${esc(err.hint)}</div>` : ""}`;
      return;
    }
    if (mine !== generation) return;
    fileEl.textContent = tail.file ?? "";
    for (const line of tail.lines ?? []) push(line);
    if (!(tail.lines ?? []).length) note("(no output yet)");
    flush();
    lines.scrollTop = lines.scrollHeight;
    stateEl.textContent = "live";
    stream = openStream(`${runPath(runId)}/logs/stream?after=${encodeURIComponent(tail.offset ?? 0)}`, {
      line: (data) => push(String(data.text ?? "")),
      eof: () => {
        stateEl.textContent = "ended";
        note("— end of log —");
      },
      fail: () => {
        stateEl.textContent = "not live";
      },
    });
  }

  function close() {
    generation++;
    stream?.close();
    stream = null;
    node.hidden = true;
    document.body.classList.remove("drawer-open");
    onToggle(false);
  }

  node.querySelector("[data-close]").addEventListener("click", close);

  return {
    get isOpen() {
      return !node.hidden;
    },
    toggle() {
      if (node.hidden) open();
      else close();
    },
    destroy() {
      close();
      node.remove();
    },
  };
}

// Small DOM helpers shared by the pages: toasts, the video player, error panels, debounce.

import { esc } from "./format.js";

/** Parse an HTML string (already escaped by the caller) into its first element. */
export function h(html) {
  const t = document.createElement("template");
  t.innerHTML = html.trim();
  return t.content.firstElementChild;
}

function toastRoot() {
  let root = document.getElementById("toasts");
  if (!root) {
    root = document.createElement("div");
    root.id = "toasts";
    root.setAttribute("aria-live", "polite");
    document.body.appendChild(root);
  }
  return root;
}

/**
 * A dismissible message. toast("saved") informs and fades; toast(err) shows an error's message and
 * hint until dismissed.
 */
export function toast(what, { kind, timeout } = {}) {
  const isError = what instanceof Error;
  const message = isError ? what.message : String(what);
  const hint = isError ? what.hint : null;
  const k = kind ?? (isError ? "error" : "info");
  const node = h(`<div class="toast toast-${k}" role="${k === "error" ? "alert" : "status"}" data-testid="toast">
      <div class="toast-body"><div class="toast-message">${esc(message)}</div>
      ${hint ? `<div class="toast-hint">${esc(hint)}</div>` : ""}</div>
      <button class="toast-close" type="button" aria-label="dismiss" title="dismiss">×</button></div>`);
  node.querySelector(".toast-close").addEventListener("click", () => node.remove());
  const root = toastRoot();
  root.appendChild(node);
  while (root.children.length > 5) root.firstElementChild.remove();
  const ms = timeout ?? (k === "error" ? 30000 : 5000);
  if (ms > 0) setTimeout(() => node.remove(), ms);
  return node;
}

/** An error as an inline panel (page-level failures such as an unknown run). */
export function errorPanel(err, title = "Something went wrong") {
  const status = err && err.status ? `<span class="muted mono">${esc(err.status)}</span> ` : "";
  return `<div class="panel error-panel" data-testid="page-error">
    <h2>${status}${esc(title)}</h2>
    <p class="error-message">${esc(err?.message ?? err)}</p>
    ${err?.hint ? `<p class="hint">${esc(err.hint)}</p>` : ""}
    <p><a href="#/">← back to runs</a></p></div>`;
}

export function loading(text = "Loading…") {
  return `<div class="loading"><span class="spinner"></span>${esc(text)}</div>`;
}

/** Open a video in an overlay player and start it. */
export function playVideo(url, title = "") {
  closeVideo();
  const node = h(`<div class="modal" id="video-modal" role="dialog" aria-label="video">
      <div class="modal-card">
        <div class="modal-head"><span class="mono">${esc(title)}</span>
          <button type="button" class="btn btn-small" data-close>Close</button></div>
        <video data-testid="video-player" controls preload="auto" playsinline></video>
      </div></div>`);
  const video = node.querySelector("video");
  video.src = url;
  node.addEventListener("click", (e) => {
    if (e.target === node || e.target.closest("[data-close]")) closeVideo();
  });
  document.body.appendChild(node);
  const started = video.play();
  if (started && started.catch) started.catch(() => {}); // autoplay refused: the controls remain
  return video;
}

export function closeVideo() {
  const old = document.getElementById("video-modal");
  if (old) {
    old.querySelector("video")?.pause();
    old.remove();
  }
}

document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") closeVideo();
});

export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

/** The query part of a hash route: #/compare?ids=a,b → URLSearchParams. */
export function hashParams() {
  const hash = window.location.hash;
  const i = hash.indexOf("?");
  return new URLSearchParams(i >= 0 ? hash.slice(i + 1) : "");
}

export function runHref(runId) {
  return "#/runs/" + encodeURIComponent(runId);
}

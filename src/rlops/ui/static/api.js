// The one way the page talks to the server: JSON over fetch, files and server-sent events, each
// carrying the token when the server needs one. Errors keep the server's {message, hint, fields}.

import { toast } from "./dom.js";

const TOKEN_KEY = "rlops.token";

function storage() {
  try {
    return window.sessionStorage;
  } catch {
    return null; // storage disabled: the token lives only in memory
  }
}

let memoryToken = null;

// Read ?token= from the page's URL once, keep it for the tab, and drop it from the address bar.
function readToken() {
  const url = new URL(window.location.href);
  const given = url.searchParams.get("token");
  if (given) {
    memoryToken = given;
    storage()?.setItem(TOKEN_KEY, given);
    url.searchParams.delete("token");
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  return memoryToken ?? storage()?.getItem(TOKEN_KEY) ?? null;
}

const token = readToken();

export class ApiError extends Error {
  constructor({ status = 0, message = "request failed", hint = null, fields = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.hint = hint;
    this.fields = fields;
  }
}

/** A URL the browser fetches on its own (video, img, EventSource, links): the token rides along. */
export function withToken(url) {
  if (!token) return url;
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

/** Encode each segment of a path but keep its slashes (metric keys like train/loss, file paths). */
export function encodePath(path) {
  return String(path).split("/").map(encodeURIComponent).join("/");
}

export function runPath(runId) {
  return "/api/runs/" + encodeURIComponent(runId);
}

export function fileUrl(runId, path) {
  return withToken(runPath(runId) + "/files/" + encodePath(String(path).replace(/^\/+/, "")));
}

/** fetch a JSON route; throws ApiError carrying the server's error body. */
export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  const init = { method, headers, signal };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError({
      message: `the rlops server did not answer ${method} ${path}`,
      hint: "is `rlops ui` still running? Reload the page once it is back.",
    });
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const e = data && typeof data === "object" && data.error ? data.error : {};
    throw new ApiError({
      status: e.status ?? response.status,
      message: e.message ?? `${method} ${path} answered ${response.status} ${response.statusText}`,
      hint: e.hint ?? null,
      fields: e.fields ?? null,
    });
  }
  return data;
}

/** The same as api() but answers `fallback` when the route is missing (404/405) or fails. */
export async function apiOr(path, fallback, options) {
  try {
    return await api(path, options);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    return fallback;
  }
}

/**
 * Open a server-sent events stream. `on` maps event names to handlers of the parsed data
 * (and the MessageEvent). "eof" closes the stream and calls on.eof; a stream the server refuses
 * (404, wrong content type) calls on.fail once, and one it ends with "failed" (its database went
 * bad) shows the server's message and calls on.fail with it. Returns {close()}.
 */
export function openStream(path, on) {
  const source = new EventSource(withToken(path));
  let closed = false;
  const close = () => {
    closed = true;
    source.close();
  };
  for (const [name, handler] of Object.entries(on)) {
    if (name === "fail" || name === "eof" || name === "open" || name === "failed") continue;
    source.addEventListener(name, (event) => {
      // "error" is both a record type the server sends and the EventSource's own failure event.
      if (!(event instanceof MessageEvent)) return;
      let data = null;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      handler(data, event);
    });
  }
  source.addEventListener("eof", () => {
    close();
    on.eof?.();
  });
  source.addEventListener("failed", (event) => {
    // The server's last event when the stream cannot go on (its database went bad): say why, once.
    let e = {};
    try {
      e = JSON.parse(event.data).error ?? {};
    } catch {
      // not the server's shape: the generic message below
    }
    close();
    const err = new ApiError({ status: e.status ?? 500, message: e.message ?? `${path} stopped`, hint: e.hint ?? null });
    toast(err);
    on.fail?.(err);
  });
  source.addEventListener("open", () => on.open?.());
  source.addEventListener("error", (event) => {
    if (event instanceof MessageEvent || closed) return;
    if (source.readyState === EventSource.CLOSED) {
      closed = true;
      on.fail?.();
    }
    // CONNECTING: the browser reconnects on its own, sending Last-Event-ID.
  });
  return { close, source };
}

// Live run summaries for every page that shows a status: one shared /api/stream/runs connection,
// and a polling fallback where the server has no such stream.

import { api, openStream } from "./api.js";

const listeners = new Set();
let stream = null;
let pollTimer = null;
const POLL_MS = 4000;

function emit(summaries) {
  for (const listener of listeners) listener(summaries);
}

function start() {
  // Summaries arrive one event each (every run at connect): hand them on in batches, one a frame.
  let batch = [];
  let flushing = false;
  const flush = () => {
    flushing = false;
    const out = batch;
    batch = [];
    if (out.length) emit(out);
  };
  stream = openStream("/api/stream/runs", {
    run: (summary) => {
      if (!summary || !summary.run_id) return;
      batch.push(summary);
      if (!flushing) {
        flushing = true;
        requestAnimationFrame(flush);
        setTimeout(() => flushing && flush(), 250); // a hidden tab gets no frames
      }
    },
    fail: () => {
      stream = null;
      poll();
    },
  });
}

async function poll() {
  if (!listeners.size) return;
  try {
    emit(await api("/api/runs?limit=10000"));
  } catch {
    // the health dot reports a server that is gone
  }
  if (listeners.size) pollTimer = setTimeout(poll, POLL_MS);
}

/** Call fn([summary, ...]) whenever runs change; returns the unsubscribe function. */
export function subscribeRuns(fn) {
  listeners.add(fn);
  if (!stream && !pollTimer) start();
  return () => {
    listeners.delete(fn);
    if (!listeners.size) {
      stream?.close();
      stream = null;
      clearTimeout(pollTimer);
      pollTimer = null;
    }
  };
}

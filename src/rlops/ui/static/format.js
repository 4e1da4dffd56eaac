// Escaping and human-friendly numbers: every server string passes through esc() before it meets
// innerHTML.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function esc(value) {
  if (value === null || value === undefined) return "";
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

export const DASH = "—";

export function isNum(v) {
  return typeof v === "number" && Number.isFinite(v);
}

/** 2100 → "2.1k", 16384 → "16.4k", 1.5e6 → "1.5M", 12 → "12", 0.0123 → "0.0123". */
export function si(v, digits = 3) {
  if (!isNum(v)) return DASH;
  const a = Math.abs(v);
  const units = [
    [1e12, "T"],
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "k"],
  ];
  for (const [size, unit] of units) {
    if (a >= size) return trim((v / size).toPrecision(digits)) + unit;
  }
  if (Number.isInteger(v)) return String(v);
  return num(v, digits);
}

function trim(text) {
  return text.includes(".") && !text.includes("e") ? text.replace(/\.?0+$/, "") : text;
}

/** A measured value: 4 significant digits, exponent only for the very small or large. */
export function num(v, digits = 4) {
  if (!isNum(v)) return DASH;
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5) return si(v);
  if (a < 1e-3) return v.toExponential(2);
  if (Number.isInteger(v)) return String(v);
  return trim(v.toPrecision(digits));
}

const INT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const DATETIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function int(v) {
  return isNum(v) ? INT.format(Math.round(v)) : DASH;
}

/** seconds → "12s", "3m 12s", "2h 05m", "3d 4h". */
export function duration(seconds) {
  if (!isNum(seconds) || seconds < 0) return DASH;
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function bytes(n) {
  if (!isNum(n)) return DASH;
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function now() {
  return Date.now() / 1000;
}

/** unix seconds → "just now", "5m ago", "3h ago", "2d ago", or a date. */
export function ago(t) {
  if (!isNum(t)) return DASH;
  const d = now() - t;
  if (d < -60) return "in " + duration(-d);
  if (d < 10) return "just now";
  if (d < 60) return `${Math.floor(d)}s ago`;
  if (d < 3600) return `${Math.floor(d / 60)}m ago`;
  if (d < 86400) return `${Math.floor(d / 3600)}h ago`;
  if (d < 30 * 86400) return `${Math.floor(d / 86400)}d ago`;
  return new Date(t * 1000).toLocaleDateString();
}

export function datetime(t) {
  if (!isNum(t)) return DASH;
  return DATETIME.format(new Date(t * 1000));
}

/** How long a run has been (or was) going: started → ended, or → now while it runs. */
export function elapsed(run) {
  if (!run || run.status === "queued") return null;
  const start = run.started ?? null;
  if (!isNum(start)) return null;
  const end = isNum(run.ended) ? run.ended : run.status === "running" ? now() : run.updated ?? null;
  return isNum(end) ? Math.max(0, end - start) : null;
}

export const STATUSES = ["queued", "running", "finished", "failed", "stopped", "lost"];

export function statusBadge(status, testid = "status-badge") {
  const s = status || "unknown";
  const known = STATUSES.includes(s) ? s : "unknown";
  return `<span class="badge status status-${known}" data-testid="${testid}">${esc(s)}</span>`;
}

export function shortHash(h, n = 10) {
  return h ? String(h).slice(0, n) : DASH;
}

/** {a: {b: 1}} → [["a.b", 1]]; arrays and empty dicts stay as leaves. */
export function flatten(obj, prefix = "", out = []) {
  if (obj && typeof obj === "object" && !Array.isArray(obj) && Object.keys(obj).length) {
    for (const [k, v] of Object.entries(obj)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.push([prefix, obj]);
  }
  return out;
}

export function show(v) {
  if (v === null || v === undefined) return DASH;
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/**
 * Where a run executes: its backend ("local" or "ray") and its node. A Ray run's node is the one
 * Ray placed it on (IP and node id), none until placed; a local run's is the machine that
 * registered it.
 */
export function placement(run) {
  const backend = run?.backend || "local";
  if (backend === "local") return { backend, node: run?.host || DASH, title: run?.host ? `on this machine's host ${run.host}` : "on this machine" };
  const node = run?.node || "not placed yet";
  const actor = run?.backend_ref ? `, actor ${run.backend_ref}` : "";
  return { backend, node, title: run?.node ? `on the ${backend} node ${run.node}${actor}` : `queued for ${backend}: no node yet${actor}` };
}

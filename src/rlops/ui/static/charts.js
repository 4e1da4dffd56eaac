// Line charts over uPlot (vendored): series with their own x values, appended live, redrawn at
// most ~5 times a second. Each chart's container carries data-points (points drawn) and every
// redraw sets window.__rlops.lastDraw = {chart, points, ms: data arrival → drawn}.
// Axes carry titles; the legend shows each series' last value until the cursor picks a point;
// with `toggles`, the head has EMA smoothing and log scale (as TensorBoard's and W&B's do).

import uPlot from "./vendor/uplot/uPlot.esm.js";
import { esc, num, si } from "./format.js";

export const PALETTE = [
  "#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2",
  "#db2777", "#65a30d", "#4b5563", "#ea580c", "#0d9488", "#9333ea",
];

const MIN_INTERVAL_MS = 200; // ≤ 5 redraws a second
const THIN_ABOVE = 12_000; // a live series past this many points is thinned to half
export const EMA_WEIGHT = 0.9; // TensorBoard's smoothing slider, set where RL returns read well
const hooks = (window.__rlops = window.__rlops || { lastDraw: null });

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

/** Keep each bucket's first, min and max: peaks survive, the count halves or better. */
export function thin(xs, ys, target) {
  const n = xs.length;
  if (n <= target) return [xs, ys];
  const buckets = Math.max(1, Math.floor(target / 2));
  const size = n / buckets;
  const ox = [];
  const oy = [];
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor(b * size);
    const hi = Math.min(n, Math.floor((b + 1) * size));
    let iMin = -1;
    let iMax = -1;
    for (let i = lo; i < hi; i++) {
      const y = ys[i];
      if (y === null || y === undefined) continue;
      if (iMin < 0 || y < ys[iMin]) iMin = i;
      if (iMax < 0 || y > ys[iMax]) iMax = i;
    }
    if (iMin < 0) continue;
    for (const i of iMin <= iMax ? [iMin, iMax] : [iMax, iMin]) {
      if (ox.length && ox[ox.length - 1] === xs[i]) continue;
      ox.push(xs[i]);
      oy.push(ys[i]);
    }
  }
  return [ox, oy];
}

/** TensorBoard's smoothing: an exponential moving average, debiased so the first points are not
 * pulled towards 0; gaps stay gaps. */
export function ema(ys, weight = EMA_WEIGHT) {
  let last = 0;
  let n = 0;
  return ys.map((y) => {
    if (y === null || y === undefined || !Number.isFinite(y)) return null;
    last = last * weight + (1 - weight) * y;
    n += 1;
    return last / (1 - weight ** n);
  });
}

function lastValue(col) {
  for (let i = (col?.length ?? 0) - 1; i >= 0; i--) if (col[i] !== null && col[i] !== undefined) return col[i];
  return null;
}

/** Align series with their own x values on one sorted x axis (nulls where a series has no point). */
function align(series, defs) {
  const all = new Map(); // x → row
  const keys = [];
  const cols = series.map(() => []);
  series.forEach((s, j) => {
    let prev = -Infinity;
    for (let i = 0; i < s.xs.length; i++) {
      let x = s.xs[i];
      if (x === null || x === undefined) continue;
      // Several episodes end on one env step: nudge so each keeps its own point (a line keeps
      // the last value of a step).
      if (defs[j].points && x <= prev && x > prev - 1) x = prev + 1e-3;
      prev = x;
      let row = all.get(x);
      if (row === undefined) {
        row = keys.length;
        all.set(x, row);
        keys.push(x);
      }
      cols[j][row] = s.ys[i];
    }
  });
  const order = keys.map((_, i) => i).sort((a, b) => keys[a] - keys[b]);
  const xs = order.map((i) => keys[i]);
  const out = [xs];
  for (const col of cols) out.push(order.map((i) => (col[i] === undefined ? null : col[i])));
  return out;
}

export class Chart {
  /**
   * container: an element (its data-testid is kept); opts: {name, title, series: [{label, color,
   * points}], height, xLabel, yFormat, plugins, empty}
   */
  constructor(container, opts) {
    this.container = container;
    this.name = opts.name;
    this.opts = opts;
    this.defs = [];
    this.data = [];
    this.u = null;
    this.zoomed = false;
    this.scheduled = false;
    this.pendingArrival = null;
    this.lastDrawAt = 0;
    this.timer = null;
    this.destroyed = false;
    container.classList.add("chart");
    container.dataset.points = "0";
    this.smooth = false;
    this.log = false;
    const toggles = opts.toggles
      ? `<label class="chart-toggle" title="exponential moving average, weight ${EMA_WEIGHT} (as TensorBoard's smoothing)">
          <input type="checkbox" data-testid="chart-smooth"> EMA</label>
        <label class="chart-toggle" title="logarithmic y axis (symmetric log where values reach 0 or below)">
          <input type="checkbox" data-testid="chart-log"> log</label>` : "";
    container.innerHTML = `<div class="chart-head"><h3>${esc(opts.title ?? opts.name)}</h3>
      <span class="chart-meta muted"></span>${toggles}${opts.actions ?? ""}</div>
      <div class="chart-body"><div class="chart-empty muted">${esc(opts.empty ?? "no data yet")}</div></div>`;
    this.body = container.querySelector(".chart-body");
    this.meta = container.querySelector(".chart-meta");
    container.dataset.scale = "linear";
    container.dataset.smooth = "off";
    container.querySelector('[data-testid="chart-smooth"]')?.addEventListener("change", (e) => {
      this.smooth = e.target.checked;
      this.rebuild = true;
      this.scheduleDraw();
    });
    container.querySelector('[data-testid="chart-log"]')?.addEventListener("change", (e) => {
      this.log = e.target.checked;
      this.rebuild = true;
      this.scheduleDraw();
    });
    for (const def of opts.series ?? []) this.addSeries(def);
    this.resizer = new ResizeObserver(() => this.resize());
    this.resizer.observe(this.body);
  }

  addSeries(def) {
    const color = def.color ?? PALETTE[(this.autoColor = (this.autoColor ?? -1) + 1) % PALETTE.length];
    this.defs.push({ ...def, color });
    this.data.push({ xs: [], ys: [] });
    this.rebuild = true;
    return this.defs.length - 1;
  }

  indexOf(label) {
    return this.defs.findIndex((d) => d.label === label);
  }

  setSeries(i, xs, ys, arrival = performance.now()) {
    this.data[i] = { xs: Array.from(xs), ys: Array.from(ys) };
    this.scheduleDraw(arrival);
  }

  append(i, x, y, arrival = performance.now()) {
    const s = this.data[i];
    s.xs.push(x);
    s.ys.push(y);
    if (s.xs.length > THIN_ABOVE) [s.xs, s.ys] = thin(s.xs, s.ys, THIN_ABOVE / 2);
    this.scheduleDraw(arrival);
  }

  lastX(i) {
    const xs = this.data[i]?.xs;
    return xs && xs.length ? xs[xs.length - 1] : -Infinity;
  }

  points() {
    return this.data.reduce((n, s) => n + s.xs.length, 0);
  }

  scheduleDraw(arrival = performance.now()) {
    if (this.pendingArrival === null || arrival < this.pendingArrival) this.pendingArrival = arrival;
    if (this.scheduled || this.destroyed) return;
    this.scheduled = true;
    const wait = Math.max(0, this.lastDrawAt + MIN_INTERVAL_MS - performance.now());
    const frame = () => requestAnimationFrame(() => this.drawNow());
    if (wait > 0) this.timer = setTimeout(frame, wait);
    else frame();
  }

  drawNow() {
    this.scheduled = false;
    if (this.destroyed) return;
    const points = this.points();
    const empty = this.body.querySelector(".chart-empty");
    if (points === 0) {
      if (empty) empty.hidden = false;
    } else {
      if (empty) empty.hidden = true;
      const { data, defs } = this.drawn();
      const table = align(data, defs);
      // a live value at or below 0 turns a log axis into a symmetric log one
      if (this.u && this.log && this.yScale(table).kind !== this.container.dataset.scale) this.rebuild = true;
      if (!this.u || this.rebuild) this.create(table, defs);
      else this.u.setData(table, !this.zoomed);
      if (this.zoomed) this.u.redraw();
      // off the plot, the legend shows each series' last value (uPlot's shows "—" until hover)
      if (this.u.cursor.idx === null || this.u.cursor.idx === undefined) this.u.setLegend({ idx: null });
    }
    this.lastDrawAt = performance.now();
    this.container.dataset.points = String(points);
    this.meta.textContent = points ? `${si(points)} pts` : "";
    const ms = this.pendingArrival === null ? 0 : this.lastDrawAt - this.pendingArrival;
    this.pendingArrival = null;
    hooks.lastDraw = { chart: this.name, points, ms };
    this.opts.onDraw?.(this);
  }

  /** What is drawn: the series as they are, or smoothed (lines by their EMA; points keep their
   * scatter and gain an EMA line of their own, the "rolling mean" of a scatter). */
  drawn() {
    if (!this.smooth) return { data: this.data, defs: this.defs };
    const data = [];
    const defs = [];
    this.defs.forEach((d, i) => {
      const s = this.data[i];
      if (d.points) {
        data.push(s);
        defs.push(d);
        data.push({ xs: s.xs, ys: ema(s.ys) });
        defs.push({ ...d, points: false, label: `${d.label} (EMA)`, color: d.emaColor ?? "#7c3aed" });
      } else {
        data.push({ xs: s.xs, ys: ema(s.ys) });
        defs.push(d);
      }
    });
    return { data, defs };
  }

  /** The y scale: linear; with log on, log10 where every value is positive, else asinh (a
   * symmetric log, linear within the smallest magnitude the data has) as losses go below 0. */
  yScale(table) {
    if (!this.log) return { distr: 1, kind: "linear" };
    let min = Infinity;
    let small = Infinity;
    for (let j = 1; j < table.length; j++) {
      for (const v of table[j]) {
        if (v === null || v === undefined) continue;
        min = Math.min(min, v);
        if (v !== 0) small = Math.min(small, Math.abs(v));
      }
    }
    if (min > 0) return { distr: 3, log: 10, kind: "log" };
    return { distr: 4, log: 10, asinh: Number.isFinite(small) ? small : 1, kind: "symlog" };
  }

  size() {
    const width = Math.max(200, Math.floor(this.body.clientWidth || this.container.clientWidth || 400));
    return { width, height: this.opts.height ?? 200 };
  }

  resize() {
    if (this.u) {
      const { width, height } = this.size();
      if (width !== this.u.width) this.u.setSize({ width, height });
    }
  }

  create(table, defs = this.defs) {
    if (this.u) this.u.destroy();
    this.rebuild = false;
    const axis = cssVar("--chart-axis", "#6b7280");
    const grid = cssVar("--chart-grid", "rgba(0,0,0,0.07)");
    const yFormat = this.opts.yFormat ?? ((v) => num(v, 3));
    const axisFont = `11px ${cssVar("--font-mono", "monospace")}`;
    const { width, height } = this.size();
    const legendValue = (fmt) => (u, v, sidx, idx) => {
      const shown = idx === null || idx === undefined ? lastValue(u.data[sidx]) : v;
      return shown === null || shown === undefined ? "—" : fmt(shown);
    };
    const series = [{ label: this.opts.xLabel ?? "env steps", value: legendValue((v) => si(v, 4)) }];
    for (const d of defs) {
      const s = {
        label: d.label,
        stroke: d.color,
        width: d.points ? 0 : 1.5,
        spanGaps: true,
        scale: d.scale ?? "y",
        value: legendValue((v) => num(v)),
      };
      if (d.points) {
        s.paths = () => null;
        s.points = { show: true, size: 3.5, space: 0, fill: d.color, stroke: d.color, width: 0 };
        s.alpha = 0.55;
      } else {
        // a sparse series (a handful of points among another's many x values) shows its points
        const idx = defs.indexOf(d);
        s.points = { size: 5, show: (u) => (u.data[idx + 1]?.filter((v) => v !== null).length ?? 0) <= 60 };
      }
      series.push(s);
    }
    const title = { labelFont: axisFont, labelSize: 16, labelGap: 0 };
    // room for the longest tick ("-2.50e-4" on a log axis) beside the axis title
    const tickWidth = (u, values) => 16 + 7 * Math.max(4, ...(values ?? []).map((v) => String(v ?? "").length));
    const xLabel = this.opts.xLabel ?? "env steps";
    const yLabel = this.opts.yLabel ?? (defs.length === 1 ? defs[0].label : "value");
    const axes = [
      { stroke: axis, font: axisFont, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 },
        values: (u, vals) => vals.map((v) => (this.opts.xFormat ?? si)(v)), label: xLabel, ...title },
      { stroke: axis, font: axisFont, size: tickWidth, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 },
        values: (u, vals) => vals.map((v) => (v === null ? "" : yFormat(v))), label: yLabel, ...title },
    ];
    const y = this.yScale(table);
    const scales = { x: { time: false }, y: { distr: y.distr, log: y.log, asinh: y.asinh } };
    this.container.dataset.scale = y.kind;
    this.container.dataset.smooth = this.smooth ? "ema" : "off";
    this.container.dataset.xLabel = xLabel;
    this.container.dataset.yLabel = yLabel;
    if (defs.some((d) => d.scale === "y2")) { // replay: a step's reward beside the return so far
      axes.push({ side: 1, scale: "y2", stroke: axis, font: axisFont, size: 54, grid: { show: false },
        values: (u, vals) => vals.map(yFormat), label: this.opts.y2Label, ...title });
    }
    const chart = this;
    this.u = new uPlot({
      width,
      height,
      scales,
      series,
      axes,
      legend: { show: this.opts.legend !== false, live: true },
      cursor: { drag: { x: true, y: false }, points: { size: 6 } },
      plugins: [drawnRange(this.container), ...(this.opts.plugins ?? [])],
      hooks: {
        setSelect: [(u) => { if (u.select.width > 0) chart.zoomed = true; }],
        ready: [(u) => u.over.addEventListener("dblclick", () => { chart.zoomed = false; })],
        ...(this.opts.hooks ?? {}),
      },
    }, table, this.body);
  }

  destroy() {
    this.destroyed = true;
    clearTimeout(this.timer);
    this.resizer.disconnect();
    if (this.u) this.u.destroy();
    this.u = null;
  }
}

/** The y range drawn, on the container as data-y-range="min,max" ("none" when the scale has no
 * finite range, as a log scale over values it cannot take would have). */
function drawnRange(container) {
  return {
    hooks: {
      draw: [(u) => {
        const { min, max } = u.scales.y ?? {};
        container.dataset.yRange = Number.isFinite(min) && Number.isFinite(max) ? `${min},${max}` : "none";
      }],
    },
  };
}

/** A plugin drawing a vertical cursor line at getX() (replay's current step). */
export function cursorLine(getX, color = "#dc2626") {
  return {
    hooks: {
      draw: [(u) => {
        const x = getX();
        if (x === null || x === undefined) return;
        const left = u.valToPos(x, "x", true);
        if (!Number.isFinite(left)) return;
        const { ctx } = u;
        ctx.save();
        ctx.strokeStyle = color;
        ctx.lineWidth = 2 * devicePixelRatio;
        ctx.beginPath();
        ctx.moveTo(left, u.bbox.top);
        ctx.lineTo(left, u.bbox.top + u.bbox.height);
        ctx.stroke();
        ctx.restore();
      }],
    },
  };
}

// Statistics charts as SVG drawn here: a line with a dot per period, a y axis from zero to a
// round maximum, and the first, middle and last period named on the x axis. Labels go
// through the language's number and date formats. Time runs left to right in both languages.

import { h, s } from "./dom.js";
import { num, period } from "./i18n.js";

const W = 520;
const H = 190;
const PAD = { left: 52, right: 14, top: 14, bottom: 30 };

/** The smallest 1/2/5 x 10^n at or above `v` (at least 1). */
function roundUp(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * chart({title, points: [{period, value}], testid}): a figure with the SVG. A `null` value
 * (no calls that period, e.g. latency) leaves a gap in the line and draws no dot.
 */
export function chart({ title, points, testid }) {
  const values = points.map((p) => p.value).filter((v) => v !== null && v !== undefined);
  const max = roundUp(Math.max(0, ...values));
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const n = points.length;
  const x = (i) => PAD.left + (n <= 1 ? iw / 2 : (i * iw) / (n - 1));
  const y = (v) => PAD.top + ih - (v / max) * ih;

  const grid = [0, max / 2, max].map((v) =>
    s("g", { class: "tick" }, s("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }), s("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" }, num(v))),
  );

  const segments = [];
  let run = [];
  points.forEach((p, i) => {
    if (p.value === null || p.value === undefined) {
      if (run.length) segments.push(run);
      run = [];
    } else {
      run.push(`${x(i).toFixed(1)},${y(p.value).toFixed(1)}`);
    }
  });
  if (run.length) segments.push(run);
  const lines = segments.map((pts) => s("polyline", { class: "line", points: pts.join(" ") }));

  const dots = points
    .map((p, i) =>
      p.value === null || p.value === undefined
        ? null
        : s("circle", { class: "point", cx: x(i).toFixed(1), cy: y(p.value).toFixed(1), r: n > 60 ? 1.6 : 3.2, "data-value": p.value, "data-period": p.period }, s("title", {}, `${period(p.period)}: ${num(p.value)}`)),
    )
    .filter(Boolean);

  const labelAt = n > 2 ? [0, Math.floor((n - 1) / 2), n - 1] : [...Array(n).keys()];
  const xLabels = labelAt.map((i) => s("text", { class: "xlabel", x: x(i), y: H - 10, "text-anchor": i === 0 && n > 1 ? "start" : i === n - 1 && n > 1 ? "end" : "middle" }, period(points[i].period)));

  const svg = s(
    "svg",
    { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, direction: "ltr", testid },
    s("line", { class: "axis", x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: PAD.top + ih }),
    grid,
    lines,
    dots,
    xLabels,
  );
  return h("figure", { class: "chart-box", dir: "ltr" }, h("figcaption", { dir: "auto" }, title), svg);
}

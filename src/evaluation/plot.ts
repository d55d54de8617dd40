/**
 * A self-contained SVG cost–quality plot of an evaluation report (no dependencies): cost per 1k
 * queries on a log x axis (linear when some cost is 0), mean quality on y; the router's sweep as one
 * line per policy knob, the `best` point, single models as labelled dots, the oracle, the
 * zero-router hull and random routing at matched cost. Beside it, a reliability plot of the
 * router's predicted scores (mean observed score per bin of predicted score, against the diagonal).
 * @module
 */
import type { EvalReport, SweepPoint } from './eval.js';

const MAIN_W = 800;
/** The reliability panel, right of the legend. */
const REL = { left: 850, size: 240 };
const W = REL.left + REL.size + 30;
const H = 520;
const M = { left: 72, right: 200, top: 48, bottom: 64 };
const PW = MAIN_W - M.left - M.right;
const PH = H - M.top - M.bottom;

const COLORS: Record<string, string> = {
  lambda: '#1f6fd1',
  targetScore: '#2a9d3c',
  strongShare: '#8a3ffc',
  hull: '#777777',
  random: '#c98a00',
  oracle: '#d62728',
  single: '#333333',
};

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function n2(x: number): string {
  return Number.isFinite(x) ? (Math.round(x * 100) / 100).toString() : '0';
}

function moneyTick(x: number): string {
  if (x === 0) return '$0';
  if (x >= 1) return `$${+x.toPrecision(3)}`;
  return `$${+x.toPrecision(2)}`;
}

/** Short label of a model id: the part after the last `/`. */
function short(id: string): string {
  const k = id.lastIndexOf('/');
  return k >= 0 && k < id.length - 1 ? id.slice(k + 1) : id;
}

/** The report as an SVG document (a string starting with `<svg`). */
export function renderSvg(report: EvalReport): string {
  const singles = report.models.map((id) => ({ id, ...report.singles[id]! }));
  const sweep = report.router.sweep;
  const costs = [
    ...singles.map((s) => s.cost1k),
    report.oracle.cost1k,
    ...sweep.map((p) => p.cost1k),
  ].filter((c) => Number.isFinite(c));
  const quals = [
    ...singles.map((s) => s.quality),
    report.oracle.quality,
    ...sweep.map((p) => p.quality),
    ...report.random.points.map((p) => p.quality),
  ].filter((q) => Number.isFinite(q));

  const logX = costs.length > 0 && costs.every((c) => c > 0);
  let x0: number, x1: number;
  if (logX) {
    const lo = Math.min(...costs), hi = Math.max(...costs);
    x0 = Math.floor(Math.log10(lo) - 1e-9);
    x1 = Math.ceil(Math.log10(hi) + 1e-9);
    if (x1 <= x0) x1 = x0 + 1;
  } else {
    x0 = 0;
    x1 = Math.max(0, ...costs) * 1.05 || 1;
  }
  const sx = (c: number): number => {
    const v = logX ? Math.log10(Math.max(c, 10 ** x0)) : c;
    return M.left + ((v - x0) / (x1 - x0)) * PW;
  };
  let y0 = Math.max(0, Math.floor((Math.min(...quals, 1) - 0.02) * 20) / 20);
  let y1 = Math.min(1, Math.ceil((Math.max(...quals, 0) + 0.02) * 20) / 20);
  if (!(y1 > y0)) { y0 = 0; y1 = 1; }
  const sy = (q: number): number => M.top + (1 - (q - y0) / (y1 - y0)) * PH;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="11">`);
  out.push(`<title>routecore evaluation: cost vs quality (${report.rows} rows, ${report.models.length} models)</title>`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${M.left}" y="24" font-size="14" font-weight="bold">Cost vs quality — ${report.rows} rows, ${report.models.length} models${report.cv ? `, ${report.cv.folds}-fold CV` : ''}</text>`);

  // Grid and axes.
  out.push('<g stroke="#e5e5e5" stroke-width="1">');
  const xTicks: { v: number; label: string; major: boolean }[] = [];
  if (logX) {
    for (let d = x0; d <= x1; d++) {
      xTicks.push({ v: 10 ** d, label: moneyTick(10 ** d), major: true });
      if (d < x1 && x1 - x0 <= 3) for (const m of [2, 5]) xTicks.push({ v: m * 10 ** d, label: moneyTick(m * 10 ** d), major: false });
    }
  } else {
    for (let k = 0; k <= 5; k++) xTicks.push({ v: (x1 * k) / 5, label: moneyTick(+((x1 * k) / 5).toPrecision(2)), major: true });
  }
  for (const t of xTicks) out.push(`<line x1="${n2(sx(t.v))}" y1="${M.top}" x2="${n2(sx(t.v))}" y2="${M.top + PH}"${t.major ? '' : ' stroke-dasharray="2,3"'}/>`);
  const yStep = y1 - y0 > 0.4 ? 0.1 : 0.05;
  const yTicks: number[] = [];
  for (let q = Math.ceil(y0 / yStep - 1e-9) * yStep; q <= y1 + 1e-9; q += yStep) yTicks.push(+q.toFixed(2));
  for (const q of yTicks) out.push(`<line x1="${M.left}" y1="${n2(sy(q))}" x2="${M.left + PW}" y2="${n2(sy(q))}"/>`);
  out.push('</g>');
  out.push(`<rect x="${M.left}" y="${M.top}" width="${PW}" height="${PH}" fill="none" stroke="#444"/>`);
  out.push('<g fill="#333" text-anchor="middle">');
  for (const t of xTicks) if (t.major || x1 - x0 <= 2) out.push(`<text x="${n2(sx(t.v))}" y="${M.top + PH + 16}">${esc(t.label)}</text>`);
  out.push(`<text x="${M.left + PW / 2}" y="${H - 18}" font-size="12">cost per 1,000 queries (USD, ${logX ? 'log scale' : 'linear scale: some costs are 0'})</text>`);
  out.push('</g>');
  out.push('<g fill="#333" text-anchor="end">');
  for (const q of yTicks) out.push(`<text x="${M.left - 6}" y="${n2(sy(q) + 4)}">${q.toFixed(2)}</text>`);
  out.push('</g>');
  out.push(`<text transform="translate(18 ${M.top + PH / 2}) rotate(-90)" text-anchor="middle" font-size="12" fill="#333">mean quality</text>`);

  // Zero-router hull (dashed), extended flat to the right edge as RouterBench's AIQ does. Mixing
  // two models is linear in cost, so on a log axis each segment is a curve: it is sampled.
  const hull = report.zeroRouter.hull;
  if (hull.length > 0) {
    const pts = [`${n2(sx(hull[0]!.cost1k))},${n2(sy(hull[0]!.quality))}`];
    for (let h = 1; h < hull.length; h++) {
      const a = hull[h - 1]!, b = hull[h]!;
      const steps = logX ? 48 : 1;
      for (let t = 1; t <= steps; t++) {
        const u = t / steps;
        pts.push(`${n2(sx(a.cost1k + u * (b.cost1k - a.cost1k)))},${n2(sy(a.quality + u * (b.quality - a.quality)))}`);
      }
    }
    pts.push(`${n2(M.left + PW)},${n2(sy(hull[hull.length - 1]!.quality))}`);
    out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${COLORS.hull}" stroke-width="1.5" stroke-dasharray="6,4"/>`);
  }

  // Random routing at matched cost: the chord between the cheapest and the most expensive model,
  // sampled so it bends correctly on a log axis.
  const L = report.singles[report.random.cheap], Hm = report.singles[report.random.expensive];
  if (L && Hm && Hm.cost1k > L.cost1k) {
    const pts: string[] = [];
    for (let k = 0; k <= 40; k++) {
      const p = k / 40;
      pts.push(`${n2(sx((1 - p) * L.cost1k + p * Hm.cost1k))},${n2(sy((1 - p) * L.quality + p * Hm.quality))}`);
    }
    out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${COLORS.random}" stroke-width="1.2" stroke-dasharray="2,3"/>`);
  }

  // Router sweep: one line per knob, points sorted by cost.
  const groups = new Map<string, SweepPoint[]>();
  for (const p of sweep) {
    if (p.param === null) continue;
    const g = groups.get(p.param) ?? [];
    g.push(p);
    groups.set(p.param, g);
  }
  for (const [param, g] of groups) {
    const sorted = [...g].sort((a, b) => a.cost1k - b.cost1k || a.quality - b.quality);
    const color = COLORS[param] ?? '#1f6fd1';
    out.push(`<polyline points="${sorted.map((p) => `${n2(sx(p.cost1k))},${n2(sy(p.quality))}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`);
    out.push(`<g fill="${color}">`);
    for (const p of sorted) out.push(`<circle cx="${n2(sx(p.cost1k))}" cy="${n2(sy(p.quality))}" r="2.5"><title>${esc(`${p.policy} ${p.param}=${p.knob}: quality ${p.quality.toFixed(3)}, $${p.cost1k.toPrecision(3)}/1k`)}</title></circle>`);
    out.push('</g>');
  }
  // Single models and the oracle; labels placed so they overlap neither each other nor the dots.
  out.push(`<g fill="${COLORS.single}">`);
  const dots = singles.map((s) => ({ x: sx(s.cost1k), y: sy(s.quality) }));
  for (const [i, s] of singles.entries()) {
    out.push(`<circle cx="${n2(dots[i]!.x)}" cy="${n2(dots[i]!.y)}" r="4"><title>${esc(`${s.id}: quality ${s.quality.toFixed(3)}, $${s.cost1k.toPrecision(3)}/1k`)}</title></circle>`);
  }
  for (const l of placeLabels(singles.map((s, i) => ({ ...dots[i]!, text: short(s.id) })))) {
    if (l.leader) out.push(`<line x1="${n2(l.dotX)}" y1="${n2(l.dotY)}" x2="${n2(l.anchorX)}" y2="${n2(l.y - 3)}" stroke="#999" stroke-width="0.6"/>`);
    out.push(`<text x="${n2(l.x)}" y="${n2(l.y)}" font-size="10"${l.end ? ' text-anchor="end"' : ''}>${esc(l.text)}</text>`);
  }
  out.push('</g>');
  // The router's `best` point last, as a ring: it often sits on the best single model's dot.
  const b = report.router.best;
  out.push(`<circle cx="${n2(sx(b.cost1k))}" cy="${n2(sy(b.quality))}" r="7" fill="none" stroke="${COLORS.lambda}" stroke-width="2.5"><title>${esc(`router best: quality ${b.quality.toFixed(3)}, $${b.cost1k.toPrecision(3)}/1k`)}</title></circle>`);
  const ox = sx(report.oracle.cost1k), oy = sy(report.oracle.quality);
  out.push(`<path d="M ${n2(ox)} ${n2(oy - 6)} L ${n2(ox + 6)} ${n2(oy)} L ${n2(ox)} ${n2(oy + 6)} L ${n2(ox - 6)} ${n2(oy)} Z" fill="${COLORS.oracle}"><title>${esc(`oracle: quality ${report.oracle.quality.toFixed(3)}, $${report.oracle.cost1k.toPrecision(3)}/1k`)}</title></path>`);
  out.push(`<text x="${n2(ox + 8)}" y="${n2(oy + 4)}" font-size="10" fill="${COLORS.oracle}">oracle</text>`);

  // Legend.
  const lx = M.left + PW + 16;
  let ly = M.top + 8;
  const legend: [string, string, string][] = [];
  if (groups.has('lambda')) legend.push(['line', COLORS.lambda!, 'router, cost policy λ']);
  if (groups.has('targetScore')) legend.push(['line', COLORS.targetScore!, 'router, cost policy target']);
  if (groups.has('strongShare')) legend.push(['line', COLORS.strongShare!, 'router, strong share']);
  legend.push(['ring', COLORS.lambda!, 'router, best']);
  legend.push(['dot', COLORS.single!, 'single model']);
  legend.push(['diamond', COLORS.oracle!, 'oracle']);
  legend.push(['dash', COLORS.hull!, 'zero-router hull']);
  legend.push(['dots', COLORS.random!, 'random at matched cost']);
  out.push('<g font-size="11" fill="#333">');
  for (const [kind, color, label] of legend) {
    if (kind === 'line') out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    else if (kind === 'dash') out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${color}" stroke-width="1.5" stroke-dasharray="6,4"/>`);
    else if (kind === 'dots') out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${color}" stroke-width="1.2" stroke-dasharray="2,3"/>`);
    else if (kind === 'ring') out.push(`<circle cx="${lx + 11}" cy="${ly}" r="6" fill="none" stroke="${color}" stroke-width="2.5"/>`);
    else if (kind === 'diamond') out.push(`<path d="M ${lx + 11} ${ly - 5} L ${lx + 16} ${ly} L ${lx + 11} ${ly + 5} L ${lx + 6} ${ly} Z" fill="${color}"/>`);
    else out.push(`<circle cx="${lx + 11}" cy="${ly}" r="4" fill="${color}"/>`);
    out.push(`<text x="${lx + 28}" y="${ly + 4}">${esc(label)}</text>`);
    ly += 18;
  }
  ly += 8;
  const facts: string[] = [];
  if (report.aiq.router !== null) facts.push(`AIQ router ${report.aiq.router.toFixed(3)}`, `AIQ zero-router ${report.aiq.zeroRouter!.toFixed(3)}`);
  if (report.apgr !== null) facts.push(`APGR ${report.apgr.toFixed(3)}`);
  if (report.cpt50 !== null) facts.push(`CPT(50%) ${report.cpt50.toFixed(3)}`);
  for (const f of facts) {
    out.push(`<text x="${lx}" y="${ly + 4}">${esc(f)}</text>`);
    ly += 16;
  }
  out.push('</g>');
  out.push(...reliabilityPanel(report));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** The reliability plot: observed vs predicted score per bin, dot area by pair count. */
function reliabilityPanel(report: EvalReport): string[] {
  const cal = report.calibration;
  const x0 = REL.left, y0 = M.top, S = REL.size;
  const px = (p: number): number => x0 + p * S;
  const py = (q: number): number => y0 + (1 - q) * S;
  const out: string[] = [];
  out.push('<g font-size="11" fill="#333">');
  const ece = cal && Number.isFinite(cal.ece) ? cal.ece.toFixed(3) : '—';
  out.push(`<text x="${x0}" y="${y0 - 10}" font-size="12" font-weight="bold">Reliability (ECE ${ece})</text>`);
  out.push(`<rect x="${x0}" y="${y0}" width="${S}" height="${S}" fill="none" stroke="#444"/>`);
  for (let k = 0; k <= 5; k++) {
    const v = k / 5;
    out.push(`<line x1="${n2(px(v))}" y1="${y0}" x2="${n2(px(v))}" y2="${y0 + S}" stroke="#e5e5e5"/>`);
    out.push(`<line x1="${x0}" y1="${n2(py(v))}" x2="${x0 + S}" y2="${n2(py(v))}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${n2(px(v))}" y="${y0 + S + 14}" text-anchor="middle">${v.toFixed(1)}</text>`);
    out.push(`<text x="${x0 - 4}" y="${n2(py(v) + 4)}" text-anchor="end">${v.toFixed(1)}</text>`);
  }
  out.push(`<line x1="${px(0)}" y1="${py(0)}" x2="${px(1)}" y2="${py(1)}" stroke="#999" stroke-dasharray="4,3"/>`);
  out.push(`<text x="${x0 + S / 2}" y="${y0 + S + 30}" text-anchor="middle">predicted score</text>`);
  out.push(`<text transform="translate(${x0 - 30} ${y0 + S / 2}) rotate(-90)" text-anchor="middle">observed mean score</text>`);
  const bins = cal ? cal.bins.filter((b) => b.count > 0) : [];
  if (bins.length > 0) {
    const maxCount = Math.max(...bins.map((b) => b.count));
    out.push(`<polyline points="${bins.map((b) => `${n2(px(b.predicted))},${n2(py(b.observed))}`).join(' ')}" fill="none" stroke="${COLORS.lambda}" stroke-width="1.5"/>`);
    for (const b of bins) {
      const r = 2 + 5 * Math.sqrt(b.count / maxCount);
      out.push(`<circle cx="${n2(px(b.predicted))}" cy="${n2(py(b.observed))}" r="${n2(r)}" fill="${COLORS.lambda}" fill-opacity="0.7"><title>${esc(`predicted ${b.lo.toFixed(1)}–${b.hi.toFixed(1)}: mean predicted ${b.predicted.toFixed(3)}, observed ${b.observed.toFixed(3)}, ${b.count} pairs`)}</title></circle>`);
    }
  } else {
    out.push(`<text x="${x0 + S / 2}" y="${y0 + S / 2}" text-anchor="middle">no scored pairs</text>`);
  }
  // Two lines: one would run past the right edge.
  out.push(`<text x="${x0}" y="${y0 + S + 50}" font-size="10">dot area: (prompt, model) pairs in the bin;</text>`);
  out.push(`<text x="${x0}" y="${y0 + S + 63}" font-size="10">on the diagonal = calibrated</text>`);
  out.push('</g>');
  return out;
}

/** A placed label: text position, whether it is right-aligned, and a leader line when moved off its dot. */
interface PlacedLabel {
  text: string;
  x: number;
  y: number;
  end: boolean;
  leader: boolean;
  dotX: number;
  dotY: number;
  anchorX: number;
}

/**
 * Places each dot's label at the first of a few positions around it (right, left, then further up or
 * down) whose box overlaps no label placed before it and no other dot, inside the plot; labels are
 * placed top to bottom. Widths are estimated (0.56 em per character at 10 px), enough to keep close
 * models' names apart. A label that had to move away from its dot gets a thin leader line.
 */
function placeLabels(items: { x: number; y: number; text: string }[]): PlacedLabel[] {
  const boxes: { x0: number; y0: number; x1: number; y1: number }[] = [];
  const hits = (b: { x0: number; y0: number; x1: number; y1: number }) =>
    boxes.some((o) => b.x0 < o.x1 && b.x1 > o.x0 && b.y0 < o.y1 && b.y1 > o.y0) ||
    items.some((d) => d.x + 4 > b.x0 && d.x - 4 < b.x1 && d.y + 4 > b.y0 && d.y - 4 < b.y1);
  const order = items.map((_, i) => i).sort((a, b) => items[a]!.y - items[b]!.y);
  const placed: PlacedLabel[] = [];
  for (const i of order) {
    const d = items[i]!;
    const w = d.text.length * 5.6;
    const preferLeft = d.x > M.left + PW * 0.75;
    const sides = preferLeft ? [true, false] : [false, true];
    const shifts = [-5, 9, -17, 21, -29, 33, -41];
    let best: PlacedLabel | undefined;
    for (const dy of shifts) {
      for (const end of sides) {
        const x = end ? d.x - 6 : d.x + 6;
        const y = d.y + dy;
        const box = { x0: end ? x - w : x, y0: y - 9, x1: end ? x : x + w, y1: y + 2 };
        if (box.x0 < M.left + 1 || box.x1 > M.left + PW - 1 || box.y0 < M.top + 1 || box.y1 > M.top + PH - 1) continue;
        if (hits(box)) continue;
        best = { text: d.text, x, y, end, leader: Math.abs(dy) > 9, dotX: d.x, dotY: d.y, anchorX: x };
        boxes.push(box);
        break;
      }
      if (best) break;
    }
    // Nowhere free: keep the plain position (an overlap beats a missing name).
    best ??= { text: d.text, x: preferLeft ? d.x - 6 : d.x + 6, y: d.y - 5, end: preferLeft, leader: false, dotX: d.x, dotY: d.y, anchorX: d.x };
    placed.push(best);
  }
  return placed;
}

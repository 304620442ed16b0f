// The live preview's page (served as GET / by preview/preview_server.cpp): self-contained HTML, CSS and
// JavaScript, nothing fetched from elsewhere (no CDN, no web fonts), so it works on a machine without
// internet access and through an ssh tunnel. Once a second it polls /state.json and the history entries
// it has not seen yet (/history.json?from=N), redraws the loss curves on a canvas (log-scale y, one
// colour per term, a legend), and reloads /image.png only when a newer image exists and the previous
// one has finished loading, so a slow connection never piles up requests. It stops polling when the
// run has finished.
#pragma once

namespace nst {

inline constexpr char kPreviewPage[] = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nst live preview</title>
<style>
body{font:14px system-ui,"DejaVu Sans",sans-serif;margin:16px;background:#f6f6f4;color:#222}
h1{font-size:18px;margin:0 0 6px}
#status{margin:0 0 12px;color:#444;font-variant-numeric:tabular-nums}
#status.finished{color:#075;font-weight:600}
#status.offline,#status.failed{color:#a30}
main{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
figure{margin:0}
#image{display:block;max-width:min(92vw,512px);min-width:96px;min-height:96px;background:#ddd;border:1px solid #bbb}
figcaption{color:#666;font-size:12px;margin-top:4px}
#curves{background:#fff;border:1px solid #bbb;max-width:92vw}
table{border-collapse:collapse;margin-top:6px;font-variant-numeric:tabular-nums}
td{padding:1px 10px 1px 0}
td.v{text-align:right}
.sw{display:inline-block;width:10px;height:10px;margin-right:6px;border-radius:2px}
</style></head><body>
<h1>nst live preview</h1>
<div id="status">waiting for the first iteration</div>
<main>
<figure><img id="image" alt="the image being optimised"><figcaption id="caption">no image yet</figcaption></figure>
<div><canvas id="curves" width="560" height="360"></canvas><table id="terms"></table></div>
</main>
<script>
'use strict';
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf',
                '#bcbd22', '#7f7f7f'];
const MAX_POINTS = 4096;  // per curve, as the server keeps: a long run's curve thins, its memory stays bounded
const series = new Map();  // term -> {points: [[x, value]], last, offset, color}
let next = 0, shownImage = -1, imageLoading = false;
const $ = id => document.getElementById(id);

function fmt(v) {
  if (v === null || !isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e5 || a < 1e-2) ? v.toExponential(3) : v.toPrecision(5);
}

// A pyramid run (--scales) restarts its iterations at each scale: later scales continue to the right.
function addHistory(h) {
  next = h.next;
  for (const [name, points] of Object.entries(h.terms)) {
    if (!series.has(name))
      series.set(name, {points: [], last: -Infinity, offset: 0, color: COLORS[series.size % COLORS.length]});
    const s = series.get(name);
    for (const [it, v] of points) {
      if (it < s.last) s.offset += s.last;
      s.last = it;
      s.points.push([it + s.offset, v]);
      if (s.points.length >= 2 * MAX_POINTS) s.points = s.points.filter((p, i, a) => i % 2 === 0 || i === a.length - 1);
    }
  }
}

function bounds() {
  let xmax = 1, lo = Infinity, hi = -Infinity;
  for (const s of series.values())
    for (const [x, v] of s.points) {
      xmax = Math.max(xmax, x);
      if (v > 0 && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
  if (!isFinite(lo)) return null;
  const e0 = Math.floor(Math.log10(lo)), e1 = Math.max(Math.ceil(Math.log10(hi)), e0 + 1);
  return {xmax, e0, e1};
}

function niceStep(span) {
  const p = 10 ** Math.floor(Math.log10(span)), m = span / p;
  return p * (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10);
}

function drawAxes(g, b, X, Y, box) {
  g.strokeStyle = '#e4e4e4'; g.fillStyle = '#555'; g.lineWidth = 1; g.font = '11px system-ui,sans-serif';
  const every = Math.ceil((b.e1 - b.e0) / 8);
  g.textAlign = 'right'; g.textBaseline = 'middle';
  for (let e = b.e0; e <= b.e1; e += every) {
    const y = Y(10 ** e);
    g.beginPath(); g.moveTo(box.l, y); g.lineTo(box.r, y); g.stroke();
    g.fillText('1e' + e, box.l - 6, y);
  }
  const step = niceStep(b.xmax / 6);
  g.textAlign = 'center'; g.textBaseline = 'top';
  for (let x = 0; x <= b.xmax; x += step) {
    g.beginPath(); g.moveTo(X(x), box.t); g.lineTo(X(x), box.b); g.stroke();
    g.fillText(String(x), X(x), box.b + 5);
  }
  g.fillText('iteration', (box.l + box.r) / 2, box.b + 19);
  g.strokeStyle = '#888'; g.strokeRect(box.l, box.t, box.r - box.l, box.b - box.t);
}

function drawSeries(g, X, Y) {
  g.lineWidth = 1.6;
  for (const s of series.values()) {
    g.strokeStyle = s.color; g.beginPath();
    let pen = false;
    for (const [x, v] of s.points) {
      if (!(v > 0 && isFinite(v))) { pen = false; continue; }  // log scale: a gap, not a dive
      if (pen) g.lineTo(X(x), Y(v)); else g.moveTo(X(x), Y(v));
      pen = true;
    }
    g.stroke();
  }
}

function drawLegend(g, box) {
  g.font = '12px system-ui,sans-serif'; g.textAlign = 'left'; g.textBaseline = 'middle';
  const names = [...series.keys()], w = Math.max(...names.map(n => g.measureText(n).width)) + 30;
  const x = box.r - w - 8, y = box.t + 8;
  g.fillStyle = 'rgba(255,255,255,0.85)'; g.fillRect(x, y, w, names.length * 17 + 6);
  names.forEach((n, i) => {
    g.fillStyle = series.get(n).color; g.fillRect(x + 6, y + 8 + i * 17, 14, 4);
    g.fillStyle = '#222'; g.fillText(n, x + 24, y + 11 + i * 17);
  });
}

function draw() {
  const c = $('curves'), g = c.getContext('2d');
  const box = {l: 58, r: c.width - 10, t: 10, b: c.height - 38};
  g.clearRect(0, 0, c.width, c.height);
  const b = bounds();
  g.fillStyle = '#555'; g.font = '12px system-ui,sans-serif'; g.textAlign = 'left'; g.textBaseline = 'alphabetic';
  if (!b) { g.fillText('no losses yet', box.l + 10, box.t + 20); return; }
  const X = x => box.l + (box.r - box.l) * x / b.xmax;
  const Y = v => box.t + (box.b - box.t) * (b.e1 - Math.log10(v)) / (b.e1 - b.e0);
  drawAxes(g, b, X, Y, box);
  drawSeries(g, X, Y);
  drawLegend(g, box);
}

function showTerms(terms) {  // built as DOM nodes: a term's name is text, never markup
  const table = $('terms');
  table.replaceChildren();
  for (const [n, v] of Object.entries(terms)) {
    const tr = table.insertRow(), name = tr.insertCell(), value = tr.insertCell();
    const sw = document.createElement('span');
    sw.className = 'sw';
    sw.style.background = series.has(n) ? series.get(n).color : '#999';
    name.append(sw, n);
    value.className = 'v';
    value.textContent = fmt(v);
  }
}

function showImage(img) {
  if (!img || img.serial === shownImage || imageLoading) return;
  imageLoading = true;
  const el = $('image');
  el.onload = el.onerror = () => { imageLoading = false; };
  el.src = `/image.png?it=${img.iteration}&n=${img.serial}`;
  shownImage = img.serial;
  $('caption').textContent = `iteration ${img.iteration}, ${img.width} × ${img.height}`;
}

function showState(st) {
  const s = $('status');
  s.className = st.finished ? (st.failed ? 'failed' : 'finished') : '';
  const progress = st.total > 0 ? `${st.iteration} / ${st.total}` : 'waiting for the first iteration';
  s.textContent = st.finished ? `${progress} · ${st.message}` : progress;
  document.title = `${progress} · nst`;
  showTerms(st.terms);
  showImage(st.image);
}

async function getJson(path) {
  const r = await fetch(path, {cache: 'no-store'});
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

async function poll() {
  try {
    const st = await getJson('/state.json');
    addHistory(await getJson('/history.json?from=' + next));
    showState(st);
    draw();
    if (st.finished) { imageLoading = false; showImage(st.image); return; }  // the last image, then stop
  } catch (e) {
    const s = $('status');
    s.className = 'offline';
    s.textContent = `the run is not reachable (${e.message}); retrying`;
  }
  setTimeout(poll, 1000);
}
poll();
</script></body></html>
)HTML";

}  // namespace nst

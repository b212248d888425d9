// The HTML report's script (src/report/html.ts puts it inside the page). It reads the
// run's data from the page and draws the timeline and the event list. Plain script,
// no modules, no network: the report is one file that opens anywhere.
//
// The data (HtmlReportData in html.ts): `ev`, the trace events column by column;
// `tracks`, each with its slices as five numbers (first event, last event, level,
// name, category); `strings`, what the numbers name.
(() => {
  const D = JSON.parse(document.getElementById('ndis-sim-data').textContent);
  const S = D.strings;
  const E = D.ev;
  const N = E.t.length;

  /** Virtual time as seconds with microseconds, as the terminal timeline writes it. */
  function fmtTime(ns) {
    const us = Math.floor(ns / 1000);
    return `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')} s`;
  }

  // ---------------------------------------------------------------- selection
  let selected = -1;
  const listeners = [];
  function select(i, opts) {
    if (!(i >= 0 && i < N)) return;
    selected = i;
    if (opts?.hash !== false) history.replaceState(null, '', `#e${i}`);
    for (const f of listeners) f(i, opts || {});
  }

  // Slices by the event that begins them, for the details panel.
  const slicesAt = new Map();
  D.tracks.forEach((tr, ti) => {
    for (let k = 0; k < tr.slices.length; k += 5) {
      const from = tr.slices[k];
      let list = slicesAt.get(from);
      if (list === undefined) {
        list = [];
        slicesAt.set(from, list);
      }
      list.push([ti, k]);
    }
  });

  // ---------------------------------------------------------------- event list
  const box = document.getElementById('events');
  const spacer = document.getElementById('events-spacer');
  const filter = document.getElementById('filter');
  const kindFilter = document.getElementById('kind-filter');
  const hideData = document.getElementById('hide-data');
  const shownLabel = document.getElementById('shown');
  const details = document.getElementById('details');
  const ROW = 18;
  // Browsers cap an element's height (Chromium near 33.5 million px, Firefox near 17.9
  // million): past that the spacer stops growing and the last rows of a long trace
  // could not be scrolled to. Above this height the scroll bar moves through the rows
  // in proportion instead of a pixel per pixel.
  const MAX_HEIGHT = 15e6;
  /** Rows' pixels per pixel of scrolling: 1 unless the list is taller than MAX_HEIGHT. */
  let scale = 1;
  const kinds = [...new Set(E.kind)].map((k) => S[k]).sort();
  for (const k of kinds) {
    const o = document.createElement('option');
    o.value = k;
    o.textContent = k;
    kindFilter.appendChild(o);
  }
  // A loop, not Math.max(...): a spread of a long trace overflows the stack.
  let actorWidth = 5;
  for (const a of new Set(E.actor)) actorWidth = Math.max(actorWidth, S[a].length);
  actorWidth = Math.min(24, actorWidth);
  /** The row's text: time, CPU, IRQL, actor, the event indented by call depth. */
  function rowText(i) {
    return `${fmtTime(E.t[i]).padStart(14)} ${String(E.cpu[i]).padStart(3)} ${(D.irqls[E.irql[i]] || String(E.irql[i])).padEnd(8)} ${S[E.actor[i]].padEnd(actorWidth)} ${'  '.repeat(Math.min(E.depth[i], 8))}${E.text[i]}`;
  }
  let visible = [];
  /** Position of each event in `visible`, or -1. */
  const rowOf = new Int32Array(N);
  function applyFilter() {
    const q = filter.value.trim().toLowerCase();
    const kind = kindFilter.value;
    const noData = hideData.checked;
    visible = [];
    rowOf.fill(-1);
    for (let i = 0; i < N; i++) {
      if (noData && E.folded[i] === 1) continue;
      if (kind !== '' && S[E.kind[i]] !== kind) continue;
      if (q !== '') {
        const hay = `${E.text[i]} ${S[E.actor[i]]} ${S[E.kind[i]]}`.toLowerCase();
        if (!hay.includes(q)) continue;
      }
      rowOf[i] = visible.length;
      visible.push(i);
    }
    shownLabel.textContent = visible.length === N ? `${N} events` : `${visible.length} of ${N} events`;
    const full = visible.length * ROW;
    spacer.style.height = `${Math.min(full, MAX_HEIGHT)}px`;
    scale = full <= MAX_HEIGHT ? 1 : (full - box.clientHeight) / (MAX_HEIGHT - box.clientHeight);
    renderRows();
  }
  const pool = [];
  function renderRows() {
    // Where the view is among the rows, in the rows' own pixels.
    const top = box.scrollTop * scale;
    const first = Math.max(0, Math.floor(top / ROW) - 5);
    const last = Math.min(visible.length, Math.ceil((top + box.clientHeight) / ROW) + 5);
    let used = 0;
    for (let r = first; r < last; r++) {
      const i = visible[r];
      let div = pool[used];
      if (div === undefined) {
        div = document.createElement('div');
        div.className = 'row';
        div.setAttribute('role', 'option');
        spacer.appendChild(div);
        pool.push(div);
      }
      used++;
      div.hidden = false;
      div.style.top = `${box.scrollTop + r * ROW - top}px`;
      div.dataset.event = String(i);
      div.id = `row-${r}`;
      div.className = `row ${S[E.kind[i]]}${i === selected ? ' sel' : ''}`;
      // Only the rows in sight exist: each says where it stands among all of them.
      div.setAttribute('aria-posinset', String(r + 1));
      div.setAttribute('aria-setsize', String(visible.length));
      div.setAttribute('aria-selected', i === selected ? 'true' : 'false');
      div.textContent = rowText(i);
    }
    for (let k = used; k < pool.length; k++) {
      pool[k].hidden = true;
      pool[k].removeAttribute('id');
      pool[k].removeAttribute('aria-selected');
    }
    const sel = selected >= 0 ? rowOf[selected] : -1;
    if (sel >= first && sel < last) box.setAttribute('aria-activedescendant', `row-${sel}`);
    else box.removeAttribute('aria-activedescendant');
  }
  box.addEventListener('scroll', renderRows);
  box.addEventListener('click', (ev) => {
    const row = ev.target.closest('.row');
    if (row !== null) select(Number(row.dataset.event), { from: 'list' });
  });
  box.addEventListener('keydown', (ev) => {
    if (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp') return;
    ev.preventDefault();
    const r = selected >= 0 ? rowOf[selected] : -1;
    const next = ev.key === 'ArrowDown' ? r + 1 : r - 1;
    if (next >= 0 && next < visible.length) select(visible[next], {});
  });
  filter.addEventListener('input', applyFilter);
  kindFilter.addEventListener('change', applyFilter);
  hideData.addEventListener('change', applyFilter);

  function showDetails(i) {
    const parts = [];
    parts.push(
      `<p><b>Trace event ${i}</b> at ${fmtTime(E.t[i])}, CPU ${E.cpu[i]}, IRQL ${D.irqls[E.irql[i]] || E.irql[i]}, ${esc(S[E.actor[i]])} (${esc(S[E.kind[i]])})</p>`,
    );
    parts.push(`<p class="mono">${esc(E.text[i])}</p>`);
    for (const [ti, k] of slicesAt.get(i) || []) {
      const tr = D.tracks[ti];
      const to = tr.slices[k + 1];
      const end =
        to >= N
          ? 'still open when the run ended'
          : to === i
            ? 'a point in time'
            : `until <a href="#e${to}">event ${to}</a> at ${fmtTime(E.t[to])}: ${esc(E.text[to])}`;
      parts.push(
        `<p>On the track <b>${esc(S[tr.group])} / ${esc(S[tr.name])}</b>: ${esc(S[tr.slices[k + 3]])}, ${end}</p>`,
      );
    }
    details.innerHTML = parts.join('');
  }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  }
  listeners.push((i, opts) => {
    if (rowOf[i] < 0) {
      // Selected but filtered out: show everything again.
      filter.value = '';
      kindFilter.value = '';
      hideData.checked = false;
      applyFilter();
    }
    if (opts.from !== 'list') {
      const y = rowOf[i] * ROW;
      const top = box.scrollTop * scale;
      if (y < top || y + ROW > top + box.clientHeight)
        box.scrollTop = Math.max(0, (y - box.clientHeight / 2) / scale);
    }
    renderRows();
    showDetails(i);
  });

  // ---------------------------------------------------------------- timeline
  const canvas = document.getElementById('timeline');
  const tip = document.getElementById('tip');
  const axisSelect = document.getElementById('axis');
  const rangeLabel = document.getElementById('range');
  const GUTTER = 230;
  const LEVEL = 15;
  const HEAD = 18;
  const AXIS = 20;
  const palette = {
    callback: '#4a78c2',
    ddi: '#2a9d8f',
    wait: '#9aa3ad',
    irp: '#8e5cc4',
    device: '#8e5cc4',
    violation: '#c0262d',
    bugcheck: '#c0262d',
    dump: '#e07b00',
    eventlog: '#e07b00',
    ndis: '#6c7a89',
    action: '#333333',
    hw: '#9c6b3a',
    binding: '#5b8c5a',
    filter: '#7a9e3a',
  };
  const stateColors = {
    Running: '#3ba55c',
    Paused: '#e6b422',
    Halted: '#a0a7b0',
    Initializing: '#8fc3ea',
    Restarting: '#9ed8a7',
    Pausing: '#f2d27a',
    Shutdown: '#6b7280',
  };
  function colorOf(name, cat) {
    if (cat === 'state') return stateColors[name] || '#b8c4d6';
    return palette[cat] || '#7d8b99';
  }
  // Layout: each group's header, then its tracks, a row per nesting level.
  const rows = [];
  let y = AXIS;
  let lastGroup = -1;
  for (let ti = 0; ti < D.tracks.length; ti++) {
    const tr = D.tracks[ti];
    if (tr.group !== lastGroup) {
      rows.push({ kind: 'group', y, h: HEAD, label: S[tr.group] });
      y += HEAD;
      lastGroup = tr.group;
    }
    rows.push({ kind: 'track', ti, y, h: tr.levels * LEVEL + 4, label: S[tr.name] });
    y += tr.levels * LEVEL + 4;
  }
  const height = y + 4;
  let axis = 'order';
  let x0 = 0;
  let x1 = 1;
  function extent() {
    return axis === 'order' ? Math.max(1, N) : Math.max(1, D.endNs);
  }
  function fit() {
    x0 = 0;
    x1 = extent();
  }
  /** A slice's span on the x axis: by event, a point takes its event's column. */
  function span(tr, k) {
    const from = tr.slices[k];
    const to = tr.slices[k + 1];
    if (axis === 'order') return [from, Math.min(to, N - 1) + 1];
    return [E.t[from], to >= N ? D.endNs : E.t[to]];
  }
  function eventX(i) {
    return axis === 'order' ? i + 0.5 : E.t[i];
  }
  let width = 0;
  function draw() {
    const dpr = window.devicePixelRatio || 1;
    width = canvas.clientWidth;
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    canvas.style.height = `${height}px`;
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, width, height);
    g.font = '11px system-ui, sans-serif';
    g.textBaseline = 'middle';
    const plot = width - GUTTER;
    const scale = plot / (x1 - x0);
    const px = (x) => GUTTER + (x - x0) * scale;
    // Axis ticks.
    g.fillStyle = '#6b7280';
    g.strokeStyle = '#eceef1';
    const ticks = Math.max(2, Math.floor(plot / 140));
    for (let k = 0; k <= ticks; k++) {
      const x = x0 + ((x1 - x0) * k) / ticks;
      const X = px(x);
      g.beginPath();
      g.moveTo(X, AXIS - 4);
      g.lineTo(X, height);
      g.stroke();
      const label = axis === 'order' ? `#${Math.floor(x)}` : fmtTime(x);
      if (X + 60 < width) g.fillText(label, X + 2, 9);
    }
    for (const r of rows) {
      if (r.kind === 'group') {
        g.fillStyle = '#eef0f3';
        g.fillRect(0, r.y, width, r.h);
        g.fillStyle = '#1d2330';
        g.font = 'bold 11px system-ui, sans-serif';
        g.fillText(r.label, 4, r.y + r.h / 2);
        g.font = '11px system-ui, sans-serif';
        continue;
      }
      const tr = D.tracks[r.ti];
      g.fillStyle = '#1d2330';
      g.fillText(r.label, 12, r.y + LEVEL / 2 + 2);
      g.strokeStyle = '#eceef1';
      g.beginPath();
      g.moveTo(0, r.y + r.h);
      g.lineTo(width, r.y + r.h);
      g.stroke();
      g.save();
      g.beginPath();
      g.rect(GUTTER, r.y, plot, r.h);
      g.clip();
      // Slices that fall on the same pixel of the same level are drawn once.
      const lastX = new Float64Array(tr.levels).fill(-1);
      for (let k = 0; k < tr.slices.length; k += 5) {
        const [a, b] = span(tr, k);
        if (b < x0 || a > x1) continue;
        const level = tr.slices[k + 2];
        const X = px(a);
        const W = Math.max(2, (b - a) * scale);
        if (W <= 2 && Math.abs(X - lastX[level]) < 1) continue;
        lastX[level] = X;
        const name = S[tr.slices[k + 3]];
        const cat = S[tr.slices[k + 4]];
        g.fillStyle = colorOf(name, cat);
        const Y = r.y + 2 + level * LEVEL;
        g.fillRect(X, Y, W, LEVEL - 2);
        if (W > 40) {
          g.fillStyle = cat === 'state' ? '#1d2330' : '#ffffff';
          g.save();
          g.beginPath();
          g.rect(X, Y, W, LEVEL - 2);
          g.clip();
          g.fillText(name, Math.max(X, GUTTER) + 3, Y + (LEVEL - 2) / 2);
          g.restore();
        }
      }
      g.restore();
    }
    // Violations and bug checks: a red line through every track.
    g.strokeStyle = '#c0262d';
    for (let i = 0; i < N; i++) {
      const k = S[E.kind[i]];
      if (k !== 'violation' && k !== 'bugcheck') continue;
      const X = px(eventX(i));
      if (X < GUTTER || X > width) continue;
      g.beginPath();
      g.moveTo(X, AXIS);
      g.lineTo(X, height);
      g.stroke();
    }
    if (selected >= 0) {
      const X = px(eventX(selected));
      if (X >= GUTTER && X <= width) {
        g.strokeStyle = '#1d2330';
        g.setLineDash([4, 3]);
        g.beginPath();
        g.moveTo(X, AXIS - 4);
        g.lineTo(X, height);
        g.stroke();
        g.setLineDash([]);
      }
    }
    g.fillStyle = '#ffffff';
    rangeLabel.textContent =
      axis === 'order'
        ? `trace events ${Math.floor(x0)}–${Math.ceil(x1) - 1} of ${N}`
        : `${fmtTime(x0)} – ${fmtTime(x1)}`;
  }
  /** The slice under a point of the canvas, or null. */
  function hit(cx, cy) {
    if (cx < GUTTER) return null;
    const scale = (width - GUTTER) / (x1 - x0);
    for (const r of rows) {
      if (r.kind !== 'track' || cy < r.y || cy >= r.y + r.h) continue;
      const tr = D.tracks[r.ti];
      const level = Math.floor((cy - r.y - 2) / LEVEL);
      const x = x0 + (cx - GUTTER) / scale;
      const slop = 3 / scale;
      let best = null;
      let bestD = Infinity;
      for (let k = 0; k < tr.slices.length; k += 5) {
        if (tr.slices[k + 2] !== level) continue;
        const [a, b] = span(tr, k);
        if (x < a - slop || x > b + slop) continue;
        const d = x < a ? a - x : x > b ? x - b : 0;
        if (d < bestD || (d === bestD && best !== null && b - a < best.b - best.a)) {
          best = { tr, k, a, b };
          bestD = d;
        }
      }
      return best;
    }
    return null;
  }
  function zoom(factor, cx) {
    const plot = width - GUTTER;
    const at = x0 + ((cx - GUTTER) / plot) * (x1 - x0);
    const min = axis === 'order' ? 8 : 1000;
    const span1 = Math.min(extent(), Math.max(min, (x1 - x0) * factor));
    x0 = at - ((at - x0) / (x1 - x0)) * span1;
    x1 = x0 + span1;
    clampView();
    draw();
  }
  function clampView() {
    const span1 = x1 - x0;
    if (x0 < 0) x0 = 0;
    if (x0 + span1 > extent()) x0 = Math.max(0, extent() - span1);
    x1 = x0 + span1;
  }
  let drag = null;
  canvas.addEventListener('mousedown', (ev) => {
    drag = { x: ev.offsetX, y: ev.offsetY, x0, x1, moved: false };
    canvas.style.cursor = 'grabbing';
  });
  window.addEventListener('mouseup', (ev) => {
    if (drag === null) return;
    const d = drag;
    drag = null;
    canvas.style.cursor = '';
    if (d.moved || ev.target !== canvas) return;
    const s = hit(ev.offsetX, ev.offsetY);
    if (s !== null) select(s.tr.slices[s.k], { from: 'timeline' });
  });
  canvas.addEventListener('mousemove', (ev) => {
    if (drag !== null) {
      const dx = ev.offsetX - drag.x;
      if (Math.abs(dx) > 3) drag.moved = true;
      if (!drag.moved) return;
      const per = (drag.x1 - drag.x0) / (width - GUTTER);
      x0 = drag.x0 - dx * per;
      x1 = drag.x1 - dx * per;
      clampView();
      draw();
      return;
    }
    const s = hit(ev.offsetX, ev.offsetY);
    if (s === null) {
      tip.hidden = true;
      return;
    }
    const from = s.tr.slices[s.k];
    const to = s.tr.slices[s.k + 1];
    const when = to >= N || to === from ? fmtTime(E.t[from]) : `${fmtTime(E.t[from])} – ${fmtTime(E.t[to])}`;
    tip.textContent = `${S[s.tr.slices[s.k + 3]]}\n${when}`;
    tip.hidden = false;
    tip.style.left = `${Math.min(ev.offsetX + 12, width - 200)}px`;
    tip.style.top = `${ev.offsetY + 14}px`;
  });
  canvas.addEventListener('mouseleave', () => {
    tip.hidden = true;
  });
  canvas.addEventListener(
    'wheel',
    (ev) => {
      ev.preventDefault();
      zoom(ev.deltaY > 0 ? 1.25 : 0.8, ev.offsetX);
    },
    { passive: false },
  );
  document
    .getElementById('zoom-in')
    .addEventListener('click', () => zoom(0.5, GUTTER + (width - GUTTER) / 2));
  document.getElementById('zoom-out').addEventListener('click', () => zoom(2, GUTTER + (width - GUTTER) / 2));
  document.getElementById('zoom-fit').addEventListener('click', () => {
    fit();
    draw();
  });
  axisSelect.addEventListener('change', () => {
    axis = axisSelect.value;
    fit();
    draw();
  });
  listeners.push((i, opts) => {
    if (opts.from !== 'timeline') {
      // Bring the event into view, keeping the zoom.
      const x = eventX(i);
      if (x < x0 || x > x1) {
        const half = (x1 - x0) / 2;
        x0 = x - half;
        x1 = x + half;
        clampView();
      }
    }
    draw();
  });
  window.addEventListener('resize', draw);

  // ---------------------------------------------------------------- links
  /** Selects event `i` and brings the event list into view. */
  function showEvent(i) {
    select(i, { hash: false });
    document.getElementById('events-section').scrollIntoView();
  }
  function fromHash() {
    const m = /^#e(\d+)$/.exec(location.hash);
    if (m !== null) showEvent(Number(m[1]));
  }
  window.addEventListener('hashchange', fromHash);
  // A link to an event (the bug check's, the rules broken, the details panel's) shows it
  // itself: left to the browser, a link to the event the address already names would
  // change no hash and do nothing.
  document.addEventListener('click', (ev) => {
    if (ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return;
    const a = ev.target instanceof Element ? ev.target.closest('a[href^="#e"]') : null;
    const m = a === null ? null : /^#e(\d+)$/.exec(a.getAttribute('href'));
    if (m === null) return;
    ev.preventDefault();
    if (location.hash !== m[0]) history.pushState(null, '', m[0]);
    showEvent(Number(m[1]));
  });
  fit();
  applyFilter();
  draw();
  fromHash();
  // Last: a page whose script failed part way never says it is ready.
  document.body.dataset.ready = 'true';
})();

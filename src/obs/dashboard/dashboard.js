// SPDX-License-Identifier: MIT
//
// The curfew dashboard: polls the admin API every POLL_MS with the admin key
// kept in sessionStorage, draws the counters of GET /v1/stats as rates on
// small canvas charts, and lists sessions with a Revoke button. The Timeouts
// panel reads the same counters as /metrics' curfew_relogins_total,
// curfew_timeouts_without_return_total and curfew_idle_gap_seconds (the
// "timeouts" object of /v1/stats): nothing is counted here.
//
// Rules this file keeps: the key is never put in the URL, localStorage or a
// cookie; every value from the server reaches the page through textContent
// or a data attribute (never innerHTML); no inline script or style, so the
// page runs under the strict Content-Security-Policy the server sends.
'use strict';

(function () {
  const KEY = 'curfew.adminKey';
  const POLL_MS = 2000;
  const HISTORY = 150; // readings kept: five minutes at POLL_MS
  const MIN_INTERVAL = 1; // seconds: a reading sooner than this after the last adds no point
  const MIN_WINDOW = 60; // seconds: the narrowest time axis
  const SESSIONS_SHOWN = 15;
  const RATE_WINDOW = 60; // seconds: re-logins per hour are taken over the last minute
  const COLORS = ['#2f6fde', '#e8830c', '#c4302b', '#1f8a4c', '#8e44ad', '#16a2b8', '#7f8c8d'];

  const $ = (id) => document.getElementById(id);

  class AuthError extends Error {}

  // ---- state ---------------------------------------------------------------

  let pollTimer = null;
  let clockTimer = null;
  let inFlight = false;
  let prev = null; // the previous /v1/stats reading
  let skew = 0; // server clock minus ours, seconds
  let searchSub = null; // the subject shown in the search panel
  let points = []; // [{t, v: {seriesKey: number|null}}]
  let readings = []; // [{t, tot}]: timeout totals over the last RATE_WINDOW

  // Each chart names the series it draws; `series` may be a function of the
  // latest reading (the end reasons come from the server).
  const CHARTS = [
    { id: 'chart-active', fmt: fmtCount, min: 5, series: () => [{ key: 'active', label: 'active' }] },
    {
      id: 'chart-checks', fmt: fmtRate, series: () => [
        { key: 'checks.allow', label: 'allow', color: '#1f8a4c' },
        { key: 'checks.deny', label: 'deny', color: '#e8830c' },
        { key: 'checks.error', label: 'error', color: '#c4302b' }],
    },
    {
      id: 'chart-ends', fmt: fmtRate,
      series: (s) => Object.keys((s && s.sessions_ended) || {}).map((r) => ({ key: 'ended.' + r, label: r })),
    },
    {
      id: 'chart-refresh', fmt: fmtRate, series: () => [
        { key: 'refresh', label: 'refreshes' },
        { key: 'reuse', label: 'reuse detected', color: '#c4302b' }],
    },
    { id: 'chart-latency', fmt: fmtSeconds, series: () => [{ key: 'latency.p99', label: 'p99' }] },
    {
      id: 'chart-propagation', fmt: fmtSeconds, empty: 'no data (single node)',
      series: () => [{ key: 'propagation.p99', label: 'p99' }],
    },
    {
      id: 'chart-relogins', fmt: fmtPerHour, series: () => [
        { key: 'relogin.idle_timeout', label: 'after idle timeout', color: '#e8830c' },
        { key: 'relogin.absolute_timeout', label: 'after absolute timeout', color: '#c4302b' },
        { key: 'gone', label: 'timeouts without return', color: '#7f8c8d' }],
    },
  ];

  // ---- formatting ------------------------------------------------------------

  function fmtCount(v) {
    if (v == null) return '–';
    return Number.isInteger(v) ? String(v) : v.toFixed(1);
  }

  function fmtRate(v) {
    if (v == null) return '–';
    return (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + '/s';
  }

  function fmtPerHour(v) {
    if (v == null) return '–';
    return (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + '/h';
  }

  // A bucket bound or a timeout, short: 30m, 1h, 1d, 1.5s.
  function fmtSpan(sec) {
    for (const [unit, n] of [['d', 86400], ['h', 3600], ['m', 60]]) {
      if (sec >= n && sec % n === 0) return sec / n + unit;
    }
    return +sec.toFixed(3) + 's';
  }

  function fmtSeconds(v) {
    if (v == null) return '–';
    if (v >= 1) return v.toFixed(2) + ' s';
    if (v >= 0.001) return (v * 1e3).toFixed(v >= 0.01 ? 0 : 1) + ' ms';
    return (v * 1e6).toFixed(0) + ' µs';
  }

  function fmtDuration(sec) {
    if (sec <= 0) return 'expired';
    const d = Math.floor(sec / 86400), h = Math.floor(sec / 3600) % 24;
    const m = Math.floor(sec / 60) % 60, s = Math.floor(sec) % 60;
    if (d > 0) return `${d}d ${h}h`;
    if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
    if (m > 0) return `${m}m ${String(s).padStart(2, '0')}s`;
    return `${s}s`;
  }

  function fmtAgo(sec) { return sec < 1 ? 'just now' : fmtDuration(sec) + ' ago'; }

  function serverNow() { return Date.now() / 1000 + skew; }

  // ---- the admin API ---------------------------------------------------------

  async function api(method, path, body) {
    const key = sessionStorage.getItem(KEY);
    if (!key) {
      showLogin('Enter the admin key.');
      throw new AuthError();
    }
    const init = { method, headers: { Authorization: 'Bearer ' + key }, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const r = await fetch(path, init);
    if (r.status === 401) {
      sessionStorage.removeItem(KEY);
      showLogin('The server refused this admin key (401 unauthorized). Enter the admin key again.');
      throw new AuthError();
    }
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) {
      const why = (data && (data.error_description || data.error)) || r.statusText;
      throw new Error(`${method} ${path}: ${r.status} ${why}`);
    }
    return data;
  }

  // ---- login -----------------------------------------------------------------

  function stop() {
    clearInterval(pollTimer);
    clearInterval(clockTimer);
    pollTimer = clockTimer = null;
  }

  function showLogin(message) {
    stop();
    $('main').hidden = true;
    $('forget').hidden = true;
    $('login').hidden = false;
    $('login-message').textContent = message || '';
    setStatus('not connected', '');
    $('key').focus();
  }

  function start() {
    stop();
    prev = null;
    points = [];
    readings = [];
    $('login').hidden = true;
    $('main').hidden = false;
    $('forget').hidden = false;
    $('login-message').textContent = '';
    poll();
    pollTimer = setInterval(poll, POLL_MS);
    clockTimer = setInterval(updateCountdowns, 1000);
  }

  function setStatus(text, cls) {
    const el = $('status');
    el.textContent = text;
    el.className = 'status ' + (cls || '');
  }

  // ---- polling ---------------------------------------------------------------

  async function poll() {
    if (inFlight) return;
    inFlight = true;
    try {
      const stats = await api('GET', '/v1/stats');
      skew = stats.time - Date.now() / 1000;
      record(stats);
      drawCharts(stats);
      const list = await api('GET', '/v1/sessions?limit=' + SESSIONS_SHOWN);
      renderSessions($('sessions').tBodies[0], list.sessions, 'No sessions yet.');
      if (searchSub !== null) await search(searchSub, false);
      setStatus(`live · ${stats.sessions_active} active · updated ${new Date().toLocaleTimeString()}`, 'live');
    } catch (e) {
      if (!(e instanceof AuthError)) setStatus('error: ' + e.message, 'error');
    } finally {
      inFlight = false;
    }
  }

  // The p-quantile of a histogram's observations between two readings, the
  // way Prometheus' histogram_quantile does it: find the bucket holding the
  // rank and interpolate linearly inside it. null when nothing was observed.
  function quantile(q, now, before) {
    if (!now || !Array.isArray(now.counts)) return null;
    const counts = now.counts.map((c, i) => c - ((before && before.counts && before.counts[i]) || 0));
    const total = counts.reduce((a, b) => a + b, 0);
    if (total <= 0) return null;
    const rank = q * total;
    let cum = 0;
    for (let i = 0; i < counts.length; i++) {
      cum += counts[i];
      if (cum >= rank && counts[i] > 0) {
        if (i >= now.bounds.length) return now.bounds[now.bounds.length - 1];
        const lo = i === 0 ? 0 : now.bounds[i - 1], hi = now.bounds[i];
        return lo + (hi - lo) * ((rank - (cum - counts[i])) / counts[i]);
      }
    }
    return now.bounds[now.bounds.length - 1];
  }

  function sum(o) { return Object.values(o || {}).reduce((a, b) => a + b, 0); }

  // Turn a reading into one point per series: gauges as they are, counters as
  // rates over the interval since the previous reading. A reading taken right
  // after another (the poll that follows a revoke) adds no point: over a
  // fraction of a second a rate is mostly noise.
  function record(s) {
    if (prev && s.time - prev.time < MIN_INTERVAL) {
      points[points.length - 1].v.active = s.sessions_active; // a gauge is news at once
      return;
    }
    const v = { active: s.sessions_active };
    if (prev && s.time > prev.time) {
      const dt = s.time - prev.time;
      const rate = (a, b) => Math.max(0, (a - (b || 0)) / dt);
      for (const r of ['allow', 'deny', 'error']) v['checks.' + r] = rate(s.checks[r], prev.checks[r]);
      for (const r of Object.keys(s.sessions_ended)) v['ended.' + r] = rate(s.sessions_ended[r], prev.sessions_ended[r]);
      v.refresh = rate(sum(s.refresh), sum(prev.refresh));
      v.reuse = rate(s.refresh_reuse_detected, prev.refresh_reuse_detected);
      v['latency.p99'] = quantile(0.99, s.check_duration_seconds, prev.check_duration_seconds);
      v['propagation.p99'] = quantile(0.99, s.revocation_propagation_seconds, prev.revocation_propagation_seconds);
    }
    recordTimeouts(s, v);
    points.push({ t: s.time, v });
    if (points.length > HISTORY) points.shift();
    prev = s;
  }

  // Re-logins and timeouts without return since start, summed over the client slots.
  function timeoutTotals(t) {
    const tot = { idle_timeout: 0, absolute_timeout: 0, gone: 0 };
    for (const c of (t && t.clients) || []) {
      tot.idle_timeout += c.relogins.idle_timeout;
      tot.absolute_timeout += c.relogins.absolute_timeout;
      tot.gone += c.timeouts_without_return.idle_timeout + c.timeouts_without_return.absolute_timeout;
    }
    return tot;
  }

  // Per hour over the last RATE_WINDOW: a re-login every few minutes would be a
  // spike and a flat line over single POLL_MS intervals.
  function recordTimeouts(s, v) {
    if (!s.timeouts) return;
    readings.push({ t: s.time, tot: timeoutTotals(s.timeouts) });
    while (readings.length > 2 && readings[1].t <= s.time - RATE_WINDOW) readings.shift();
    const first = readings[0], dt = s.time - first.t;
    if (dt <= 0) return;
    const last = readings[readings.length - 1].tot;
    for (const k of ['idle_timeout', 'absolute_timeout']) {
      v['relogin.' + k] = Math.max(0, (last[k] - first.tot[k]) * 3600 / dt);
    }
    v.gone = Math.max(0, (last.gone - first.tot.gone) * 3600 / dt);
  }

  // ---- charts ----------------------------------------------------------------

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function drawCharts(stats) {
    for (const c of CHARTS) {
      const series = c.series(stats).map((s, i) => Object.assign({ color: COLORS[i % COLORS.length] }, s));
      drawChart(document.getElementById(c.id), series, c);
    }
    drawGaps($('chart-gaps'), stats && stats.timeouts);
    showTimeoutTotals(stats && stats.timeouts);
  }

  function canvas2d(canvas) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    return { g, w, h };
  }

  // The idle timeouts to mark on the gap chart: the global one, then any client's own.
  function gapMarkers(t) {
    const marks = [{ sec: t.idle_timeout, label: 'idle timeout ' + fmtSpan(t.idle_timeout), color: '#c4302b' }];
    for (const c of t.clients) {
      if (c.idle_timeout > 0 && !marks.some((m) => m.sec === c.idle_timeout)) {
        marks.push({ sec: c.idle_timeout, label: c.client + ' ' + fmtSpan(c.idle_timeout), color: '#8e44ad' });
      }
    }
    return marks.filter((m) => m.sec > 0);
  }

  // The idle-gap histogram (all clients), one bar per bucket, with the current idle
  // timeouts marked: each is a bucket bound, so its line falls between two bars.
  function drawGaps(fig, t) {
    const { g, w, h } = canvas2d(fig.querySelector('canvas'));
    const legend = fig.querySelector('.legend');
    if (!t || !t.clients || t.clients.length === 0) {
      fig.dataset.state = 'waiting';
      legend.replaceChildren(document.createTextNode('not measured by this server'));
      return;
    }
    const bounds = t.clients[0].idle_gap_seconds.bounds;
    const counts = bounds.map(() => 0).concat([0]);
    for (const c of t.clients) c.idle_gap_seconds.counts.forEach((n, i) => { counts[i] += n; });
    const total = counts.reduce((a, b) => a + b, 0);
    const marks = gapMarkers(t);
    let shown = 0;
    counts.forEach((n, i) => { if (n > 0) shown = Math.max(shown, i); });
    for (const m of marks) {
      const j = bounds.indexOf(m.sec);
      m.at = j + 1; // the line is drawn before bar m.at
      if (j >= 0) shown = Math.max(shown, Math.min(j + 1, counts.length - 1));
    }
    const left = 40, right = 8, top = 16, bottom = 18;
    const pw = w - left - right, ph = h - top - bottom, bw = pw / (shown + 1);
    const ymax = niceMax(Math.max(...counts.slice(0, shown + 1), 5));
    const y = (v) => top + ph * (1 - v / ymax);
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = '#667085';
    g.strokeStyle = '#e3e6eb';
    g.lineWidth = 1;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (let i = 0; i <= 5; i++) { // niceMax(>= 4) / 5: whole counts
      const v = ymax * i / 5, yy = Math.round(y(v)) + 0.5;
      g.beginPath(); g.moveTo(left, yy); g.lineTo(w - right, yy); g.stroke();
      g.fillText(fmtCount(v), left - 6, yy);
    }
    g.textAlign = 'center';
    g.textBaseline = 'alphabetic';
    const every = bw < 26 ? 2 : 1;
    for (let i = 0; i <= shown; i++) {
      const x0 = left + i * bw;
      g.fillStyle = '#2f6fde';
      if (counts[i] > 0) g.fillRect(x0 + 2, y(counts[i]), Math.max(1, bw - 4), top + ph - y(counts[i]));
      g.fillStyle = '#667085';
      if (i % every === 0 || i === shown) {
        g.fillText(i < bounds.length ? '≤' + fmtSpan(bounds[i]) : '>' + fmtSpan(bounds[bounds.length - 1]),
          x0 + bw / 2, h - 4);
      }
    }
    g.setLineDash([4, 3]);
    g.lineWidth = 1.5;
    for (const m of marks) {
      if (m.at <= 0) continue;
      const xx = Math.round(left + m.at * bw) + 0.5;
      g.strokeStyle = m.color;
      g.beginPath(); g.moveTo(xx, top - 4); g.lineTo(xx, top + ph); g.stroke();
      g.fillStyle = m.color;
      g.textAlign = xx > left + pw / 2 ? 'right' : 'left';
      g.fillText(m.label, xx + (g.textAlign === 'left' ? 4 : -4), top + 6);
    }
    g.setLineDash([]);
    if (total === 0) {
      g.fillStyle = '#667085';
      g.textAlign = 'center';
      g.font = '13px system-ui, sans-serif';
      g.fillText('no silence of a second or more yet', left + pw / 2, top + ph / 2);
    }
    const canvas = fig.querySelector('canvas');
    canvas.dataset.total = String(total);
    canvas.dataset.counts = counts.join(',');
    fig.dataset.state = total > 0 ? 'data' : 'waiting';
    fig.dataset.idleTimeout = String(t.idle_timeout);
    fig.dataset.markerBucket = String(marks.length ? marks[0].at : -1);
    const hist = { bounds, counts };
    const items = [`${total} gap${total === 1 ? '' : 's'} of 1 s or more`];
    if (total > 0) items.push(`median ${fmtSeconds(quantile(0.5, hist, null))}`, `p95 ${fmtSeconds(quantile(0.95, hist, null))}`);
    const parts = [document.createTextNode(items.join(' · '))];
    for (const m of marks) {
      const item = document.createElement('span');
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.style.background = m.color;
      item.append(sw, document.createTextNode(m.label));
      parts.push(item);
    }
    legend.replaceChildren(...parts);
  }

  function showTimeoutTotals(t) {
    const el = $('timeouts-totals');
    if (!t) { el.textContent = ''; return; }
    const tot = timeoutTotals(t);
    const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
    el.dataset.reloginsIdle = String(tot.idle_timeout);
    el.dataset.reloginsAbsolute = String(tot.absolute_timeout);
    el.dataset.withoutReturn = String(tot.gone);
    el.textContent = `Since start: ${plural(tot.idle_timeout, 're-login', 're-logins')} after an idle timeout, `
      + `${tot.absolute_timeout} after an absolute timeout (a new session of the same subject within `
      + `${fmtSpan(t.relogin_window)}), ${plural(tot.gone, 'timeout', 'timeouts')} without return. `
      + `Idle timeout ${fmtSpan(t.idle_timeout)}, absolute ${fmtSpan(t.absolute_timeout)}.`;
  }

  function drawChart(fig, series, spec) {
    const canvas = fig.querySelector('canvas');
    const { g, w, h } = canvas2d(canvas);

    let max = 0, drawn = 0;
    for (const p of points) for (const s of series) if (p.v[s.key] != null) { max = Math.max(max, p.v[s.key]); drawn++; }
    const left = 58, right = 8, top = 6, bottom = 18;
    const pw = w - left - right, ph = h - top - bottom;
    // The time axis spans the readings kept, at least MIN_WINDOW.
    const t1 = points.length ? points[points.length - 1].t : 0;
    const t0 = t1 - Math.max(MIN_WINDOW, points.length ? t1 - points[0].t : 0);
    const ymax = niceMax(Math.max(max, spec.min || 0));
    const x = (t) => left + pw * (t - t0) / (t1 - t0 || 1);
    const y = (v) => top + ph * (1 - v / ymax);

    // Grid and labels.
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = '#667085';
    g.strokeStyle = '#e3e6eb';
    g.lineWidth = 1;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (let i = 0; i <= 5; i++) {
      const v = ymax * i / 5, yy = Math.round(y(v)) + 0.5;
      g.beginPath(); g.moveTo(left, yy); g.lineTo(w - right, yy); g.stroke();
      g.fillText(spec.fmt(v), left - 6, yy);
    }
    g.textBaseline = 'alphabetic';
    g.textAlign = 'left';
    g.fillText('−' + fmtDuration(t1 - t0), left, h - 4);
    g.textAlign = 'right';
    g.fillText('now', w - right, h - 4);

    // Lines, broken where a reading had no value.
    g.lineWidth = 1.8;
    g.lineJoin = 'round';
    for (const s of series) {
      g.strokeStyle = s.color;
      g.beginPath();
      let pen = false;
      for (const p of points) {
        const v = p.v[s.key];
        if (v == null) { pen = false; continue; }
        if (pen) g.lineTo(x(p.t), y(v)); else g.moveTo(x(p.t), y(v));
        pen = true;
      }
      g.stroke();
    }
    if (drawn === 0) {
      g.fillStyle = '#667085';
      g.textAlign = 'center';
      g.font = '13px system-ui, sans-serif';
      g.fillText(points.length > 1 && spec.empty ? spec.empty : 'waiting for data…', left + pw / 2, top + ph / 2);
    }
    canvas.dataset.points = String(drawn);
    fig.dataset.state = drawn > 0 ? 'data' : (points.length > 1 && spec.empty ? 'empty' : 'waiting');

    // The legend, with each series' latest value.
    const legend = fig.querySelector('.legend');
    legend.replaceChildren();
    const last = points.length ? points[points.length - 1].v : {};
    for (const s of series) {
      const item = document.createElement('span');
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.style.background = s.color;
      const val = document.createElement('span');
      val.className = 'value';
      val.textContent = spec.fmt(last[s.key]);
      item.append(sw, document.createTextNode(s.label), val);
      legend.append(item);
    }
    if (drawn === 0 && points.length > 1 && spec.empty) {
      legend.replaceChildren(document.createTextNode(spec.empty));
    }
  }

  // ---- session tables --------------------------------------------------------

  function cell(tr, text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.append(td);
    return td;
  }

  function renderSessions(tbody, sessions, emptyText) {
    const rows = [];
    for (const s of sessions) {
      const tr = document.createElement('tr');
      tr.dataset.sessionId = s.session_id;
      tr.dataset.state = s.state;
      if (s.state !== 'active') tr.className = 'ended';
      cell(tr, s.sub);
      cell(tr, s.client_id || '—');
      const created = cell(tr, fmtAgo(serverNow() - s.created_at), 'countup');
      created.dataset.since = String(s.created_at);
      created.title = new Date(s.created_at * 1000).toLocaleString();
      for (const at of [s.idle_expires_at, s.absolute_expires_at]) {
        const td = cell(tr, '', 'countdown');
        if (s.state === 'active') td.dataset.deadline = String(at);
        else td.textContent = '—';
      }
      cell(tr, s.state === 'active' ? 'active' : 'ended: ' + (s.end_reason || 'unknown'),
        s.state === 'active' ? 'state-active' : 'state-ended');
      const td = document.createElement('td');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'danger revoke';
      b.textContent = 'Revoke';
      b.disabled = s.state !== 'active';
      b.addEventListener('click', () => revokeSession(s.session_id, s.sub));
      td.append(b);
      tr.append(td);
      rows.push(tr);
    }
    if (rows.length === 0) {
      const tr = document.createElement('tr');
      const td = cell(tr, emptyText, 'empty');
      td.colSpan = 7;
      rows.push(tr);
    }
    tbody.replaceChildren(...rows);
    updateCountdowns();
  }

  // Between polls the remaining times count down here, from the deadlines.
  function updateCountdowns() {
    const now = serverNow();
    for (const td of document.querySelectorAll('td.countdown[data-deadline]')) {
      td.textContent = fmtDuration(Number(td.dataset.deadline) - now);
    }
    for (const td of document.querySelectorAll('td.countup[data-since]')) {
      td.textContent = fmtAgo(now - Number(td.dataset.since));
    }
  }

  async function revokeSession(id, sub) {
    if (!window.confirm(`Revoke this session of ${sub}? Its tokens stop working at once.`)) return;
    const msg = $('sessions-message');
    try {
      await api('DELETE', '/v1/sessions/' + encodeURIComponent(id));
      msg.className = 'message ok';
      msg.textContent = `Revoked a session of ${sub}.`;
    } catch (e) {
      if (e instanceof AuthError) return;
      msg.className = 'message';
      msg.textContent = 'Revoke failed: ' + e.message;
    }
    await poll();
  }

  // ---- search by subject -----------------------------------------------------

  async function search(sub, announce) {
    const msg = $('search-message');
    const list = await api('GET', '/v1/sessions?limit=100&sub=' + encodeURIComponent(sub));
    if (sub !== searchSub) return; // a newer search replaced this one
    const active = list.sessions.filter((s) => s.state === 'active').length;
    renderSessions($('search-results').tBodies[0], list.sessions, `No sessions of ${sub}.`);
    $('revoke-all').disabled = active === 0;
    if (announce) {
      msg.className = 'message ok';
      msg.textContent = `${list.total} session${list.total === 1 ? '' : 's'} of ${sub}, ${active} active.`;
    }
  }

  async function onSearch(ev) {
    ev.preventDefault();
    const sub = $('search-sub').value.trim();
    const msg = $('search-message');
    if (!sub) return;
    searchSub = sub;
    try {
      await search(sub, true);
    } catch (e) {
      if (e instanceof AuthError) return;
      msg.className = 'message';
      msg.textContent = 'Search failed: ' + e.message;
    }
  }

  async function onRevokeAll() {
    const sub = searchSub;
    const msg = $('search-message');
    if (sub === null) return;
    if (!window.confirm(`Revoke every session of ${sub}? All of their tokens stop working at once.`)) return;
    try {
      const r = await api('POST', '/v1/revocations', { sub });
      msg.className = 'message ok';
      msg.textContent = `Revoked all sessions of ${sub}: ${r.sessions_ended} ended.`;
      await search(sub, false);
    } catch (e) {
      if (e instanceof AuthError) return;
      msg.className = 'message';
      msg.textContent = 'Revoke all failed: ' + e.message;
    }
    await poll();
  }

  // ---- wiring ----------------------------------------------------------------

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const key = $('key').value.trim();
      $('key').value = '';
      if (!key) return;
      sessionStorage.setItem(KEY, key);
      start();
    });
    $('forget').addEventListener('click', () => {
      sessionStorage.removeItem(KEY);
      showLogin('The key was forgotten.');
    });
    $('search-form').addEventListener('submit', onSearch);
    $('revoke-all').addEventListener('click', onRevokeAll);
    window.addEventListener('resize', () => { if (prev) drawCharts(prev); });
    if (sessionStorage.getItem(KEY)) start();
    else showLogin('');
  });
})();

// SPDX-License-Identifier: MIT
//
// The curfew dashboard: polls the admin API every POLL_MS with the admin key
// kept in sessionStorage, draws the counters of GET /v1/stats as rates on
// small canvas charts, and lists sessions with a Revoke button.
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
    points.push({ t: s.time, v });
    if (points.length > HISTORY) points.shift();
    prev = s;
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
  }

  function drawChart(fig, series, spec) {
    const canvas = fig.querySelector('canvas');
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);

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

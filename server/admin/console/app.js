// Warbler status console: logs in with TOTP, then shows status, accounts and the audit log
// through the REST API. Data is put in the page as text only (never as HTML).
'use strict';

const state = { token: null, lastRouted: null, lastAt: 0, auditBefore: null, timer: null };
const $ = (id) => document.getElementById(id);

function show(text, info) {
  const m = $('msg');
  m.textContent = text;
  m.className = info ? 'info' : '';
  m.hidden = !text;
}

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (state.token) opts.headers.Authorization = 'Bearer ' + state.token;
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  let doc = {};
  try { doc = await r.json(); } catch (e) { doc = { message: 'bad reply' }; }
  if (r.status === 401 && state.token) logout('Your session expired: log in again.');
  if (!r.ok) throw Object.assign(new Error(doc.message || ('HTTP ' + r.status)), { status: r.status });
  return doc;
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text === null || text === undefined ? '' : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function duration(s) {
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? d + 'd ' : '') + h + 'h ' + m + 'm';
}

async function loadStatus() {
  try {
    const s = await api('GET', '/api/v1/status');
    const now = Date.now();
    $('st-uptime').textContent = duration(s.uptime);
    $('st-sessions').textContent = s.sessions;
    $('st-accounts').textContent = s.accounts === null ? '?' : s.accounts;
    if (state.lastRouted !== null && now > state.lastAt) {
      const rate = (s.counters.routed_stanzas - state.lastRouted) * 1000 / (now - state.lastAt);
      $('st-rate').textContent = rate.toFixed(1) + ' stanzas/s';
    } else {
      $('st-rate').textContent = s.counters.routed_stanzas + ' stanzas routed';
    }
    state.lastRouted = s.counters.routed_stanzas;
    state.lastAt = now;
    $('st-storage').textContent = s.storage.ok ? 'up (' + s.storage.latency_ms.toFixed(1) + ' ms)' : 'DOWN';
    $('st-storage').className = s.storage.ok ? 'ok' : 'bad';
    $('st-certs').textContent = s.certificates.map((c) => c.error ? c.domain + ': ' + c.error
      : c.domain + ': ' + c.days_left + ' days (' + c.not_after + ')').join('; ') || 'none';
  } catch (e) {
    $('st-uptime').textContent = e.status === 403 ? 'not allowed for your role' : e.message;
  }
}

async function loadAccounts() {
  const body = $('acct-table');
  try {
    const q = $('acct-search').value;
    const d = await api('GET', '/api/v1/accounts?limit=200' + (q ? '&search=' + encodeURIComponent(q) : ''));
    body.textContent = '';
    for (const a of d.items) {
      const tr = document.createElement('tr');
      tr.dataset.jid = a.jid;
      cell(tr, a.jid);
      cell(tr, a.created_at);
      cell(tr, a.disabled ? 'yes' : 'no', a.disabled ? 'bad' : '');
      const td = cell(tr, '');
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = a.disabled ? 'Enable' : 'Disable';
      b.addEventListener('click', () => toggleAccount(a));
      td.appendChild(b);
      body.appendChild(tr);
    }
  } catch (e) {
    body.textContent = '';
    cell(body.appendChild(document.createElement('tr')), e.status === 403 ? 'not allowed for your role' : e.message);
  }
}

async function toggleAccount(a) {
  try {
    await api('POST', '/api/v1/accounts/' + encodeURIComponent(a.jid) + (a.disabled ? '/enable' : '/disable'));
    show((a.disabled ? 'Enabled ' : 'Disabled ') + a.jid, true);
  } catch (e) { show(e.message); }
  loadAccounts();
}

async function createAccount(ev) {
  ev.preventDefault();
  try {
    const d = await api('POST', '/api/v1/accounts', { jid: $('acct-jid').value, password: $('acct-pass').value });
    show('Created ' + d.jid, true);
    $('acct-jid').value = '';
    $('acct-pass').value = '';
  } catch (e) { show('Cannot create the account: ' + e.message); }
  loadAccounts();
  loadAudit(false);
}

async function loadAudit(more) {
  const body = $('audit-table');
  const p = new URLSearchParams({ limit: '50' });
  for (const f of ['actor', 'action', 'target']) {
    const v = $('audit-' + f).value;
    if (v) p.set(f, v);
  }
  if (more && state.auditBefore) p.set('before', state.auditBefore);
  try {
    const d = await api('GET', '/api/v1/audit?' + p.toString());
    if (!more) body.textContent = '';
    for (const r of d.items) {
      const tr = document.createElement('tr');
      tr.dataset.action = r.action;
      tr.dataset.target = r.target || '';
      cell(tr, r.id);
      cell(tr, r.time);
      cell(tr, r.actor);
      cell(tr, r.action);
      cell(tr, r.target);
      cell(tr, r.ok ? 'ok' : 'failed' + (r.reason ? ': ' + r.reason : ''), r.ok ? 'ok' : 'bad');
      body.appendChild(tr);
    }
    state.auditBefore = d.next_before;
    $('audit-more').hidden = !d.next_before;
  } catch (e) {
    body.textContent = '';
    cell(body.appendChild(document.createElement('tr')), e.status === 403 ? 'not allowed for your role' : e.message);
  }
}

function enter(who, role) {
  $('login-view').hidden = true;
  $('app-view').hidden = false;
  $('logout').hidden = false;
  $('who').textContent = who + ' (' + role + ')';
  show('');
  loadStatus();
  loadAccounts();
  loadAudit(false);
  state.timer = setInterval(loadStatus, 5000);
}

function logout(why) {
  if (state.token) fetch('/api/v1/auth/logout', { method: 'POST', headers: { Authorization: 'Bearer ' + state.token } });
  state.token = null;
  clearInterval(state.timer);
  sessionStorage.removeItem('wb_token');
  $('login-view').hidden = false;
  $('app-view').hidden = true;
  $('logout').hidden = true;
  $('who').textContent = '';
  show(why || '', !why);
}

async function login(ev) {
  ev.preventDefault();
  const user = $('login-user').value;
  try {
    const d = await api('POST', '/api/v1/auth/login',
      { username: user, password: $('login-pass').value, totp: $('login-totp').value });
    state.token = d.token;
    sessionStorage.setItem('wb_token', JSON.stringify({ token: d.token, who: user, role: d.role }));
    $('login-pass').value = '';
    $('login-totp').value = '';
    enter(user, d.role);
  } catch (e) { show('Login failed: ' + e.message); }
}

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', () => logout(''));
  $('status-refresh').addEventListener('click', loadStatus);
  $('acct-search-form').addEventListener('submit', (ev) => { ev.preventDefault(); loadAccounts(); });
  $('acct-create-form').addEventListener('submit', createAccount);
  $('audit-form').addEventListener('submit', (ev) => { ev.preventDefault(); loadAudit(false); });
  $('audit-more').addEventListener('click', () => loadAudit(true));
  const saved = sessionStorage.getItem('wb_token');
  if (saved) {
    const s = JSON.parse(saved);
    state.token = s.token;
    enter(s.who, s.role);
  }
});

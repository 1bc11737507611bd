// The admin page: log in, read the program, edit exclusions and rates, save. No external
// assets; every call goes to loyaltyd's /admin/api with the session cookie (HttpOnly,
// SameSite=Strict) and, for changes, the X-CSRF-Token the server gave at login.
'use strict';

let csrf = '';
let seq = 0;

const $ = (id) => document.getElementById(id);

function status(text, isError) {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : '';
}

async function api(method, path, body) {
  const headers = { 'Accept': 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
  const res = await fetch('/admin/api/' + path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let doc = {};
  try { doc = await res.json(); } catch (e) { doc = {}; }
  if (!res.ok) {
    const err = doc.error || {};
    const e = new Error((err.field ? err.field + ': ' : '') + (err.message || res.statusText));
    e.status = res.status;
    throw e;
  }
  return doc;
}

function showLogin() {
  $('login-form').hidden = false;
  $('program-form').hidden = true;
  $('logout-btn').hidden = true;
  $('who').textContent = '';
}

function methodItem(name) {
  const li = document.createElement('li');
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.checked = true;
  box.dataset.method = name;
  box.id = 'method-' + name;
  const label = document.createElement('label');
  label.htmlFor = box.id;
  label.textContent = ' ' + name;
  label.style.display = 'inline';
  li.append(box, label);
  return li;
}

function mapRow(table, name, percent) {
  const tr = document.createElement('tr');
  const n = document.createElement('input');
  n.value = name;
  n.className = 'name';
  const p = document.createElement('input');
  p.value = percent;
  p.size = 6;
  p.className = 'percent';
  const del = document.createElement('button');
  del.type = 'button';
  del.textContent = 'Remove';
  del.addEventListener('click', () => tr.remove());
  for (const el of [n, p, del]) {
    const td = document.createElement('td');
    td.append(el);
    tr.append(td);
  }
  $(table).tBodies[0].append(tr);
}

function render(p) {
  csrf = p.csrf;
  seq = p.seq;
  $('seq').textContent = String(p.seq);
  $('version').textContent = p.version;
  $('who').textContent = p.user;
  $('methods').replaceChildren(...p.excluded_payment_methods.map(methodItem));
  $('earn-percent').value = p.earn_percent;
  for (const t of ['categories', 'sku_overrides', 'category_overrides']) {
    $(t).tBodies[0].replaceChildren();
    for (const [k, v] of Object.entries(p[t])) mapRow(t, k, v);
  }
  $('login-form').hidden = true;
  $('program-form').hidden = false;
  $('logout-btn').hidden = false;
}

function collectMap(table) {
  const out = {};
  for (const tr of $(table).tBodies[0].rows) {
    const name = tr.querySelector('.name').value.trim();
    if (name) out[name] = tr.querySelector('.percent').value.trim();
  }
  return out;
}

async function load() {
  try {
    render(await api('GET', 'program'));
  } catch (e) {
    if (e.status === 401) showLogin(); else status(e.message, true);
  }
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    await api('POST', 'login', { user: $('user').value, password: $('password').value });
    $('password').value = '';
    status('', false);
    await load();
  } catch (e) {
    status('Login failed: ' + e.message, true);
  }
});

$('logout-btn').addEventListener('click', async () => {
  try { await api('POST', 'logout', {}); } catch (e) { /* the session is gone either way */ }
  csrf = '';
  showLogin();
});

$('add-method').addEventListener('click', () => {
  const name = $('new-method').value.trim();
  if (!name) return;
  if (!document.querySelector('[data-method="' + CSS.escape(name) + '"]')) {
    $('methods').append(methodItem(name));
  }
  $('new-method').value = '';
});

for (const b of document.querySelectorAll('.add-row')) {
  b.addEventListener('click', () => mapRow(b.dataset.table, '', ''));
}

$('program-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const methods = [...document.querySelectorAll('#methods input[type=checkbox]')]
    .filter((b) => b.checked).map((b) => b.dataset.method);
  const body = {
    expected_seq: seq,
    excluded_payment_methods: methods,
    earn_percent: $('earn-percent').value.trim(),
    categories: collectMap('categories'),
    sku_overrides: collectMap('sku_overrides'),
    category_overrides: collectMap('category_overrides'),
    note: $('note').value,
  };
  status('Saving...', false);
  try {
    const r = await api('PUT', 'program', body);
    render(r);
    status(r.changed ? 'Saved: program version ' + r.seq : 'Saved: nothing changed', false);
  } catch (e) {
    status('Not saved: ' + e.message, true);
  }
});

load();

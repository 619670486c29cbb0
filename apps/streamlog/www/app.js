/* StreamLog viewer (docs/api/streamlog-viewer.md §5).
 *
 * Search events, open one with its inclusion proof and the checkpoint it verifies
 * against, compare two checkpoints. Every check is made here, in the browser, with
 * the log's public key (the verifier key): the signature of each checkpoint note
 * (C2SP signed-note, Ed25519 through WebCrypto), the leaf hash of the entry and its
 * RFC 9162 inclusion proof, RFC 9162 consistency proofs. The server is not trusted
 * for any of it; what it sends is only shown, never inserted as HTML.
 *
 * The first half has no DOM in it and runs under node too (the viewer's test checks
 * it against tests/vectors/log/): module.exports at the end.
 */
'use strict';

/* ---- bytes ---- */

const utf8 = new TextEncoder();

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function b64encode(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/* RFC 4648 §4, strict as log.md requires: only the canonical encoding. */
function b64decode(text) {
  if (typeof text !== 'string' || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text))
    throw new Error('not base64');
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  if (b64encode(bytes) !== text) throw new Error('not canonical base64');
  return bytes;
}

function hash32(text) {
  const h = b64decode(text);
  if (h.length !== 32) throw new Error('a hash of ' + h.length + ' bytes, not 32');
  return h;
}

/* ---- RFC 9162 §2.1 (docs/formats/log.md §2) ---- */

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

function leafHash(entry) {
  return sha256(concat(Uint8Array.of(0), entry));
}

function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

const ok = { ok: true, why: '' };
const no = (why) => ({ ok: false, why });

/* RFC 9162 §2.1.3.2, step by step. Sizes are BigInt: JavaScript's bit operators on
 * numbers work on 32 bits. */
async function verifyInclusion(leaf, index, size, proof, root) {
  index = BigInt(index);
  size = BigInt(size);
  if (index >= size) return no('index ' + index + ' is not below the tree size ' + size);
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) return no('the proof has more hashes than the tree needs');
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) return no('the proof has fewer hashes than the tree needs');
  if (!equalBytes(r, root)) return no('the proof leads to another root than the checkpoint\'s');
  return ok;
}

/* RFC 9162 §2.1.4.2, with log.md §2: every tree extends the empty one (an empty
 * proof), and a tree extends itself (an empty proof, the same root). */
async function verifyConsistency(m, n, proof, rootM, rootN) {
  m = BigInt(m);
  n = BigInt(n);
  if (m > n) return no('from ' + m + ' to the smaller ' + n);
  if (m === 0n) return proof.length === 0 ? ok : no('a proof from the empty tree is empty');
  if (m === n) {
    if (proof.length !== 0) return no('a proof between equal sizes is empty');
    return equalBytes(rootM, rootN) ? ok : no('two different roots at size ' + m);
  }
  if (proof.length === 0) return no('an empty proof between different sizes');
  /* step 1: a power-of-two m is a complete subtree, its root starts the path */
  const path = (m & (m - 1n)) === 0n ? [rootM, ...proof] : proof;
  let fn = m - 1n;
  let sn = n - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) return no('the proof has more hashes than the trees need');
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) return no('the proof has fewer hashes than the trees need');
  if (!equalBytes(fr, rootM)) return no('the proof does not lead to the root at size ' + m);
  if (!equalBytes(sr, rootN)) return no('the proof does not lead to the root at size ' + n);
  return ok;
}

/* ---- C2SP signed notes and checkpoints (log.md §3) ---- */

const ORIGIN = /^[\x21-\x2a\x2c-\x7e]{1,255}$/; /* printable ASCII, no space, no '+' */
const SIG_LINES_MAX = 100;

async function keyId(name, pub) {
  const h = await sha256(concat(utf8.encode(name), Uint8Array.of(0x0a, 0x01), pub));
  return h.slice(0, 4);
}

/* "<name>+<hex key id>+<base64(0x01 || public key)>" (§3.2); throws on any flaw. */
async function parseVerifierKey(text) {
  text = text.trim();
  const p1 = text.indexOf('+');
  const p2 = p1 < 0 ? -1 : text.indexOf('+', p1 + 1);
  if (p2 < 0) throw new Error('a verifier key is <name>+<id>+<key>');
  const name = text.slice(0, p1);
  const idHex = text.slice(p1 + 1, p2);
  if (!ORIGIN.test(name)) throw new Error('the key name is not a log origin');
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new Error('the key id must be 8 hex digits');
  let key;
  try {
    key = b64decode(text.slice(p2 + 1));
  } catch (e) {
    throw new Error('the key must be base64 of 33 bytes');
  }
  if (key.length !== 33 || key[0] !== 0x01) throw new Error('not an Ed25519 verifier key');
  const pub = key.slice(1);
  const id = await keyId(name, pub);
  if (hex(id) !== idHex) throw new Error('the key id does not match the name and key');
  return { text, name, id, pub };
}

async function ed25519Verify(pub, signature, data) {
  let key;
  try {
    key = await crypto.subtle.importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']);
  } catch (e) {
    throw new Error('this browser cannot check Ed25519 signatures (WebCrypto): ' + e.message);
  }
  return crypto.subtle.verify({ name: 'Ed25519' }, key, signature, data);
}

/* §3.2: the body (bytes, its final "\n" kept) of a note that key signed; throws
 * with the reason otherwise. Lines of other keys (witnesses) are passed over. */
async function openNote(note, key) {
  if (typeof note !== 'string') throw new Error('no checkpoint note');
  const bytes = utf8.encode(note);
  if (bytes.length === 0 || bytes.length > 65536 || bytes[bytes.length - 1] !== 0x0a)
    throw new Error('a note is 1 to 65536 bytes ending in a newline');
  let body = 0; /* the body ends before the last blank line, its first "\n" kept */
  for (let i = bytes.length - 1; i > 0; i--) {
    if (bytes[i] === 0x0a && bytes[i - 1] === 0x0a) {
      body = i;
      break;
    }
  }
  if (body === 0) throw new Error('no blank line before the signatures');
  const lines = new TextDecoder().decode(bytes.slice(body + 1)).split('\n').slice(0, -1);
  if (lines.length === 0) throw new Error('no signature line');
  if (lines.length > SIG_LINES_MAX) throw new Error('more than 100 signatures');
  let found = false;
  for (const line of lines) {
    if (!line.startsWith('\u2014 ')) throw new Error('a signature line without an em dash');
    const sp = line.indexOf(' ', 2);
    if (sp <= 2) throw new Error('a signature line without a key name');
    let sig;
    try {
      sig = b64decode(line.slice(sp + 1));
    } catch (e) {
      throw new Error('a signature line with bad base64');
    }
    if (sig.length < 5) throw new Error('a signature line with bad base64');
    if (line.slice(2, sp) !== key.name || !equalBytes(sig.slice(0, 4), key.id)) continue;
    if (sig.length !== 68 || !(await ed25519Verify(key.pub, sig.slice(4), bytes.slice(0, body))))
      throw new Error('the signature of ' + key.name + ' does not verify');
    found = true;
  }
  if (!found) throw new Error('not signed by ' + key.name + ' (key id ' + hex(key.id) + ')');
  return bytes.slice(0, body);
}

/* §3.2 then §3.1: the checkpoint {origin, size (BigInt), root} of a note that key
 * signed; throws with the reason otherwise. */
async function openCheckpoint(note, key) {
  const text = new TextDecoder().decode(await openNote(note, key)).split('\n');
  if (text.length < 4) throw new Error('a checkpoint has at least 3 lines');
  const [origin, size, root] = text;
  if (origin !== key.name) throw new Error('the checkpoint is of ' + origin + ', not ' + key.name);
  if (!/^(0|[1-9][0-9]{0,18})$/.test(size) || BigInt(size) >= 2n ** 63n)
    throw new Error('the checkpoint\'s size is not a decimal number');
  let rootBytes;
  try {
    rootBytes = hash32(root);
  } catch (e) {
    throw new Error('the checkpoint\'s root is not base64 of 32 bytes');
  }
  return { origin, size: BigInt(size), root: rootBytes };
}

const verify = {
  b64decode, b64encode, hex, sha256, leafHash, nodeHash, verifyInclusion, verifyConsistency,
  parseVerifierKey, openNote, openCheckpoint,
};

if (typeof module === 'object' && module.exports) module.exports = verify;

/* ---- the page ---- */

if (typeof document === 'object') document.addEventListener('DOMContentLoaded', () => page());

function page() {
  const $ = (id) => document.getElementById(id);
  const state = { key: null, keySource: '', checkpoints: [], oldest: null, opened: 0 };

  function badge(el, good, yes, noText) {
    el.hidden = false;
    el.textContent = good === null ? 'CHECKING' : good ? yes : noText;
    el.className = 'badge ' + (good === null ? 'pending' : good ? 'ok' : 'bad');
  }

  async function getJSON(path) {
    const res = await fetch(path, { cache: 'no-store' });
    let body = null;
    try {
      body = await res.json();
    } catch (e) {
      body = { error: 'the viewer answered ' + res.status + ' without JSON' };
    }
    if (!res.ok) {
      const err = new Error(body.error || 'HTTP ' + res.status);
      err.alarm = body.alarm;
      throw err;
    }
    return body;
  }

  function showAlarm(text) {
    if (!text) return;
    $('cp-alarm').hidden = false;
    $('cp-alarm').textContent = 'TAMPER ALARM: ' + text;
  }

  /* ---- the key: pinned in the URL or pasted, else the server's, said so ---- */

  async function setKey(text, source) {
    try {
      state.key = await parseVerifierKey(text);
      state.keySource = source;
    } catch (e) {
      state.key = null;
      state.keySource = 'the key ' + source + ' is not usable: ' + e.message;
    }
    $('vkey').value = text;
    $('key-source').textContent = state.key ? 'Key ' + source + '.' : state.keySource;
    $('key-warning').hidden = !(state.key && source === 'from the server');
  }

  /* ---- the checkpoint in force ---- */

  async function loadCheckpoint() {
    badge($('cp-badge'), null);
    let cp;
    try {
      cp = await getJSON('/api/checkpoint');
    } catch (e) {
      $('cp-text').textContent = 'unavailable';
      $('cp-reason').textContent = e.message;
      badge($('cp-badge'), false, '', 'NOT VERIFIED');
      showAlarm(e.alarm);
      return null;
    }
    showAlarm(cp.alarm);
    if (!state.key) await setKey(cp.vkey, 'from the server');
    $('cp-text').textContent = cp.size + ' events of ' + (cp.origin || '?') +
      (cp.entries > cp.size ? ' (' + (cp.entries - cp.size) + ' newer, not covered yet)' : '');
    if (cp.note === null) {
      $('cp-reason').textContent = 'the store has no checkpoint yet';
      badge($('cp-badge'), false, '', 'NOT VERIFIED');
      return cp;
    }
    try {
      if (!state.key) throw new Error(state.keySource);
      const c = await openCheckpoint(cp.note, state.key);
      $('cp-reason').textContent = 'signed by ' + state.key.name + ' (key id ' +
        hex(state.key.id) + '), size ' + c.size + ', root ' + b64encode(c.root);
      badge($('cp-badge'), true, 'VERIFIED', '');
    } catch (e) {
      $('cp-reason').textContent = e.message;
      badge($('cp-badge'), false, '', 'NOT VERIFIED');
    }
    return cp;
  }

  /* ---- search ---- */

  const FIELDS = ['who', 'what', 'host', 'source', 'since', 'until'];

  function searchQuery(before) {
    const q = FIELDS.map((f) => [f, $('f-' + f).value.trim()]).filter(([, v]) => v !== '');
    if (before !== undefined) q.push(['before', String(before)]);
    return q.map(([k, v]) => k + '=' + encodeURIComponent(v)).join('&');
  }

  function when(ns) {
    if (typeof ns !== 'number') return '-';
    return new Date(Math.floor(ns / 1e6)).toISOString().replace(/\.\d+Z$/, 'Z');
  }

  /* A top-level integer member as written in the entry: JSON.parse would round ns
   * times to a double. In canonical JSON (docs/streamlog.md §2.2) a top-level key
   * follows "{" or ","; inside a string a quote follows a backslash. */
  function exactInt(entry, key) {
    const m = new RegExp('[{,]"' + key + '":(-?[0-9]+)[,}]').exec(entry);
    return m ? m[1] : undefined;
  }

  function row(ev) {
    let e = {};
    try {
      e = JSON.parse(ev.entry);
    } catch (err) {
      /* not an event: shown by index only */
    }
    const what = e.what || {};
    const cells = [ev.index, when(e.when), (e.where || {}).host, (e.who || {}).user,
      [what.action, what.message].filter(Boolean).join(': '), what.result, (e.src || {}).kind];
    const tr = document.createElement('tr');
    cells.forEach((c, i) => {
      const td = document.createElement('td');
      td.textContent = c === undefined ? '' : String(c);
      if (i === 4) td.className = 'what';
      tr.appendChild(td);
    });
    tr.dataset.index = ev.index;
    tr.addEventListener('click', () => { location.hash = '#event/' + ev.index; });
    return tr;
  }

  async function search(before) {
    const tbody = $('results').querySelector('tbody');
    $('search-status').textContent = 'searching\u2026';
    let res;
    try {
      res = await getJSON('/api/search?' + searchQuery(before));
    } catch (e) {
      $('search-status').textContent = 'search failed: ' + e.message;
      showAlarm(e.alarm);
      return;
    }
    if (before === undefined) tbody.textContent = '';
    res.events.forEach((ev) => tbody.appendChild(row(ev)));
    const shown = tbody.rows.length;
    $('search-status').textContent = shown + (shown === 1 ? ' event' : ' events') +
      ', newest first, below the checkpoint of size ' + res.size +
      (res.more ? '; more match' : '') + '. Open one to check it.';
    state.oldest = res.events.length ? res.events[res.events.length - 1].index : null;
    $('older').hidden = !res.more;
  }

  /* ---- one event ---- */

  const WS = [
    ['who', 'who', ['user', 'uid', 'auid', 'session', 'run_as']],
    ['what', 'what', ['action', 'result', 'message']],
    ['when', 'when', null], ['received', 'recv', null],
    ['where', 'where', ['host']],
    ['where from', 'from', ['tty', 'addr']],
    ['where to', 'to', null], ['on what', 'on', null],
    ['source', 'src', ['kind', 'id', 'seq']],
  ];

  function fieldRows(e, entry) {
    const tbody = $('ev-fields').querySelector('tbody');
    tbody.textContent = '';
    const add = (label, value) => {
      if (value === undefined || value === null || value === '') return;
      const tr = tbody.insertRow();
      const th = document.createElement('th');
      th.textContent = label;
      tr.appendChild(th);
      tr.insertCell().textContent = String(value);
    };
    for (const [label, key, subs] of WS) {
      const v = e[key];
      if (key === 'when' || key === 'recv')
        add(label, v === undefined ? v : when(v) + ' (' + exactInt(entry, key) + ' ns)');
      else if (subs === null) add(label, v);
      else for (const s of subs) add(label + '.' + s, (v || {})[s]);
    }
    if (e.trunc) add('truncated', 'yes: fields were cut to their budgets');
  }

  async function openEvent(index) {
    const mine = ++state.opened; /* a later click wins over an answer still on its way */
    $('event-section').hidden = false;
    $('event-section').scrollIntoView();
    $('ev-index').textContent = index;
    badge($('ev-badge'), null);
    for (const id of ['ev-reason', 'ev-entry', 'ev-leaf', 'ev-proof', 'ev-note'])
      $(id).textContent = '';
    $('ev-fields').querySelector('tbody').textContent = '';
    let ev;
    try {
      ev = await getJSON('/api/event/' + index);
      if (String(ev.index) !== String(index))
        throw new Error('asked for event ' + index + ', the viewer answered with ' + ev.index);
    } catch (e) {
      if (mine !== state.opened) return;
      $('ev-reason').textContent = e.message;
      badge($('ev-badge'), false, '', 'NOT VERIFIED');
      showAlarm(e.alarm);
      return;
    }
    if (mine !== state.opened) return;
    const bytes = typeof ev.entry === 'string' ? utf8.encode(ev.entry) : b64decode(ev.entry_b64);
    $('ev-entry').textContent = typeof ev.entry === 'string' ? ev.entry : '(not UTF-8) ' + hex(bytes);
    $('ev-note').textContent = ev.note;
    try {
      fieldRows(JSON.parse(ev.entry), ev.entry);
    } catch (e) {
      /* not an event: the bytes above are all there is */
    }
    const leaf = await leafHash(bytes);
    $('ev-leaf').textContent = 'leaf hash SHA-256(0x00 || entry) = ' + b64encode(leaf);
    for (const h of ev.proof) {
      const li = document.createElement('li');
      li.textContent = h;
      $('ev-proof').appendChild(li);
    }
    const verdict = await checkEvent(ev, leaf);
    if (mine === state.opened) badge($('ev-badge'), ...verdict);
  }

  /* [good, 'VERIFIED', 'NOT VERIFIED'] with the reason shown */
  async function checkEvent(ev, leaf) {
    let good = false;
    try {
      if (!state.key) throw new Error(state.keySource || 'no verifier key');
      const cp = await openCheckpoint(ev.note, state.key);
      /* the size and root are the signed note's, never the server's own fields */
      const r = await verifyInclusion(leaf, ev.index, cp.size, ev.proof.map(hash32), cp.root);
      if (!r.ok) throw new Error('inclusion: ' + r.why);
      good = true;
      $('ev-reason').textContent = 'entry ' + ev.index + ' is in the tree of size ' + cp.size +
        ' signed by ' + state.key.name + ' (key id ' + hex(state.key.id) + ', ' +
        state.keySource + ')';
    } catch (e) {
      $('ev-reason').textContent = e.message;
    }
    return [good, 'VERIFIED', 'NOT VERIFIED'];
  }

  /* ---- consistency between two signed checkpoints ---- */

  async function loadCheckpoints() {
    let res;
    try {
      res = await getJSON('/api/checkpoints');
    } catch (e) {
      $('cons-reason').textContent = e.message;
      return;
    }
    state.checkpoints = res.checkpoints;
    for (const [id, pick] of [['cons-from', res.checkpoints.length - 1], ['cons-to', 0]]) {
      const sel = $(id);
      sel.textContent = '';
      res.checkpoints.forEach((c, i) => {
        const o = document.createElement('option');
        o.value = String(c.size);
        o.textContent = 'size ' + c.size;
        o.selected = i === pick;
        sel.appendChild(o);
      });
    }
    $('cons-reason').textContent = res.checkpoints.length +
      ' signed checkpoints seen by the viewer, newest first';
  }

  async function rootOf(size) {
    if (size === 0n) return sha256(new Uint8Array(0)); /* MTH({}) needs no signature */
    const c = state.checkpoints.find((x) => BigInt(x.size) === size);
    if (!c) throw new Error('no checkpoint of size ' + size);
    const cp = await openCheckpoint(c.note, state.key);
    if (cp.size !== size) throw new Error('the note of size ' + size + ' says ' + cp.size);
    return cp.root;
  }

  async function checkConsistency() {
    const m = BigInt($('cons-from').value || '0');
    const n = BigInt($('cons-to').value || '0');
    badge($('cons-badge'), null);
    $('cons-proof').textContent = '';
    let good = false;
    try {
      if (!state.key) throw new Error(state.keySource || 'no verifier key');
      const res = await getJSON('/api/consistency?from=' + m + '&to=' + n);
      for (const h of res.proof) {
        const li = document.createElement('li');
        li.textContent = h;
        $('cons-proof').appendChild(li);
      }
      /* the roots are those of the signed notes, not the server's root_from/root_to */
      const r = await verifyConsistency(m, n, res.proof.map(hash32), await rootOf(m), await rootOf(n));
      if (!r.ok) throw new Error(r.why);
      good = true;
      $('cons-reason').textContent = 'the checkpoint of size ' + n + ' extends the one of size ' +
        m + ': nothing below ' + m + ' changed (both signed by ' + state.key.name + ')';
    } catch (e) {
      $('cons-reason').textContent = e.message;
    }
    badge($('cons-badge'), good, 'CONSISTENT', 'NOT CONSISTENT');
  }

  /* ---- wiring ---- */

  function route() {
    const m = /^#event\/(\d+)$/.exec(location.hash);
    if (m) openEvent(m[1]);
  }

  async function start() {
    /* a key in the URL: "+" may have come through as a space (form encoding) */
    const pinned = new URLSearchParams(location.search).get('vkey');
    if (pinned) await setKey(pinned.replace(/ /g, '+'), 'pinned in the URL');
    await loadCheckpoint();
    await loadCheckpoints();
    route();
  }

  $('key-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    await setKey($('vkey').value, 'pasted');
    const url = new URL(location.href);
    if (state.key) url.searchParams.set('vkey', state.key.text);
    history.replaceState(null, '', url);
    await loadCheckpoint();
    route();
  });
  $('search-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    search();
    loadCheckpoint(); /* the size searched below, and any alarm since */
  });
  $('older').addEventListener('click', () => search(state.oldest));
  $('cons-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    checkConsistency();
  });
  $('cons-reload').addEventListener('click', () => loadCheckpoints());
  window.addEventListener('hashchange', route);
  start();
}

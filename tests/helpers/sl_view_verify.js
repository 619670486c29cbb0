/* The StreamLog viewer's in-browser verifier (apps/streamlog/www/app.js), run under
 * node against the log format's vectors (tests/vectors/log/, docs/formats/log.md
 * §10): every RFC 9162 inclusion and consistency proof accepted, each of them
 * refused once changed (a flipped bit, a hash too many or too few, another root),
 * and the signed-note checks of log.md §3 with their refusals.
 *
 *   node tests/helpers/sl_view_verify.js SUITE     (from the repository's root)
 * Prints one "PASS|FAIL SUITE:name" line per check; exit 1 when any failed.
 * Node's WebCrypto stands in for the browser's: no npm packages. */
'use strict';

const fs = require('fs');
const path = require('path');

/* node 18 has WebCrypto only as require('crypto').webcrypto */
if (!globalThis.crypto || !globalThis.crypto.subtle) globalThis.crypto = require('crypto').webcrypto;
const root = path.resolve(__dirname, '../..');
const v = require(path.join(root, 'apps/streamlog/www/app.js'));
const suite = process.argv[2] || 'streamlog_viewer';
let failed = 0;

function report(name, good, detail) {
  console.log((good ? 'PASS ' : 'FAIL ') + suite + ':' + name + (good || !detail ? '' : ' (' + detail + ')'));
  if (!good) failed++;
}

const unhex = (h) => (h === '-' ? new Uint8Array(0) : Uint8Array.from(Buffer.from(h, 'hex')));
const hashes = (list) => (list === '-' ? [] : list.split(',').map(unhex));

function flipped(proof, i) {
  const copy = proof.map((h) => h.slice());
  copy[i][i % 32] ^= 1 << (i % 8);
  return copy;
}

function vectors() {
  const text = fs.readFileSync(path.join(root, 'tests/vectors/log/rfc9162.txt'), 'utf8');
  const vec = { leaves: [], roots: [], inclusion: [], consistency: [] };
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f[0] === 'leaf') vec.leaves[+f[1]] = unhex(f[2]);
    else if (f[0] === 'root') vec.roots[+f[1]] = unhex(f[2]);
    else if (f[0] === 'inclusion') vec.inclusion.push([+f[1], +f[2], hashes(f[3])]);
    else if (f[0] === 'consistency') vec.consistency.push([+f[1], +f[2], hashes(f[3])]);
  }
  return vec;
}

/* RFC 9162 §2.1.3.2 */
async function inclusion(vec) {
  let accepted = 0;
  let refused = 0;
  let wrong = [];
  for (const [index, size, proof] of vec.inclusion) {
    const leaf = await v.leafHash(vec.leaves[index]);
    const root9 = vec.roots[size];
    if ((await v.verifyInclusion(leaf, index, size, proof, root9)).ok) accepted++;
    else wrong.push('refused ' + index + '@' + size);
    const bad = [];
    proof.forEach((_, i) => bad.push(flipped(proof, i)));
    if (proof.length > 0) bad.push(proof.slice(0, -1));
    bad.push([...proof, root9]);
    for (const p of bad) {
      if ((await v.verifyInclusion(leaf, index, size, p, root9)).ok) wrong.push('accepted a changed proof ' + index + '@' + size);
      else refused++;
    }
    const other = vec.roots[size === 1 ? 2 : 1];
    if ((await v.verifyInclusion(leaf, index, size, proof, other)).ok) wrong.push('another root ' + index + '@' + size);
    if ((await v.verifyInclusion(leaf, size, size, proof, root9)).ok) wrong.push('index = size');
  }
  report('js_inclusion_vectors', wrong.length === 0 && accepted === vec.inclusion.length && accepted > 30,
    wrong.slice(0, 3).join('; ') + ' accepted ' + accepted + ' refused ' + refused);
}

/* RFC 9162 §2.1.4.2 and log.md §2 (from 0, and from m to m) */
async function consistency(vec) {
  let accepted = 0;
  const wrong = [];
  for (const [m, n, proof] of vec.consistency) {
    const rm = vec.roots[m];
    const rn = vec.roots[n];
    if ((await v.verifyConsistency(m, n, proof, rm, rn)).ok) accepted++;
    else wrong.push('refused ' + m + '->' + n);
    for (let i = 0; i < proof.length; i++)
      if ((await v.verifyConsistency(m, n, flipped(proof, i), rm, rn)).ok) wrong.push('flip ' + m + '->' + n);
    if (proof.length > 0 && (await v.verifyConsistency(m, n, proof.slice(1), rm, rn)).ok)
      wrong.push('short ' + m + '->' + n);
    if (m > 0 && (await v.verifyConsistency(m, n, [...proof, rm], rm, rn)).ok) wrong.push('long ' + m + '->' + n);
    if (m > 0 && m < n && (await v.verifyConsistency(m, n, proof, rm, vec.roots[m])).ok)
      wrong.push('another root ' + m + '->' + n);
  }
  if ((await v.verifyConsistency(3, 2, [], vec.roots[3], vec.roots[2])).ok) wrong.push('m > n');
  report('js_consistency_vectors', wrong.length === 0 && accepted === vec.consistency.length && accepted > 30,
    wrong.slice(0, 3).join('; ') + ' accepted ' + accepted);
}

/* expect(promise) refused with a message matching re */
async function refused(name, promise, re) {
  try {
    await promise;
    report(name, false, 'accepted');
  } catch (e) {
    report(name, re.test(e.message), e.message);
  }
}

function vectorFile(name) {
  const lines = fs.readFileSync(path.join(root, 'tests/vectors/log', name), 'utf8').split('\n');
  const body = lines.filter((l) => !l.startsWith('#'));
  return { vkey: body[0], note: body.slice(1).join('\n') };
}

/* log.md §3 */
async function notes() {
  const ex = vectorFile('note.txt');
  const exKey = await v.parseVerifierKey(ex.vkey);
  const body = new TextDecoder().decode(await v.openNote(ex.note, exKey));
  report('js_c2sp_note_example', body === 'This is an example message.\n', JSON.stringify(body));

  const cpv = vectorFile('checkpoint.txt');
  const key = await v.parseVerifierKey(cpv.vkey);
  const cp = await v.openCheckpoint(cpv.note, key);
  report('js_checkpoint_vector', cp.size === 7n && cp.origin === key.name, String(cp.size));
  await refused('js_checkpoint_size_changed', v.openCheckpoint(cpv.note.replace('\n7\n', '\n8\n'), key),
    /does not verify/);
  await refused('js_checkpoint_other_key', v.openCheckpoint(cpv.note, exKey), /not signed by/);
  await refused('js_checkpoint_no_signature',
    v.openCheckpoint(cpv.note.slice(0, cpv.note.indexOf('\n\n') + 2), key), /no signature|blank line/);
  await refused('js_note_not_checkpoint', v.openCheckpoint(ex.note, exKey), /checkpoint/);
  const badId = cpv.vkey.replace(/\+([0-9a-f]{8})\+/, (m, id) => '+' + (id[0] === '0' ? '1' : '0') + id.slice(1) + '+');
  await refused('js_vkey_id_mismatch', v.parseVerifierKey(badId), /key id/);
  await refused('js_vkey_malformed', v.parseVerifierKey('no-plus-signs'), /verifier key/);
  report('js_b64_strict', (() => {
    try {
      v.b64decode('AB==');
      return false; /* non-zero pad bits: not canonical */
    } catch (e) {
      return true;
    }
  })());
}

(async () => {
  try {
    const vec = vectors();
    await inclusion(vec);
    await consistency(vec);
    await notes();
  } catch (e) {
    report('js_verifier', false, e.stack);
  }
  process.exit(failed ? 1 : 0);
})();

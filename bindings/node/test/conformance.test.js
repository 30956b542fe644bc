// conformance.test.js: the binding against the kit's writer (1e6 reads, 1000 generations, 0 torn) and samples.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const wxshm = require('wxshm');
const kit = require('./kit');

const READS = 1000000, GENERATIONS = 1000, LIMIT_MS = 60000;

function tmpdir(tag) {
  // Under /dev/shm, as the agent's; a fresh name the kit's tools make (0751) themselves.
  const d = fs.mkdtempSync(path.join('/dev/shm', `wxnode-${tag}.`));
  fs.rmdirSync(d);
  return d;
}

// Read with fn until both counts are reached (or the time is up, or, for the control, a torn copy was
// seen); counts reads, generations, torn.
function run(fn, reads_ = READS, generations_ = GENERATIONS, stopAtTorn = false) {
  const seen = new Set();
  let reads = 0, torn = 0;
  const until = Date.now() + LIMIT_MS;
  while ((reads < reads_ || seen.size < generations_) && Date.now() < until && !(stopAtTorn && torn > 0)) {
    for (let i = 0; i < 1000; i++) {
      const t = fn();
      if (!t)
        continue;
      reads++;
      seen.add(t.generation);
      if (!kit.matches(t.token, t.generation, t.expiresAtMs, t.fetchedAtMs))
        torn++;
    }
  }
  return { reads, generations: seen.size, torn };
}

test('conformance: 1e6 reads through the binding, >= 1000 generations, 0 torn', async () => {
  const dir = tmpdir('conf');
  const writer = await kit.startWriter(dir, 'conf', 120);
  try {
    const h = wxshm.open('conf', { dir });
    const r = run(() => h.read());
    h.close();
    console.log(`binding: ${r.reads} reads, ${r.generations} generations, ${r.torn} torn`);
    assert.strictEqual(r.torn, 0);
    assert.ok(r.reads >= READS, `only ${r.reads} reads`);
    assert.ok(r.generations >= GENERATIONS, `only ${r.generations} generations`);
  } finally {
    await kit.stopWriter(writer);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('conformance: negative control (the JS recipe over the same mapping without the second seq check) is caught', async () => {
  const dir = tmpdir('ctl');
  const writer = await kit.startWriter(dir, 'ctl', 120);
  try {
    const ab = kit.mapSegment(path.join(dir, 'ctl'));
    // The same recipe with the re-check (100,000 reads: JS copies word by word, slowly) must stay clean, so what catches the control is the missing check.
    const good = run(kit.makeRawReader(ab, true), 100000, 1000);
    console.log(`JS recipe with the re-check: ${good.reads} reads, ${good.generations} generations, ${good.torn} torn`);
    assert.strictEqual(good.torn, 0);
    const bad = run(kit.makeRawReader(ab, false), READS, GENERATIONS, true);
    console.log(`control without it: ${bad.reads} reads, ${bad.generations} generations, ${bad.torn} torn`);
    assert.ok(bad.torn > 0, 'the negative control was NOT caught: the kit cannot see a missing re-check');
  } finally {
    await kit.stopWriter(writer);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('samples: every line of EXPECTED', () => {
  const dir = tmpdir('samples');
  execFileSync(path.join(kit.WXBUILD, 'tests/conformance/wxconf-samples'), [dir]);
  try {
    const lines = fs.readFileSync(path.join(dir, 'EXPECTED'), 'latin1').split('\n').filter((l) => l);
    assert.ok(lines.length >= 10);
    const wrong = [];
    for (const line of lines) {
      const sp = line.lastIndexOf(' ');
      const item = line.slice(0, sp), want = line.slice(sp + 1);
      let got;
      try {
        const h = wxshm.open(item, { dir });
        try {
          const t = h.read();
          if (!kit.matches(t.token, t.generation, t.expiresAtMs, t.fetchedAtMs) && !(t.stale && t.token === kit.tokenOf(1) && t.generation === 1))
            got = 'wrong-token';
          else
            got = t.stale ? 'stale' : 'ok';
        } finally {
          h.close();
        }
      } catch (err) {
        assert.ok(err instanceof wxshm.WxShmError, `${item}: ${err}`);
        assert.strictEqual(err.errno, -os.constants.errno[err.code]);
        got = err.code;
      }
      if (got !== want)
        wrong.push(`${item}: want ${want}, got ${got}`);
    }
    assert.deepStrictEqual(wrong, []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('retired: a handle on a segment the writer started over re-opens the name once, by itself', async () => {
  const dir = tmpdir('ret');
  let writer = await kit.startWriter(dir, 'ret', 30);
  try {
    const h = wxshm.open('ret', { dir });
    assert.ok(h.read().generation >= 1);
    await kit.stopWriter(writer);
    // A new writer retires the old segment (retired = 1) and makes a new one under the same name.
    writer = await kit.startWriter(dir, 'ret', 30);
    const t = h.read();
    assert.ok(kit.matches(t.token, t.generation, t.expiresAtMs, t.fetchedAtMs));
    h.close();
  } finally {
    await kit.stopWriter(writer);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

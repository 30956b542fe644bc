// agent.test.js: the binding against the real agent and wxemu (run under tests/conformance/with-agent.sh).
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const { execFileSync, spawnSync } = require('node:child_process');
const wxshm = require('wxshm');
const client = require('wxshm/lib/client');

const env = process.env;
const APPID = env.WXEMU_APPID_shop;

async function stats() {
  const r = await fetch(`${env.WXEMU_URL}/emu/stats`);
  return (await r.json()).apps[APPID].token_calls;
}
async function rotate() {
  const r = await fetch(`${env.WXEMU_URL}/emu/rotate?app=${APPID}`, { method: 'POST' });
  assert.ok(r.ok);
}
// A business call: the WeChat errcode (0 if it worked).
async function business(token) {
  const r = await fetch(`${env.WXEMU_URL}/cgi-bin/getcallbackip?access_token=${encodeURIComponent(token)}`);
  const j = await r.json();
  return j.errcode || 0;
}
// Forced refreshes are spaced (min_force_interval = 1): a rate-limited one says when to come back.
async function refreshSpaced(h, g, opts) {
  for (let i = 0; ; i++) {
    try {
      return await h.refresh(g, opts);
    } catch (err) {
      if (err.code !== 'EAGAIN' || i >= 5)
        throw err;
      await new Promise((r) => setTimeout(r, (err.retryAfterMs || 1000) + 50));
    }
  }
}

test('read: shop has a fresh token, generation >= 1, not stale; WeChat takes it', async () => {
  const h = wxshm.open('shop');
  const t = h.read();
  assert.ok(t.token.length > 0);
  assert.ok(Number.isSafeInteger(t.generation) && t.generation >= 1);
  assert.strictEqual(t.state, 'fresh');
  assert.strictEqual(t.stale, false);
  assert.ok(t.expiresAtMs > Date.now());
  assert.strictEqual(await business(t.token), 0);
  const j = wxshm.open('mall.jsapi').read();
  assert.ok(j.token.length > 0);
  h.close();
});

test('compare-and-refresh through a rotation: one upstream call per forced generation', async () => {
  const h = wxshm.open('shop');
  for (let round = 0; round < 2; round++) {
    const t = h.read();
    const before = await stats();
    await rotate();
    assert.strictEqual(await business(t.token), 40001);
    const g = await refreshSpaced(h, t.generation, { timeoutMs: 5000 });
    assert.ok(g > t.generation, `${g} > ${t.generation}`);
    const t2 = h.read();
    assert.strictEqual(t2.generation, g);
    assert.strictEqual(await business(t2.token), 0);
    assert.strictEqual(await stats(), before + 1);
    // The same generation again: answered at once with what is published, no upstream call.
    assert.strictEqual(await h.refresh(t.generation), g);
    assert.strictEqual(await stats(), before + 1);
  }
  h.close();
});

test('refresh { token: true }: the new token comes with the answer', async () => {
  const h = wxshm.open('shop');
  const t = h.read();
  const before = await stats();
  await rotate();
  const n = await refreshSpaced(h, t.generation, { token: true });
  assert.ok(n instanceof wxshm.Token);
  assert.ok(n.generation > t.generation);
  assert.strictEqual(n.token, h.read().token);
  assert.strictEqual(await business(n.token), 0);
  assert.strictEqual(await stats(), before + 1);
  h.close();
});

test('8 concurrent refresh(G) in one process: one request, one upstream call', async () => {
  const h = wxshm.open('shop');
  const t = h.read();
  const before = await stats();
  await rotate();
  // Wait out the spacing first, so the shared request is not rate limited.
  await new Promise((r) => setTimeout(r, 1100));
  const r0 = client.stats.requests;
  const gs = await Promise.all(Array.from({ length: 8 }, () => h.refresh(t.generation, { timeoutMs: 5000 })));
  assert.strictEqual(client.stats.requests - r0, 1);
  assert.ok(gs.every((g) => g === gs[0] && g > t.generation));
  assert.strictEqual(await stats(), before + 1);
  h.close();
});

test('app unknown: ENOENT at open', () => {
  assert.throws(() => wxshm.open('nosuchapp'), (e) => e instanceof wxshm.WxShmError && e.code === 'ENOENT');
  assert.throws(() => wxshm.open('bad!name'), { code: 'EINVAL' });
});

test('permission denied as a non-root user: EACCES', () => {
  const code = `try { require('wxshm').open('shop'); console.log('opened') } catch (e) { console.log(e.code) }`;
  const r = spawnSync('setpriv', ['--reuid=wxconfuser', '--regid=wxconfuser', '--clear-groups', process.execPath, '-e', code],
                      { encoding: 'latin1', env });
  assert.strictEqual(r.stdout.trim(), 'EACCES', r.stderr);
});

test('app removed: ENXIO on the open handle after a reload without it', async () => {
  const h = wxshm.open('mall');
  h.read();
  const conf = fs.readFileSync(env.WXTOKEND_CONF, 'latin1');
  fs.writeFileSync(env.WXTOKEND_CONF, conf.replace(/^\[app mall\][^]*$/m, ''));
  execFileSync(env.WXTOKENCTL, ['reload']);
  let code;
  for (let until = Date.now() + 10000; Date.now() < until; await new Promise((r) => setTimeout(r, 20))) {
    try {
      h.read();
    } catch (e) {
      code = e.code;
      break;
    }
  }
  assert.strictEqual(code, 'ENXIO');
  assert.throws(() => h.read(), { code: 'ENXIO' });
  assert.throws(() => wxshm.open('mall'), { code: 'ENOENT' });
  h.close();
});

test('a kept-alive connection outlives the agent\'s idle_timeout (10 s): no new connect', async () => {
  const h = wxshm.open('shop');
  const g = h.read().generation;
  client.closeIdle();
  assert.strictEqual(await h.refresh(g - 1), g);       // answered at once: g is already past g - 1
  const c0 = client.stats.connects;
  // Idle longer than idle_timeout on purpose: what is tested is the idle time itself.
  await new Promise((r) => setTimeout(r, 11000));
  assert.strictEqual(await h.refresh(g - 1), g);
  assert.strictEqual(client.stats.connects, c0);
  h.close();
});

test('agent down: the token stays readable, refresh is ECONNREFUSED or ENOENT', async () => {
  const h = wxshm.open('shop');
  const t = h.read();
  assert.strictEqual(await h.refresh(t.generation - 1), t.generation);   // leaves a kept-alive connection
  process.kill(Number(env.WXTOKEND_PID), 'SIGTERM');
  for (let until = Date.now() + 10000; Date.now() < until; await new Promise((r) => setTimeout(r, 20))) {
    try { process.kill(Number(env.WXTOKEND_PID), 0); } catch { break; }
  }
  const after = h.read();
  assert.strictEqual(after.token, t.token);
  await assert.rejects(h.refresh(after.generation), (e) => ['ECONNREFUSED', 'ENOENT'].includes(e.code));
  h.close();
  client.closeIdle();
});

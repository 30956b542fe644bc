// client.test.js: refresh's socket client against stand-in servers: replies, error codes, reconnect, peer check, coalescing.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { execFileSync, spawn } = require('node:child_process');
const wxshm = require('wxshm');
const client = require('wxshm/lib/client');
const kit = require('./kit');

let samples, sockdir;

test.before(() => {
  samples = fs.mkdtempSync('/dev/shm/wxnode-cli.');
  fs.rmdirSync(samples);
  execFileSync(path.join(kit.WXBUILD, 'tests/conformance/wxconf-samples'), [samples]);
  sockdir = fs.mkdtempSync('/tmp/wxnode-sock.');
  fs.chmodSync(sockdir, 0o777);
});
test.after(() => {
  client.closeIdle();
  fs.rmSync(samples, { recursive: true, force: true });
  fs.rmSync(sockdir, { recursive: true, force: true });
});

// A stand-in agent: onLine(line, sock, n) answers (or not) each request line; n counts lines over all connections.
function server(name, onLine) {
  const p = path.join(sockdir, name);
  const srv = net.createServer((sock) => {
    let buf = '';
    sock.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        srv.lines.push(JSON.parse(line));
        onLine(line, sock, srv.lines.length);
      }
    });
    sock.on('error', () => {});
  });
  srv.lines = [];
  srv.path = p;
  return new Promise((resolve) => srv.listen(p, () => resolve(srv)));
}

test('refresh: sends generation, timeout and "token":true; reads the generation', async () => {
  const srv = await server('ok', (l, s) => s.write('{"ok":true,"generation":7,"expires_at_ms":4102444800001,"token":"TOK"}\n'));
  const h = wxshm.open('valid', { dir: samples, socket: srv.path });
  assert.strictEqual(await h.refresh(1, { timeoutMs: 0 }), 7);
  assert.deepStrictEqual(srv.lines[0], { op: 'refresh', app: 'valid', generation: 1, timeout_ms: 5000, token: true });
  await h.refresh(2, { timeoutMs: 99999 });
  assert.strictEqual(srv.lines[1].timeout_ms, 60000);
  const t = await h.refresh(3, { token: true });
  assert.strictEqual(t.token, 'TOK');
  assert.strictEqual(t.generation, 7);
  h.close();
  client.closeIdle();
  srv.close();
});

test('refresh: every error code maps as libwxshm maps it', async () => {
  const map = { rate_limited: 'EAGAIN', timeout: 'ETIMEDOUT', upstream_failed: 'EIO', too_many_waiters: 'EBUSY',
                permission_denied: 'EACCES', unknown_app: 'ENOENT', shutting_down: 'ECONNREFUSED', bad_request: 'EPROTO' };
  const codes = Object.keys(map);
  const srv = await server('errors', (l, s, n) => {
    if (n > codes.length)
      return s.write('this is not json\n');
    s.write(`{"ok":false,"error":"${codes[n - 1]}","message":"m"${codes[n - 1] === 'rate_limited' ? ',"retry_after_ms":1234' : ''}}\n`);
  });
  const h = wxshm.open('valid', { dir: samples, socket: srv.path });
  for (const [i, c] of codes.entries()) {
    await assert.rejects(h.refresh(i + 1), (err) => {
      assert.ok(err instanceof wxshm.WxShmError);
      assert.strictEqual(err.code, map[c], c);
      assert.strictEqual(err.item, 'valid');
      if (c === 'rate_limited')
        assert.strictEqual(err.retryAfterMs, 1234);
      return true;
    });
  }
  await assert.rejects(h.refresh(99), { code: 'EPROTO' });
  await assert.rejects(h.refresh(2 ** 53), { code: 'EINVAL' });
  await assert.rejects(h.refresh(-1), { code: 'EINVAL' });
  await assert.rejects(h.refresh(1.5), { code: 'EINVAL' });
  h.close();
  client.closeIdle();
  srv.close();
});

test('refresh: a kept-alive connection closed before any byte of the reply is reconnected once', async () => {
  const srv = await server('evict', (l, s, n) => {
    if (n === 2)
      return s.destroy();                     // evicted: the request is dropped unanswered
    s.write(`{"ok":true,"generation":${10 + n}}\n`);
  });
  const h = wxshm.open('valid', { dir: samples, socket: srv.path });
  const c0 = client.stats.connects;
  assert.strictEqual(await h.refresh(1), 11);
  assert.strictEqual(await h.refresh(2), 13);    // line 2 dropped, sent again on a new connection
  assert.strictEqual(client.stats.connects - c0, 2);
  h.close();
  client.closeIdle();
  srv.close();
});

test('refresh: a fresh connection closed without a reply is not retried (EPROTO)', async () => {
  const srv = await server('drop', (l, s) => s.destroy());
  const h = wxshm.open('valid', { dir: samples, socket: srv.path });
  await assert.rejects(h.refresh(1), { code: 'EPROTO' });
  assert.strictEqual(srv.lines.length, 1);
  h.close();
  srv.close();
});

test('refresh: concurrent calls for one generation share one request', async () => {
  const held = [];
  const srv = await server('coalesce', (l, s) => held.push(() => s.write('{"ok":true,"generation":6}\n')));
  const h = wxshm.open('valid', { dir: samples, socket: srv.path });
  const all = Promise.all(Array.from({ length: 8 }, () => h.refresh(5)));
  const other = h.refresh(4);
  while (srv.lines.length < 2)
    await new Promise((r) => setImmediate(r));
  // Both requests are in before any answer: the 8 calls for generation 5 made one of them.
  for (const a of held)
    a();
  assert.deepStrictEqual(await all, Array(8).fill(6));
  assert.strictEqual(await other, 6);
  assert.strictEqual(srv.lines.length, 2);
  assert.strictEqual(srv.lines.filter((x) => x.generation === 5).length, 1);
  h.close();
  client.closeIdle();
  srv.close();
});

test('refresh: no agent (no socket file) is ENOENT', async () => {
  const h = wxshm.open('valid', { dir: samples, socket: path.join(sockdir, 'none') });
  await assert.rejects(h.refresh(1), { code: 'ENOENT' });
  h.close();
});

test('refresh: a server that is neither the segment owner nor root is not trusted (EPERM, SO_PEERCRED)', async (t) => {
  if (process.getuid() !== 0)
    return t.skip('needs root to start a server as another user');
  const p = path.join(sockdir, 'foreign');
  const code = `require('net').createServer((s)=>s.on('data',()=>s.write('{"ok":true,"generation":9}\\n'))).listen(${JSON.stringify(p)},()=>console.log('up'))`;
  const child = spawn('setpriv', ['--reuid=wxconfuser', '--regid=wxconfuser', '--clear-groups', process.execPath, '-e', code],
                      { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => { child.stdout.once('data', resolve); child.once('exit', reject); });
  try {
    // Made as the user, then chowned to root: only the peer's credentials can tell.
    fs.chownSync(p, 0, 0);
    const h = wxshm.open('valid', { dir: samples, socket: p });
    await assert.rejects(h.refresh(1), (err) => err.code === 'EPERM' && /uid 999|uid \d+/.test(err.message));
    h.close();
  } finally {
    child.kill();
  }
});

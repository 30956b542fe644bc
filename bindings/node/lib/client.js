// client.js: the agent's control socket from Node: non-blocking `net`, kept-alive connections, one line per request.
'use strict';

const net = require('node:net');
const fs = require('node:fs');
const { WxShmError } = require('./errors');
const { peerUid } = require('./native');

const DEFAULT_SOCKET = '/run/wxtokend/wxtokend.sock';
const REPLY_MAX = 64 * 1024;      // far above the agent's line limit: longer is not the agent
const REPLY_SLACK_MS = 1000;       // the reply may come this long after timeout_ms
const IDLE_KEEP = 4;               // idle connections kept per socket path

const ERRORS = {
  rate_limited: 'EAGAIN',
  timeout: 'ETIMEDOUT',
  upstream_failed: 'EIO',
  too_many_waiters: 'EBUSY',
  permission_denied: 'EACCES',
  unknown_app: 'ENOENT',
  shutting_down: 'ECONNREFUSED',
};

function socketPath(opt) {
  if (opt)
    return opt;
  const e = process.env.WXTOKEND_SOCKET;
  return e ? e : DEFAULT_SOCKET;
}

// One connection; carries one request at a time (the agent answers in order, and a refresh may wait long).
class Conn {
  constructor(path) {
    this.path = path;
    this.sock = null;
    this.buf = '';
    this.pending = null;     // { resolve, reject, gotByte }
    this.broken = false;
    this.used = false;       // completed a request: a later EOF may be an eviction, worth one reconnect
    this.peer = undefined;
  }

  connect() {
    return new Promise((resolve, reject) => {
      stats.connects++;
      const s = net.createConnection({ path: this.path });
      s.setEncoding('latin1');
      const fail = (err) => { s.destroy(); reject(err); };
      s.once('error', fail);
      s.once('connect', () => {
        s.removeListener('error', fail);
        this.sock = s;
        // SO_PEERCRED of this very connection: Node has no API, libc's getsockopt through koffi does.
        this.peer = peerUid(s._handle && s._handle.fd);
        if (this.peer === undefined) {
          // No fd to ask (an unusual runtime): the socket file's owner is the next best witness.
          try { this.peer = fs.statSync(this.path).uid; } catch { this.peer = undefined; }
        }
        s.on('data', (d) => this.onData(d));
        s.on('error', (err) => this.onEnd(err));
        s.on('close', () => this.onEnd(null));
        resolve(this);
      });
    });
  }

  onData(d) {
    if (this.pending)
      this.pending.gotByte = true;
    this.buf += d;
    const nl = this.buf.indexOf('\n');
    if (nl < 0) {
      if (this.buf.length > REPLY_MAX)
        this.finish(new WxShmError('EPROTO', this.pending && this.pending.item, 'reply line too long'), null);
      return;
    }
    const line = this.buf.slice(0, nl);
    this.buf = this.buf.slice(nl + 1);
    this.finish(null, line);
  }

  onEnd(err) {
    this.broken = true;
    if (this.pending) {
      const e = err || Object.assign(new Error('connection closed by the agent'), { code: 'EOF' });
      this.finish(e, null);
    }
  }

  finish(err, line) {
    const p = this.pending;
    if (!p)
      return;
    this.pending = null;
    clearTimeout(p.timer);
    if (err) {
      this.broken = true;
      this.sock.destroy();
      p.reject(Object.assign(err, { gotByte: p.gotByte }));
    } else {
      this.used = true;
      p.resolve(line);
    }
  }

  request(line, waitMs, item) {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject, gotByte: false, timer: null, item };
      this.pending.timer = setTimeout(() => {
        this.finish(new WxShmError('ETIMEDOUT', item, `no reply from the agent within ${waitMs} ms`), null);
      }, waitMs);
      stats.requests++;
      this.sock.ref();
      this.sock.write(line);
    });
  }
}

const idle = new Map();   // socket path -> [Conn]
const stats = { requests: 0, connects: 0 };   // for tests: what went over the wire

function takeIdle(path) {
  const list = idle.get(path);
  while (list && list.length) {
    const c = list.pop();
    if (!c.broken)
      return c;
  }
  return null;
}

function putIdle(c) {
  if (c.broken)
    return;
  let list = idle.get(c.path);
  if (!list)
    idle.set(c.path, list = []);
  if (list.length >= IDLE_KEEP) {
    c.sock.destroy();
    return;
  }
  // An idle kept-alive connection must not keep the process alive.
  c.sock.unref();
  list.push(c);
}

function connectError(err, item) {
  const code = err && err.code;
  if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES' || code === 'EPERM')
    return new WxShmError(code, item, undefined, { syscall: 'connect' });
  return new WxShmError('ECONNREFUSED', item, `cannot reach the agent (${code || err})`);
}

// Send one line, get one line. owner: the uid the server must run as (or root); undefined: root only.
async function exchange(opts, line, item, waitMs, owner) {
  const path = socketPath(opts.socket);
  for (let attempt = 0; ; attempt++) {
    let c = takeIdle(path);
    const reused = c !== null;
    if (!c) {
      try {
        c = await new Conn(path).connect();
      } catch (err) {
        throw connectError(err, item);
      }
    }
    if (c.peer !== 0 && (owner === undefined || c.peer !== owner)) {
      c.sock.destroy();
      throw new WxShmError('EPERM', item, `the socket's server (uid ${c.peer}) is neither the segment's owner (uid ${owner === undefined ? "unknown" : owner}) nor root`);
    }
    try {
      const reply = await c.request(line, waitMs, item);
      putIdle(c);
      return reply;
    } catch (err) {
      // A kept-alive connection the agent closed (evicted when full): reconnect once, if nothing came back.
      const dropped = err.code === 'EOF' || err.code === 'EPIPE' || err.code === 'ECONNRESET';
      if (dropped && reused && !err.gotByte && attempt === 0)
        continue;
      if (err instanceof WxShmError)
        throw err;
      throw new WxShmError('EPROTO', item, `connection lost before the reply (${err.code || err.message})`);
    }
  }
}

function parseReply(text, item) {
  let r;
  try {
    r = JSON.parse(text);
  } catch {
    r = null;
  }
  if (!r || typeof r !== 'object' || typeof r.ok !== 'boolean')
    throw new WxShmError('EPROTO', item);
  if (!r.ok) {
    const code = ERRORS[r.error] || 'EPROTO';
    const extra = {};
    if (Number.isSafeInteger(r.retry_after_ms))
      extra.retryAfterMs = r.retry_after_ms;
    throw new WxShmError(code, item, `${typeof r.message === 'string' ? r.message : r.error}`, extra);
  }
  return r;
}

function clampTimeout(t) {
  if (t === undefined || t === null || !(t > 0))
    return 5000;
  return Math.min(Math.floor(t), 60000);
}

// Ask for a refresh of item past generation; resolves to the reply object ({ok, generation, ..., token?}).
async function refresh(opts, item, generation, timeoutMs, owner) {
  const t = clampTimeout(timeoutMs);
  const line = `{"op":"refresh","app":${JSON.stringify(item)},"generation":${generation},"timeout_ms":${t},"token":true}\n`;
  const r = parseReply(await exchange(opts, line, item, t + REPLY_SLACK_MS, owner), item);
  if (!Number.isSafeInteger(r.generation) || r.generation < 0)
    throw new WxShmError('EPROTO', item);
  return r;
}

// {"op":"get"}: the token over the socket (what the bench compares a read with).
async function get(opts, item, owner) {
  const line = `{"op":"get","app":${JSON.stringify(item)}}\n`;
  return parseReply(await exchange(opts, line, item, 5000 + REPLY_SLACK_MS, owner), item);
}

// Close every idle connection (tests; a process that exits need not).
function closeIdle() {
  for (const list of idle.values())
    for (const c of list.splice(0))
      c.sock.destroy();
}

module.exports = { refresh, get, closeIdle, socketPath, clampTimeout, stats };

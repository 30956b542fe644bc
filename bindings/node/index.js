// index.js: the wxshm package: open an item's segment, read its token with no system call, refresh a refused one.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { WxShmError, codeOf, codes } = require('./lib/errors');
const native = require('./lib/native');
const client = require('./lib/client');

const TOKEN_MAX = 2048;
const INFO_SIZE = 72;            // sizeof(wxshm_info) on LP64
const DEFAULT_DIR = '/dev/shm/wxtokend';
const GENERATION_LIMIT = 2 ** 53;
const NAME_RE = /^[A-Za-z0-9_-]{1,64}(\.(?=[A-Za-z0-9_.-]{1,40}$)[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)?)?$/;
const OPEN_TRIES = 20;           // -EAGAIN at open: the agent is making the segment
const READ_TRIES = 16;           // -EAGAIN at read: libwxshm already tried 1024 times each

const STATES = ['starting', 'fresh', 'refreshing', 'retrying', 'config_error', 'quota', 'stopped'];

const E = {};
for (const c of ['EAGAIN', 'ESTALE', 'EIDRM', 'EINVAL'])
  E[c] = -require('node:os').constants.errno[c];

// Buffer's latin1Slice makes the string without toString's argument checks; toString where it is missing.
const latin1 = typeof Buffer.prototype.latin1Slice === 'function'
  ? (b, n) => b.latin1Slice(0, n) : (b, n) => b.toString('latin1', 0, n);

const pause = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms) {
  // Only while the agent creates a segment (at most OPEN_TRIES ms): too short to be worth a Promise.
  Atomics.wait(pause, 0, 0, ms);
}

function segmentDir(dir) {
  if (dir !== undefined)
    return dir;
  const e = process.env.WXSHM_DIR;
  // As libwxshm: only an absolute path shorter than 256 bytes counts.
  return e && e.startsWith('/') && Buffer.byteLength(e) < 256 ? e : DEFAULT_DIR;
}

// libwxshm reads WXSHM_DIR at open; a dir given in the options is passed that way, for the one call.
function nativeOpen(item, dir) {
  const l = native.load();
  const out = [null];
  const saved = process.env.WXSHM_DIR;
  if (dir !== undefined)
    process.env.WXSHM_DIR = dir;
  let r;
  try {
    for (let i = 0; ; i++) {
      r = l.open(out, item);
      if (r !== E.EAGAIN || i + 1 >= OPEN_TRIES)
        break;
      sleepMs(1);
    }
  } finally {
    if (dir !== undefined) {
      if (saved === undefined)
        delete process.env.WXSHM_DIR;
      else
        process.env.WXSHM_DIR = saved;
    }
  }
  if (r < 0)
    throw new WxShmError(codeOf(r), item);
  return out[0];
}

function checkName(item) {
  if (typeof item !== 'string' || !NAME_RE.test(item))
    throw new WxShmError('EINVAL', typeof item === 'string' ? item : undefined,
                         'an item is [A-Za-z0-9_-]{1,64}, optionally a dot and a suffix of up to 40 (one more dot inside allowed)');
}

// Little-endian 64-bit integers as Numbers; every value here stays well below 2^53.
function u64(b, o) {
  return b.readUInt32LE(o) + b.readUInt32LE(o + 4) * 0x100000000;
}
function i64(b, o) {
  return b.readUInt32LE(o) + b.readInt32LE(o + 4) * 0x100000000;
}

class Token {
  constructor(token, generation, expiresAtMs, fetchedAtMs, state, stale, extra) {
    this.token = token;
    this.generation = generation;
    this.expiresAtMs = expiresAtMs;
    this.fetchedAtMs = fetchedAtMs;
    this.state = state;
    this.stale = stale;
    this.agentAlive = extra.agentAlive;
    this.agentPid = extra.agentPid;
    this.lastErrcode = extra.lastErrcode;
  }
}

class Handle {
  constructor(item, opts) {
    this.item = item;
    this.dir = opts.dir;
    this.socket = opts.socket;
    this._h = nativeOpen(item, this.dir);
    this._owner = this._ownerOf();
    this._buf = Buffer.alloc(TOKEN_MAX + 8);   // libwxshm copies whole words: room for them
    this._info = Buffer.alloc(INFO_SIZE);
    this._info.writeUInt32LE(INFO_SIZE, 0);
    this._inflight = new Map();                 // generation -> Promise: one request per generation
  }

  // The segment's owner, which the socket's server must be (or root). The trust rule made the file's
  // owner the directory's, so the directory's stat is the segment's.
  _ownerOf() {
    try {
      return fs.statSync(segmentDir(this.dir)).uid;
    } catch {
      return undefined;
    }
  }

  // The current token: { token, generation, expiresAtMs, fetchedAtMs, state, stale, ... }. No system call.
  read() {
    if (this._h === null)
      throw new WxShmError('EINVAL', this.item, 'read after close()');
    const l = native.load();
    const b = this._buf, info = this._info;
    let reopened = false;
    for (let tries = 0; ; ) {
      const r = l.read(this._h, b, b.length, info);
      if (r >= 0 || r === E.ESTALE) {
        const n = info.readInt32LE(68);
        return new Token(latin1(b, n), u64(info, 8), i64(info, 16), i64(info, 24),
                         STATES[info.readInt32LE(56)] || 'unknown', r === E.ESTALE,
                         { agentAlive: info.readInt32LE(64) === 1, agentPid: info.readInt32LE(60),
                           lastErrcode: i64(info, 40) });
      }
      if (r === E.EAGAIN && ++tries < READ_TRIES)
        continue;
      if (r === E.EIDRM && !reopened) {
        // Retired: the name leads to a new segment. Once; if that open fails, its error is the answer.
        reopened = true;
        const h = nativeOpen(this.item, this.dir);
        l.close(this._h);
        this._h = h;
        this._owner = this._ownerOf();
        continue;
      }
      throw new WxShmError(codeOf(r), this.item);
    }
  }

  // WeChat refused the token of `generation`: ask the agent for a newer one. Resolves to the generation
  // now published, or with { token: true } to that Token. Concurrent calls for one generation share a request.
  refresh(generation, opts = {}) {
    try {
      if (this._h === null)
        throw new WxShmError('EINVAL', this.item, 'refresh after close()');
      if (typeof generation === 'bigint') {
        if (generation < 0n || generation >= BigInt(GENERATION_LIMIT))
          throw new WxShmError('EINVAL', this.item, 'generation out of range');
        generation = Number(generation);
      }
      if (!Number.isSafeInteger(generation) || generation < 0)
        throw new WxShmError('EINVAL', this.item, 'generation must be an integer in [0, 2^53)');
    } catch (err) {
      return Promise.reject(err);
    }
    let p = this._inflight.get(generation);
    if (!p) {
      p = client.refresh({ socket: this.socket }, this.item, generation, opts.timeoutMs, this._owner);
      this._inflight.set(generation, p);
      const done = () => { if (this._inflight.get(generation) === p) this._inflight.delete(generation); };
      p.then(done, done);
    }
    if (!opts.token)
      return p.then((r) => r.generation);
    return p.then((r) => this._tokenOf(r));
  }

  // The token the refresh answered with: the segment's if it already shows it (all fields), else the reply's.
  _tokenOf(r) {
    let t = null;
    try {
      t = this.read();
    } catch {
      t = null;
    }
    if (t && t.generation === r.generation && (typeof r.token !== 'string' || t.token === r.token))
      return t;
    if (typeof r.token !== 'string') {
      if (t)
        return t;  // an agent without "token": the segment is all there is
      throw new WxShmError('EPROTO', this.item, 'no token in the reply and none readable');
    }
    const exp = Number.isSafeInteger(r.expires_at_ms) ? r.expires_at_ms : (t ? t.expiresAtMs : 0);
    return new Token(r.token, r.generation, exp, t ? t.fetchedAtMs : 0, t ? t.state : 'fresh', Date.now() >= exp,
                     { agentAlive: t ? t.agentAlive : true, agentPid: t ? t.agentPid : 0,
                       lastErrcode: t ? t.lastErrcode : 0 });
  }

  // Unmap the segment. Idempotent; a read after it is EINVAL.
  close() {
    if (this._h !== null) {
      native.load().close(this._h);
      this._h = null;
    }
  }
}

// Open item's segment ("shop", "shop.jsapi"). opts.dir: the segment directory (default $WXSHM_DIR or
// /dev/shm/wxtokend); opts.socket: the agent's socket (default $WXTOKEND_SOCKET or /run/wxtokend/wxtokend.sock).
function open(item, opts = {}) {
  checkName(item);
  if (opts.dir !== undefined && (typeof opts.dir !== 'string' || !path.isAbsolute(opts.dir)
                                 || Buffer.byteLength(opts.dir) >= 256))
    throw new WxShmError('EINVAL', item, 'dir must be an absolute path shorter than 256 bytes');
  return new Handle(item, opts);
}

module.exports = { open, Handle, Token, WxShmError, codes, STATES, TOKEN_MAX, closeIdle: client.closeIdle };

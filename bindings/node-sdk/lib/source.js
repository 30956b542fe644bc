// lib/source.js: what both adapters share: the token and ticket segments of one app, and "which generation did this token come from".
'use strict';

const wxshm = require('wxshm');

// WeChat's answers for a token it will not take: invalid (40001), not a token (40014), expired (42001).
const REFUSED = new Set([40001, 40014, 42001]);
// Tokens handed out recently, to find the generation a request used from the token in its URL.
const REMEMBER = 16;
// An SDK drops a token whose expireTime has passed and fetches one itself: a stale token
// (the agent could not renew it) is still offered, WeChat decides, and a refusal refreshes it.
const STALE_GRACE_MS = 60 * 1000;
const RATE_LIMITED_TRIES = 4;

class Source {
  constructor(item, opts = {}) {
    this.item = item;
    this.opts = opts;
    this.timeoutMs = opts.timeoutMs || 5000;
    this.handle = wxshm.open(item, opts);
    this.tickets = new Map();
    this.generations = new Map();
    this.stats = { reads: 0, refreshes: 0, retries: 0 };
  }

  // The token now published, remembered with its generation.
  read() {
    const t = this.handle.read();
    this.stats.reads++;
    this.generations.delete(t.token);
    this.generations.set(t.token, t.generation);
    if (this.generations.size > REMEMBER)
      this.generations.delete(this.generations.keys().next().value);
    return t;
  }

  // The SDKs' token object: { accessToken, expireTime }.
  accessToken() {
    const t = this.read();
    return { accessToken: t.token, expireTime: expireTime(t) };
  }

  generationOf(token) {
    return this.generations.get(token);
  }

  // WeChat refused the token of `generation`: the agent replaces THAT generation (a newer one
  // already published is returned without another upstream call); then the token to retry with.
  // The agent spaces forced refreshes (min_force_interval): a rate-limited one is asked again
  // after the wait it names, a bounded number of times.
  async replace(generation) {
    this.stats.refreshes++;
    for (let i = 0; ; i++) {
      try {
        await this.handle.refresh(generation, { timeoutMs: this.timeoutMs });
        return this.read();
      } catch (e) {
        if (e.code !== 'EAGAIN' || i + 1 >= RATE_LIMITED_TRIES)
          throw e;
        await new Promise((done) => setTimeout(done, Math.min(e.retryAfterMs || 100, 2000)));
      }
    }
  }

  // The `APP.<type>` segment (tickets = jsapi in the agent's config publishes APP.jsapi).
  ticket(type) {
    type = type || 'jsapi';
    let h = this.tickets.get(type);
    if (!h) {
      h = wxshm.open(`${this.item}.${type}`, this.opts);
      this.tickets.set(type, h);
    }
    const t = h.read();
    return { ticket: t.token, expireTime: expireTime(t), generation: t.generation };
  }

  close() {
    this.handle.close();
    for (const h of this.tickets.values())
      h.close();
    this.tickets.clear();
  }
}

function expireTime(t) {
  return t.stale ? Date.now() + STALE_GRACE_MS : t.expiresAtMs;
}

// The errcode of a failed call, from an SDK error or a WeChat body.
function errcodeOf(err, data) {
  if (data && typeof data.errcode === 'number' && data.errcode)
    return data.errcode;
  if (err && typeof err.code === 'number')
    return err.code;
  return 0;
}

// A URL's access_token replaced, nothing else touched.
function withToken(url, token) {
  return url.replace(/([?&]access_token=)[^&#]*/, `$1${encodeURIComponent(token)}`);
}

function tokenIn(url) {
  const m = /[?&]access_token=([^&#]*)/.exec(url);
  return m ? decodeURIComponent(m[1]) : undefined;
}

// The adapters never fetch: anything that would is this error instead.
function noFetch(what) {
  const err = new Error(`${what}: wxshm-sdk serves tokens and tickets from wxtokend only, never fetches them`);
  err.name = 'WeChatAPIError';
  err.code = 'EWXSHM_NOFETCH';
  return err;
}

module.exports = { Source, REFUSED, errcodeOf, withToken, tokenIn, noFetch };

// errors.js: WxShmError, the one error class of the binding, keyed by errno name as Node's own errors are.
'use strict';

const os = require('node:os');

// What each code means here (the contract's table); the message says it in words.
const MEANINGS = {
  ENOENT: 'not found: the agent does not know this item yet, or no agent runs',
  ENXIO: 'removed: the item was taken out of the agent\'s configuration',
  EIDRM: 'retired: the segment was replaced (re-opened automatically)',
  EACCES: 'access denied: ask to be in the item\'s group',
  EPERM: 'not trusted: not made by the agent, or the socket\'s server is not the segment\'s owner',
  EBADMSG: 'not a wxshm segment, or corrupt',
  EPROTONOSUPPORT: 'a newer segment layout than this binding reads',
  ENODATA: 'no token published yet',
  EAGAIN: 'busy: the agent is still making the segment, the writer kept changing the token, or forced refreshes are rate limited',
  ETIMEDOUT: 'no new generation within the timeout',
  EIO: 'the upstream call failed; the old token stays published',
  EBUSY: 'too many callers are already waiting for this item',
  ECONNREFUSED: 'the agent is not running, or is stopping',
  EPROTO: 'the agent\'s reply was not understood',
  EINVAL: 'invalid argument',
  ENOBUFS: 'token longer than the buffer',
  EOPNOTSUPP: 'no lock-free 64-bit atomics on this CPU',
};

class WxShmError extends Error {
  // code: 'ENOENT' etc.; errno: negative, as in Node's system errors (-os.constants.errno[code]).
  constructor(code, item, detail, extra) {
    const what = MEANINGS[code] || 'error';
    super(`${code}: ${item !== undefined ? `${item}: ` : ''}${detail || what}`);
    this.name = 'WxShmError';
    this.code = code;
    const n = os.constants.errno[code];
    this.errno = n === undefined ? undefined : -n;
    this.item = item;
    if (extra && extra.retryAfterMs !== undefined)
      this.retryAfterMs = extra.retryAfterMs;
    if (extra && extra.syscall !== undefined)
      this.syscall = extra.syscall;
  }
}

// The code of a negative errno number (as libwxshm returns them).
const NAMES = new Map();
for (const [name, n] of Object.entries(os.constants.errno))
  if (!NAMES.has(n))
    NAMES.set(n, name);
// Linux aliases: prefer the names the contract uses.
NAMES.set(os.constants.errno.EAGAIN, 'EAGAIN');
NAMES.set(os.constants.errno.EOPNOTSUPP, 'EOPNOTSUPP');

function codeOf(negErrno) {
  return NAMES.get(-negErrno) || `E${-negErrno}`;
}

// The codes, so callers can compare without typing strings: wxshm.codes.REMOVED === 'ENXIO'.
const codes = Object.freeze({
  NOT_FOUND: 'ENOENT',
  REMOVED: 'ENXIO',
  RETIRED: 'EIDRM',
  ACCESS_DENIED: 'EACCES',
  NOT_TRUSTED: 'EPERM',
  CORRUPT: 'EBADMSG',
  NEWER_VERSION: 'EPROTONOSUPPORT',
  NO_TOKEN_YET: 'ENODATA',
  BUSY: 'EAGAIN',
  TIMED_OUT: 'ETIMEDOUT',
  UPSTREAM_FAILED: 'EIO',
  TOO_MANY_WAITERS: 'EBUSY',
  AGENT_NOT_RUNNING: 'ECONNREFUSED',
  BAD_REPLY: 'EPROTO',
  INVALID: 'EINVAL',
});

module.exports = { WxShmError, codeOf, codes, MEANINGS };

// wechat-api.js: plugs wxtokend into a wechat-api instance: every token and ticket from shared memory, a refused one refreshed by its generation.
'use strict';

const { Source, REFUSED, errcodeOf, noFetch } = require('./lib/source');

// attach(api, item, opts): `api` is a wechat-api `new API(appid, secret)`; its secret is never
// used. Returns the api. opts: { dir, socket, timeoutMs } as wxshm.open plus the refresh wait.
function attach(api, item, opts = {}) {
  const src = new Source(item, opts);

  api.getToken = function (callback) {
    let t;
    try {
      t = src.accessToken();
    } catch (e) {
      return callback(e);
    }
    callback(null, t);
  };
  api.saveToken = (token, callback) => callback(null);
  api.getAccessToken = function (callback) {
    this.getToken(callback);
    return this;
  };

  // wechat-api keeps the token in the SDK-wide `this.token`, which a method reads when it builds
  // its URL, synchronously at its start: set it just before, and keep THIS call's generation here.
  // Its own preRequest retries a 40001 with the same token; this one refreshes that generation.
  api.preRequest = function (method, args, retried) {
    const callback = args[args.length - 1];
    let t;
    try {
      t = src.read();
    } catch (e) {
      return callback(e);
    }
    this.token = { accessToken: t.token, expireTime: t.expiresAtMs };
    if (retried)
      return method.apply(this, args);
    const rest = Array.prototype.slice.call(args, 0, -1);
    rest.push((err, data, res) => {
      if (!REFUSED.has(errcodeOf(err, data)))
        return callback(err, data, res);
      src.replace(t.generation).then(() => {
        src.stats.retries++;
        this.preRequest(method, args, true);
      }, () => callback(err, data, res));
    });
    method.apply(this, rest);
  };

  // Tickets from APP.<type>; getTicket (the SDK's own fetch) is served from there too.
  const ticket = (type, callback) => {
    if (typeof type === 'function') {
      callback = type;
      type = 'jsapi';
    }
    let tk;
    try {
      tk = src.ticket(type);
    } catch (e) {
      return callback(e.code === 'ENOENT' ? noFetch(`getTicket(${type})`) : e);
    }
    callback(null, tk);
  };
  api.registerTicketHandle(ticket, (type, tk, callback) => (callback || tk)(null));
  api.getTicket = ticket;
  api.wxshm = src;
  return api;
}

module.exports = { attach };

// co-wechat-api.js: plugs wxtokend into a co-wechat-api instance: every token and ticket from shared memory, a refused one refreshed by its generation.
'use strict';

const { Source, REFUSED, withToken, tokenIn, noFetch } = require('./lib/source');

// attach(api, item, opts): `api` is a co-wechat-api `new API(appid, secret, ...)`; its secret is
// never used. Returns the api. opts: { dir, socket, timeoutMs } as wxshm.open plus the refresh wait.
function attach(api, item, opts = {}) {
  const src = new Source(item, opts);

  // Its fifth constructor argument: with it set, a token that is missing or past expireTime
  // throws 40001 instead of calling getAccessToken(), and request() does not fetch on 40001/42001.
  api.tokenFromCustom = true;
  api.getToken = async () => src.accessToken();
  api.saveToken = async () => {};
  // Nothing inside the SDK reaches these with the hooks above; user code might.
  api.getAccessToken = async () => {
    const t = src.read();
    return new api.constructor.AccessToken(t.token, t.stale ? Date.now() + 60000 : t.expiresAtMs);
  };
  // Tickets from APP.<type>: ensureTicket() finds them valid and never calls getTicket().
  api.registerTicketHandle(async (type) => src.ticket(type), async () => {});
  api.getTicket = async (type) => {
    try {
      return src.ticket(type);
    } catch (e) {
      throw e.code === 'ENOENT' ? noFetch(`getTicket(${type || 'jsapi'})`) : e;
    }
  };

  // request(url, opts, retry) per call: the token in THIS url gives the generation this request used.
  const request = api.request;
  api.request = async function (url, ropts) {
    const token = tokenIn(url);
    const generation = token === undefined ? undefined : src.generationOf(token);
    try {
      return await request.call(this, url, ropts, 0);
    } catch (err) {
      if (generation === undefined || !REFUSED.has(err.code))
        throw err;
      const t = await src.replace(generation);
      src.stats.retries++;
      return request.call(this, withToken(url, t.token), ropts, 0);
    }
  };
  api.wxshm = src;
  return api;
}

module.exports = { attach };

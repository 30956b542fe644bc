// test/scenario.js: drives one npm SDK (adapted, or with its stock hooks only) through planned and outside rotations against wxemu and the real agent; prints the figures as JSON.
//
// Usage (under tests/conformance/with-agent.sh): node scenario.js co|wa adapter|stock right|wrong
// The caller checks the figures; this script only measures (and exits 0 unless it could not run).
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const wxshm = require('wxshm');

const [sdk, mode, secretKind] = process.argv.slice(2);
const emu = process.env.WXEMU_URL;
const appid = process.env.WXEMU_APPID_shop;
const mallAppid = process.env.WXEMU_APPID_mall;

// The app's real secret, from the agent's config (the SDK is given it, or a wrong one).
function secretOf(app) {
  const conf = fs.readFileSync(process.env.WXTOKEND_CONF, 'utf8');
  const section = conf.split(/^\[app /m).find((s) => s.startsWith(`${app}]`));
  return fs.readFileSync(/secret_file = (.*)/.exec(section)[1], 'utf8').trim();
}
const secret = secretKind === 'right' ? secretOf('shop') : 'wrong0000000000000000000000000000';

async function emuStats(id) {
  return (await (await fetch(`${emu}/emu/stats`)).json()).apps[id];
}
async function emuPost(what, id) {
  const res = await fetch(`${emu}/emu/${what}?app=${id}`, { method: 'POST' });
  if (!res.ok)
    throw new Error(`/emu/${what}: ${res.status}`);
}
// A planned rotation: the agent replaces its token (spaced by its min_force_interval: a
// rate-limited ask is repeated after the wait the agent names).
async function agentRefresh(h) {
  const g = h.read().generation;
  for (let i = 0; ; i++) {
    try {
      return await h.refresh(g, { timeoutMs: 5000 });
    } catch (e) {
      if (e.code !== 'EAGAIN' || i >= 20)
        throw e;
      await new Promise((done) => setTimeout(done, Math.min(e.retryAfterMs || 100, 2000)));
    }
  }
}

// Latency injected on the way to WeChat (the test's, not the SDK's): in the last burst, the
// calls made with the dead token reach wxemu 400 ms apart (the agent spaces forced refreshes by 1 s), so some are refused only after an
// earlier one's refresh has published a new generation. Glue that refreshes "the generation
// published now" instead of the one its request used then forces extra rotations.
const slow = { token: null, next: 0 };
let sdkCallbacks = 0;                      // business requests the SDK sent to wxemu, retries included
function slowed(api) {
  const request = api.request;
  api.request = function (url, ...rest) {
    if (url.includes('/getcallbackip?'))
      sdkCallbacks++;
    const m = /[?&]access_token=([^&]*)/.exec(url);
    if (!slow.token || !m || decodeURIComponent(m[1]) !== slow.token)
      return request.call(this, url, ...rest);
    const delay = slow.next++ * 400;
    if (sdk === 'co')
      return new Promise((done) => setTimeout(done, delay)).then(() => request.call(this, url, ...rest));
    setTimeout(() => request.call(this, url, ...rest), delay);
  };
  return api;
}

function makeApi(id, sec) {
  if (sdk === 'co') {
    const API = require('co-wechat-api');
    let api;
    if (mode === 'adapter') {
      api = require('wxshm-sdk/co-wechat-api').attach(slowed(new API(id, sec)), id === appid ? 'shop' : 'mall');
    } else {
      // The documented hooks only, serving the agent's token: what the issue measured.
      const h = wxshm.open(id === appid ? 'shop' : 'mall');
      api = new API(id, sec, async () => {
        const t = h.read();
        return { accessToken: t.token, expireTime: t.expiresAtMs };
      }, async () => {});
      slowed(api);
    }
    api.prefix = `${emu}/cgi-bin/`;
    return { getIp: () => api.getIp(), getJsConfig: (p) => api.getJsConfig(p), getTicket: () => api.getLatestTicket(), api };
  }
  const API = require('wechat-api');
  let api;
  if (mode === 'adapter') {
    api = require('wxshm-sdk/wechat-api').attach(slowed(new API(id, sec)), id === appid ? 'shop' : 'mall');
  } else {
    const h = wxshm.open(id === appid ? 'shop' : 'mall');
    api = new API(id, sec, (cb) => {
      const t = h.read();
      cb(null, { accessToken: t.token, expireTime: t.expiresAtMs });
    }, (token, cb) => cb(null));
    slowed(api);
  }
  api.endpoint = emu;   // setEndpoint() would force https://
  const p = (f) => (...a) => new Promise((ok, ko) => f.call(api, ...a, (e, d) => (e ? ko(e) : ok(d))));
  return { getIp: p(api.getIp), getJsConfig: p(api.getJsConfig), getTicket: p(api.getLatestTicket), api };
}

// One business call; a failure is counted, not thrown. Bounded: a stock SDK may loop.
// A stock SDK given a wrong secret loops without end: its calls are cut after 2 s (and the run after one).
const looping = mode === 'stock' && secretKind === 'wrong';
async function call(sdkApi, tally) {
  const limit = looping ? 2000 : 10000;
  let timer;
  try {
    const body = await Promise.race([sdkApi.getIp(), new Promise((_, ko) => {
      timer = setTimeout(() => ko(new Error(`no answer in ${limit} ms`)), limit);
    })]);
    if (body && Array.isArray(body.ip_list))
      tally.ok++;
    else
      tally.failed++;
  } catch (e) {
    tally.failed++;
    tally.errors[e.code || e.message] = (tally.errors[e.code || e.message] || 0) + 1;
  } finally {
    clearTimeout(timer);
  }
}

async function main() {
  const seg = wxshm.open('shop');
  const gen0 = seg.read().generation;
  const s0 = await emuStats(appid);
  const m0 = await emuStats(mallAppid);
  const shop = makeApi(appid, secret);
  const planned = { ok: 0, failed: 0, errors: {} };
  const outside = { ok: 0, failed: 0, errors: {} };
  const PLANNED = 3;
  let events = 0;

  for (let i = 0; i < 10; i++)
    await call(shop, planned);
  for (let r = 0; r < PLANNED; r++) {
    await agentRefresh(seg);                  // the agent rotates; the SDK just reads the new token
    for (let i = 0; i < 10; i++)
      await call(shop, planned);
  }
  // Outside rotations: another server fetched (the published token dies), then an expiry; the
  // last one hits a burst of 8 concurrent calls that all used the same generation.
  for (const [what, burst] of [['rotate', 1], ['expire', 1], ['rotate', 8]]) {
    if (burst > 1)
      slow.token = seg.read().token;       // the token about to die
    await emuPost(what, appid);
    events++;
    await Promise.all(Array.from({ length: burst }, () => call(shop, outside)));
    slow.token = null;
    if (looping)
      break;
    for (let i = 0; i < 4; i++)
      await call(shop, outside);
  }
  const gen1 = seg.read().generation;
  const s1 = await emuStats(appid);

  // Tickets (mall has tickets = jsapi): the JS-SDK signature is made with the ticket the agent published.
  const ticket = { ok: 0, failed: 0, errors: {} };
  let mall;
  try {
    mall = makeApi(mallAppid, secretKind === 'right' ? secretOf('mall') : secret);
    const t = wxshm.open('mall.jsapi').read();
    const cfg = await mall.getJsConfig({ url: 'https://example.com/page', jsApiList: [] });
    const want = crypto.createHash('sha1').update(
      `jsapi_ticket=${t.token}&noncestr=${cfg.nonceStr}&timestamp=${cfg.timestamp}&url=https://example.com/page`).digest('hex');
    const got = await mall.getTicket();
    if (cfg.signature === want && got.ticket === t.token)
      ticket.ok++;
    else
      ticket.failed++;
  } catch (e) {
    ticket.failed++;
    ticket.errors[e.code || e.message] = 1;
  }
  const m1 = await emuStats(mallAppid);

  const agentCalls = gen1 - gen0;          // each generation the agent published is one upstream call
  const figures = {
    sdk, mode, secret: secretKind,
    business: { planned, outside },
    events,
    planned_rotations: PLANNED,
    agent_token_calls: agentCalls,
    agent_forced: agentCalls - PLANNED,
    sdk_token_calls: (s1.token_calls - s0.token_calls) - agentCalls,
    adapter_refresh_requests: shop.api.wxshm ? shop.api.wxshm.stats.refreshes : null,
    callbacks_refused: (s1.callback_40001 - s0.callback_40001) + (s1.callback_42001 - s0.callback_42001),
    sdk_business_requests: sdkCallbacks,
    ticket,
    sdk_ticket_calls: m1.ticket_calls - m0.ticket_calls,
    sdk_token_calls_mall: m1.token_calls - m0.token_calls,
  };
  console.log(JSON.stringify(figures));
  process.exit(0);                         // a stock SDK may still be looping: the figures are taken
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});

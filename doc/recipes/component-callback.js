// component-callback.js: a third-party platform's event URL (or a WeCom suite's instruction callback): checks msg_signature, decrypts, forwards tickets and authorizations to wxtokend.
'use strict';
const http = require('node:http');
const net = require('node:net');
const crypto = require('node:crypto');

const TOKEN = process.env.WX_TOKEN; // the platform's message check token
const KEY = Buffer.from(`${process.env.WX_AES_KEY}=`, 'base64'); // its EncodingAESKey: 43 characters, 32 bytes
const APPID = process.env.WX_COMPONENT_APPID; // the component_appid the pushes are for (a WeCom suite: its SuiteId)
const APP = process.env.WXTOKEND_APP; // its [app NAME] (kind = component, or suite) in wxtokend.conf
const SOCKET = process.env.WXTOKEND_SOCKET || '/run/wxtokend/wxtokend.sock'; // this user: root or the agent's group

const field = (xml, tag) => (new RegExp(`<${tag}>(?:<!\\[CDATA\\[(.*?)\\]\\]>|([^<]*))</${tag}>`).exec(xml) || [])
  .slice(1).find((v) => v !== undefined);

// The pushed XML in clear, or null unless signed with TOKEN and encrypted for APPID with KEY.
function open(q, body) {
  const encrypt = field(body, 'Encrypt');
  const sig = crypto.createHash('sha1')
    .update([TOKEN, q.get('timestamp') || '', q.get('nonce') || '', encrypt || ''].sort().join('')).digest();
  const given = Buffer.from(q.get('msg_signature') || '', 'hex');
  if (!encrypt || KEY.length !== 32 || given.length !== 20 || !crypto.timingSafeEqual(given, sig)) return null;
  const d = crypto.createDecipheriv('aes-256-cbc', KEY, KEY.subarray(0, 16)).setAutoPadding(false);
  const plain = Buffer.concat([d.update(encrypt, 'base64'), d.final()]);
  const pad = plain[plain.length - 1], len = plain.length >= 20 ? plain.readUInt32BE(16) : -1;
  if (pad < 1 || pad > 32 || len < 0 || 20 + len > plain.length - pad) return null;
  return plain.subarray(20 + len, plain.length - pad).toString() === APPID ? plain.subarray(20, 20 + len).toString() : null;
}

http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => { size += c.length; if (size > 65536) req.destroy(); else chunks.push(c); });
  req.on('end', () => {
    let msg = null;
    try { msg = open(new URL(req.url, 'http://x').searchParams, Buffer.concat(chunks).toString()); } catch { msg = null; }
    if (!msg) return res.writeHead(403).end('bad signature or message\n');
    const type = field(msg, 'InfoType');
    let put; // what the agent must hear of it: the ticket, an authorization (its code), a cancel
    if (type === 'component_verify_ticket') {
      put = { op: 'ticket', app: APP, ticket: field(msg, 'ComponentVerifyTicket'), create_time: Number(field(msg, 'CreateTime')) };
    } else if (type === 'authorized' || type === 'updateauthorized') {
      put = { op: 'authorizer_add', component: APP, auth_code: field(msg, 'AuthorizationCode') };
    } else if (type === 'unauthorized') {
      put = { op: 'authorizer_remove', component: APP, appid: field(msg, 'AuthorizerAppid') };
    } else if (type === 'suite_ticket') { // WeCom: by its TimeStamp
      put = { op: 'ticket', app: APP, ticket: field(msg, 'SuiteTicket'), create_time: Number(field(msg, 'TimeStamp')) };
    } else if (type === 'create_auth') { // names no corp: get_permanent_code's answer does
      put = { op: 'authorizer_add', component: APP, auth_code: field(msg, 'AuthCode') };
    } else if (type === 'cancel_auth') {
      put = { op: 'authorizer_remove', component: APP, appid: field(msg, 'AuthCorpId') };
    } else {
      return res.end('success'); // other events: yours
    }
    // WeChat pushes again unless it reads "success": say it once the agent has taken it (or has it already).
    let answer = '';
    const agent = net.createConnection(SOCKET, () => agent.write(`${JSON.stringify(put)}\n`)).setTimeout(4000);
    agent.on('data', (d) => { answer += d; if (answer.includes('\n')) agent.end(); });
    agent.on('timeout', () => agent.destroy(new Error('no answer in 4 s')));
    agent.on('close', () => {
      let r = {};
      try { r = JSON.parse(answer); } catch { r = { error: 'no answer', message: answer || SOCKET }; }
      // A cancel for an account the agent no longer holds is done; a used code will not work again either.
      const done = r.ok || (put.op === 'authorizer_remove' && /has no authorizer/.test(r.message || '')) ||
        (put.auth_code && /61009|40078/.test(r.message || ''));
      if (!r.ok) console.error(`${type} not taken: ${r.error}: ${r.message}`);
      if (done) res.end('success'); else res.writeHead(503).end();
    });
    agent.on('error', () => {}); // 'close' follows and answers
  });
}).listen(Number(process.env.PORT || 8080), process.env.HOST || '127.0.0.1', function listening() {
  console.log(`listening on ${this.address().port}`);
});

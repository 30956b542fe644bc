// example.js: the README's example: read the token, call WeChat, on a refused token refresh that generation and retry once.
'use strict';

const wxshm = require('wxshm');

const api = process.env.WXEMU_URL || 'https://api.weixin.qq.com';
const shop = wxshm.open('shop');

async function callWeChat(pathAndQuery) {
  for (let attempt = 0; ; attempt++) {
    const t = shop.read();                      // no system call; t.stale: expired, still worth a try
    const sep = pathAndQuery.includes('?') ? '&' : '?';
    const res = await fetch(`${api}${pathAndQuery}${sep}access_token=${encodeURIComponent(t.token)}`);
    const body = await res.json();
    const refused = [40001, 40014, 42001].includes(body.errcode);
    if (!refused || attempt === 1)
      return body;
    // Name the generation THIS request used: the agent refreshes once for everyone, never twice.
    await shop.refresh(t.generation, { timeoutMs: 5000 });
  }
}

callWeChat('/cgi-bin/getcallbackip').then((body) => {
  console.log(body.errcode ? `WeChat said ${body.errcode}` : `ok: ${body.ip_list.length} callback IPs`);
  shop.close();
}, (err) => {
  // err.code: 'ENOENT' (no agent / app unknown), 'EACCES', 'ETIMEDOUT', ...
  console.error(`${err.code}: ${err.message}`);
  process.exitCode = 1;
});

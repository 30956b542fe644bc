// bench.js: per-read cost of the binding vs a fresh string of the token's length vs the socket's get (run beside the agent).
'use strict';

const fs = require('node:fs');
const wxshm = require('wxshm');
const client = require('wxshm/lib/client');

const ROUNDS = 9;

function median(a) {
  const s = [...a].sort((x, y) => x - y);
  return s[s.length >> 1];
}

// ns per call of fn, over n calls; the results are kept so nothing is optimised away.
let sink = 0;
function timeSync(fn, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++)
    sink += fn().length;
  return Number(process.hrtime.bigint() - t0) / n;
}

async function timeAsync(fn, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++)
    sink += (await fn()).length;
  return Number(process.hrtime.bigint() - t0) / n;
}

async function main() {
  const h = wxshm.open('shop');
  const len = h.read().token.length;
  const chars = ['x', 'y'];
  let k = 0;
  const results = { read: [], baseline: [], get: [] };
  await client.get({}, 'shop');   // connect once: the get is timed on a kept-open connection
  for (let r = 0; r < ROUNDS; r++) {
    results.read.push(timeSync(() => h.read().token, 200000));
    // A fresh string of the token's length: the language's own cost of handing out a token.
    results.baseline.push(timeSync(() => chars[k++ & 1].repeat(len), 200000));
    results.get.push(await timeAsync(async () => (await client.get({}, 'shop')).token, 2000));
  }
  const read = median(results.read), base = median(results.baseline), get = median(results.get);
  const lines = [
    `Node.js ${process.version} binding (koffi ${require('koffi').version} over libwxshm), token length ${len}, medians of ${ROUNDS} rounds`,
    `  read()                      ${(read / 1000).toFixed(3)} us`,
    `  baseline ('x'.repeat(n))    ${(base / 1000).toFixed(3)} us   read/baseline = ${(read / base).toFixed(1)}x`,
    `  socket get (kept open)      ${(get / 1000).toFixed(3)} us   get/read = ${(get / read).toFixed(1)}x`,
  ];
  console.log(lines.join('\n'));
  if (process.env.WXRESULTS)
    fs.writeFileSync(`${process.env.WXRESULTS}/bench-binding-node.txt`, lines.join('\n') + '\n');
  h.close();
  client.closeIdle();
  if (sink < 0)
    console.log(sink);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });

// test/check.js: judges one scenario's figures (scenario.js's JSON on stdin): the adapter's rules, or that a stock SDK breaks them.
'use strict';

const f = JSON.parse(require('node:fs').readFileSync(0, 'utf8').trim().split('\n').pop());
const b = f.business;
const broken = [];
if (b.planned.failed !== 0)
  broken.push(`${b.planned.failed} failed business calls on planned rotations`);
if (b.outside.failed !== 0)
  broken.push(`${b.outside.failed} failed business calls after outside rotations`);
if (f.sdk_token_calls !== 0)
  broken.push(`${f.sdk_token_calls} token calls by the SDK itself`);
if (f.agent_forced !== f.events)
  broken.push(`${f.agent_forced} forced refreshes for ${f.events} events`);
if (f.sdk_ticket_calls !== 0 || f.sdk_token_calls_mall !== 0)
  broken.push(`${f.sdk_ticket_calls} ticket and ${f.sdk_token_calls_mall} token calls for mall by the SDK`);
if (f.ticket.ok !== 1)
  broken.push(`the JS-SDK signature or ticket is not the published ticket's (${JSON.stringify(f.ticket.errors)})`);

console.log(`  figures: ${JSON.stringify(f)}`);
for (const why of broken)
  console.log(`  ${f.mode === 'stock' ? 'stock SDK' : 'adapter'}: ${why}`);
// The adapter keeps every rule; a stock SDK (the control) must break at least one, or the test cannot tell.
process.exit(f.mode === 'stock' ? (broken.length > 0 ? 0 : 1) : (broken.length === 0 ? 0 : 1));

// kit.js: the conformance kit from JavaScript: the token formula, the writer, and a raw mapping for the negative control.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const WXBUILD = process.env.WXBUILD || path.resolve(__dirname, '../../../build/default');
const ALPHA = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const REP = ALPHA.repeat(34);
const BASE_MS = 4102444800000;

function tokenOf(g) {
  const off = (g * 17) % 64;
  return REP.substring(off, off + 1 + (g * 7919) % 2048);
}

// Whether a read (token, generation, expiresAtMs, fetchedAtMs) is exactly what generation g publishes.
function matches(token, g, expiresAtMs, fetchedAtMs) {
  return g > 0 && expiresAtMs === BASE_MS + g && fetchedAtMs === BASE_MS - g && token === tokenOf(g);
}

// Start wxconf-writer on dir/item; resolves to the child once it said "ready".
function startWriter(dir, item, seconds) {
  const child = spawn(path.join(WXBUILD, 'tests/conformance/wxconf-writer'), [dir, item, String(seconds)],
                      { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout });
    rl.on('line', (l) => { if (l.startsWith('ready')) resolve(child); });
    child.once('exit', (code) => reject(new Error(`wxconf-writer exited ${code} before ready`)));
    child.once('error', reject);
  });
}

function stopWriter(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null)
      return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

// The segment mapped read-only and shared (libc mmap through koffi), as an ArrayBuffer over the
// same memory libwxshm reads: what the negative control's reader, written in JS, reads from.
function mapSegment(file) {
  const koffi = require('koffi');
  const libc = koffi.load('libc.so.6');
  const mmap = libc.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)');
  const fd = fs.openSync(file, 'r');
  try {
    const p = mmap(null, 4416, 1 /* PROT_READ */, 1 /* MAP_SHARED */, fd, 0);
    if (koffi.address(p) === -1n || koffi.address(p) === 0xffffffffffffffffn)
      throw new Error('mmap failed');
    return koffi.view(p, 4416);
  } finally {
    fs.closeSync(fd);
  }
}

// The recipe of doc/segment.md in JS (acquire loads of every copied word through Atomics), with the
// second seq check optional: recheck=false is the negative control, which the kit must catch.
function makeRawReader(ab, recheck) {
  const w32 = new Int32Array(ab);
  const tok = new Uint8Array(2048);
  const t32 = new Int32Array(tok.buffer);
  return function read() {
    for (let tries = 0; tries < 1024; tries++) {
      const s = Atomics.load(w32, 16);                    // seq, offset 64 (low word)
      const base = (192 + (s & 1) * 2112) >> 2;
      const length = Atomics.load(w32, base);
      const generation = (Atomics.load(w32, base + 2) >>> 0) + Atomics.load(w32, base + 3) * 0x100000000;
      const expires = (Atomics.load(w32, base + 4) >>> 0) + Atomics.load(w32, base + 5) * 0x100000000;
      const fetched = (Atomics.load(w32, base + 6) >>> 0) + Atomics.load(w32, base + 7) * 0x100000000;
      const n = Math.min(length >>> 0, 2048);
      for (let i = 0; i < (n + 3) >> 2; i++)
        t32[i] = Atomics.load(w32, base + 16 + i);
      if (recheck && Atomics.load(w32, 16) !== s)
        continue;
      return { token: Buffer.from(tok.buffer, 0, n).toString('latin1'), generation, expiresAtMs: expires, fetchedAtMs: fetched };
    }
    return null;
  };
}

module.exports = { WXBUILD, tokenOf, matches, startWriter, stopWriter, mapSegment, makeRawReader, BASE_MS };

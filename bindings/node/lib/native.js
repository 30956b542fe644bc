// native.js: libwxshm (and libc's getsockopt, for SO_PEERCRED) through koffi, loaded once on first use.
'use strict';

let lib = null;

function load() {
  if (lib)
    return lib;
  const koffi = require('koffi');
  // WXSHM_LIBRARY lets tests and odd installs name the file; else the dynamic linker finds it.
  const so = koffi.load(process.env.WXSHM_LIBRARY || 'libwxshm.so.1');
  // The handle is opaque: only its address travels between the calls.
  koffi.opaque('wxshm');
  const l = {
    // Buffers go in as void *: koffi passes their memory as is, no conversion per call.
    open: so.func('int wxshm_open(_Out_ wxshm **ret, const char *app)'),
    read: so.func('int wxshm_read(wxshm *h, void *buf, size_t size, void *info)'),
    close: so.func('void wxshm_close(wxshm *h)'),
  };
  try {
    const libc = koffi.load('libc.so.6');
    l.getsockopt = libc.func('int getsockopt(int fd, int level, int name, void *val, _Inout_ uint32_t *len)');
  } catch {
    l.getsockopt = null;
  }
  lib = l;
  return lib;
}

// The uid of the process at the other end of the Unix socket fd, or undefined if it cannot be asked.
const SOL_SOCKET = 1;
const SO_PEERCRED = process.arch === 'ppc64' || process.arch === 'ppc' ? 21 : (process.arch.startsWith('mips') ? 18 : 17);
function peerUid(fd) {
  const l = load();
  if (!l.getsockopt || typeof fd !== 'number' || fd < 0)
    return undefined;
  const cred = Buffer.alloc(12);
  const len = [12];
  if (l.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, len) !== 0 || len[0] < 12)
    return undefined;
  return cred.readUInt32LE(4);
}

module.exports = { load, peerUid };

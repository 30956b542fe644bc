<?php
// preload.php: opcache.preload script for PHP-FPM: compiles the WxShm classes and, unless ffi.preload did, loads libwxshm's FFI scope.
// Debian's default ffi.enable=preload allows FFI outside the CLI only through what is preloaded. A
// master running as root needs opcache.preload_user, and FFI::load() refuses to run then: give
// PHP the header with ffi.preload instead (README, "PHP-FPM").
if (ini_get('ffi.preload') === '' || ini_get('ffi.preload') === false)
    FFI::load(__DIR__ . '/src/wxshm.h');
require_once __DIR__ . '/src/WxShm.php';

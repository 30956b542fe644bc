#!/bin/bash
# fpm.sh: php8.2-fpm serves a page that reads the token through the preloaded FFI scope under Debian's
# default ffi.enable=preload; without the preload the same page must fall back to the pure reader.
# Run under tests/conformance/with-agent.sh with WXSHM_LIBRARY set; $1 is a scratch directory.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
work=$1
fpm=$(command -v php-fpm8.2 || echo /usr/sbin/php-fpm8.2)
want=$($WXTOKENCTL get shop)
failed=0
export LD_LIBRARY_PATH=$(dirname "$WXSHM_LIBRARY")
for mode in preload plain; do
	rm -rf "$work/$mode" && mkdir -p "$work/$mode"
	conf=$work/$mode/fpm.conf
	extra=
	[ $mode = preload ] && extra="php_admin_value[opcache.preload] = $here/preload.php"
	cat >"$conf" <<-CONF
	[global]
	pid = $work/$mode/fpm.pid
	error_log = $work/$mode/fpm.log
	daemonize = no
	[www]
	listen = $work/$mode/fpm.sock
	pm = static
	pm.max_children = 2
	clear_env = no
	catch_workers_output = yes
	CONF
	# Debian's php.ini and conf.d (ffi.enable stays at its default, preload); the preload as -d.
	args=(-F -y "$conf" -R)
	[ $mode = preload ] && args+=(-d "opcache.preload=$here/preload.php" -d opcache.preload_user=root -d "ffi.preload=$here/src/wxshm.h")
	"$fpm" "${args[@]}" &
	pid=$!
	for _ in $(seq 200); do [ -S "$work/$mode/fpm.sock" ] && break; sleep 0.05; done
	page=$(php "$here/tests/fcgi.php" "$work/$mode/fpm.sock" "$here/tests/www/index.php" app=shop)
	kill $pid; wait $pid 2>/dev/null
	echo "$mode: $page"
	reader=$(php -r '$j = json_decode(stream_get_contents(STDIN), true); echo ($j["reader"] ?? "none"), " ", ($j["token"] ?? ""), " ", $j["ffi_enable"] ?? "";' <<<"$page")
	if [ $mode = preload ]; then expect="ffi $want preload"; else expect="pure $want preload"; fi
	if [ "$reader" = "$expect" ]; then echo "ok   fpm $mode"; else echo "FAIL fpm $mode: got '$reader'"; cat "$work/$mode/fpm.log"; failed=1; fi
done
exit $failed

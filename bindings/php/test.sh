#!/bin/bash
# test.sh: the PHP binding's whole suite, for each reader (ffi, pure): the shipped header against the
# preprocessor's, unit checks, the conformance kit and its negative control, the samples, the real
# agent with wxemu, and php8.2-fpm reading through the preloaded FFI scope.
#
#   WXBUILD=/abs/build/default WXTOP=/abs/top bindings/php/test.sh
#
# Run as root (the wrongowner sample, the non-root user, FPM). Prints PASS:/FAIL: per part and exits
# 1 if any failed. Writes only under $WXBUILD/bindings/php and temporary directories it removes.
set -u

: "${WXBUILD:?set WXBUILD to a built tree}" "${WXTOP:?set WXTOP to the source top}"
here=$WXTOP/bindings/php
out=$WXBUILD/bindings/php
rm -rf "$out" && mkdir -p "$out"

export WXSHM_LIBRARY=$WXBUILD/libwxshm/.libs/libwxshm.so.1
export WXCONF_BUILD=$WXBUILD
unset WXSHM_DIR WXTOKEND_SOCKET WXSHM_PHP_READER
PHP=/usr/bin/php
conf=$WXBUILD/tests/conformance
with_agent=$WXTOP/tests/conformance/with-agent.sh
id wxconfuser >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin wxconfuser

failed=0
part() {
	local name=$1 log=$out/$1.log start=$SECONDS
	shift
	if (cd "$here" && "$@") >"$log" 2>&1; then
		echo "PASS: $name ($((SECONDS - start)) s)"
		grep -E '^  (conformance|negative control)' "$log"
	else
		echo "FAIL: $name ($((SECONDS - start)) s; log $log)"
		tail -n 30 "$log" | sed 's/^/    /'
		failed=1
	fi
}

# The shipped header must be what the preprocessor makes of libwxshm/wxshm.h today.
part php-header bash -c '"$0"/gen-header.sh | diff -u "$0"/src/wxshm.h -' "$here"

samples=$out/samples
part php-samples-setup "$conf/wxconf-samples" "$samples"

# Each reader reads a writer of its own, started for its parts and stopped after; each conformance
# part reads until its counts are met. The FFI reader's writer publishes as fast as it can. The pure
# reader makes six system calls per read (~20 us a try): against a million publishes a second nearly
# every try sees seq move (on one CI machine 79,719 reads got through in 150 s), so its writer is
# paced 50 us (publishes about 100 us apart: several inside every hundred reads). The negative
# control reads each writer: the pace must still tear an unchecked copy.
declare -A pause_of=([ffi]=0 [pure]=50)
for reader in ffi pure; do
	"$conf/wxconf-writer" "$out/writer-$reader" kit 600 "${pause_of[$reader]}" >"$out/writer-$reader.out" \
		2>"$out/writer-$reader.err" &
	writer=$!
	for _ in $(seq 500); do grep -q '^ready' "$out/writer-$reader.out" 2>/dev/null && break; sleep 0.01; done
	part "php-unit-$reader" $PHP tests/unit.php $reader
	part "php-samples-$reader" $PHP tests/samples.php "$samples" $reader
	part "php-conformance-$reader" $PHP tests/conformance.php "$out/writer-$reader" kit $reader 1000000 1000 300
	part "php-negative-control-$reader" $PHP tests/conformance.php "$out/writer-$reader" kit control 0 0 60
	kill $writer 2>/dev/null
	wait $writer 2>/dev/null
done

for reader in ffi pure; do
	part "php-agent-$reader" "$with_agent" $PHP tests/agent.php $reader
done
part php-fpm "$with_agent" tests/fpm.sh "$out/fpm"
exit $failed

#!/bin/bash
# test.sh: the Java binding's suite: build, unit tests, the conformance kit, then the real agent with wxemu (tests/conformance/with-agent.sh), one PASS:/FAIL: line per test.
#
# Env: WXBUILD (a configured, built tree: make check built the kit), WXTOP (the repository top).
# Run as root: a part runs as wxconfuser (made here if missing) to see access refused.
# Everything it builds is in $WXBUILD/bindings/java; the JVMs write no perf data (-XX:-UsePerfData).
set -u
: "${WXBUILD:?WXBUILD: the configured and built tree}" "${WXTOP:?WXTOP: the repository top}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$WXBUILD/bindings/java
junit=/usr/share/java/junit-platform-console-standalone.jar
cp="$out/classes:$junit"
# Small heaps and one GC thread: the machine is shared; nothing here needs more. C1 alone for
# the short parts; the conformance run keeps C2, the compiler whose reordering the latch must survive.
java=(java -XX:-UsePerfData -XX:+UseSerialGC -Xmx256m -cp "$cp")
quick=("${java[@]}" -XX:TieredStopAtLevel=1)
failed=0

if ! "$here/build.sh"; then
        echo "FAIL: java/build"
        exit 1
fi
echo "PASS: java/build"

# TestMain prints one line per test and exits non-zero if any failed (or none ran).
"${quick[@]}" wxshm.TestMain java/unit wxshm.ReplyTest wxshm.SegmentTest wxshm.ClientTest || failed=1
"${java[@]}" wxshm.TestMain java/conformance wxshm.ConformanceTest || failed=1

id wxconfuser >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin wxconfuser
export WXJAVA_CP=$cp
# The agent's parts, in one agent's life: the root parts, then as wxconfuser, then the ones that end it.
if ! WXCONF_BUILD=$WXBUILD "$WXTOP/tests/conformance/with-agent.sh" bash -c '
        set -u
        java=(java -XX:-UsePerfData -XX:+UseSerialGC -Xmx256m -XX:TieredStopAtLevel=1 -cp "$WXJAVA_CP")
        rc=0
        "${java[@]}" wxshm.TestMain java/agent wxshm.AgentTest || rc=1
        setpriv --reuid=wxconfuser --regid=wxconfuser --clear-groups "${java[@]}" \
                wxshm.TestMain java/agent-user wxshm.AgentUserTest || rc=1
        "${java[@]}" wxshm.TestMain java/agent-end wxshm.AgentEndTest || rc=1
        exit $rc'; then
        echo "FAIL: java/agent (a part above failed, or with-agent.sh did)"
        failed=1
fi
exit $failed

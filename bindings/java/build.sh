#!/bin/bash
# build.sh: compiles the binding, its tests and its bench with one javac, and jars the binding (wxshm.jar), all in $WXBUILD/bindings/java; test.sh and bench.sh run it.
set -eu
: "${WXBUILD:?WXBUILD: the configured and built tree}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$WXBUILD/bindings/java
junit=/usr/share/java/junit-platform-console-standalone.jar

rm -rf "$out/classes" "$out/jar"
mkdir -p "$out/classes" "$out/jar"
# One javac (a JVM start is most of a build this small), C1 only: javac runs too briefly for C2 to pay.
# -Xlint:all -Werror: the binding builds without a warning, as the C code does under CI.
javac -J-XX:TieredStopAtLevel=1 -J-XX:+UseSerialGC -J-XX:-UsePerfData --release 17 -Xlint:all,-processing -Werror \
        -encoding UTF-8 -cp "$junit" -d "$out/classes" $(find "$here/src" "$here/test" "$here/bench" -name '*.java' | sort)
# The jar holds the binding's classes only (src/), not the tests' nor the bench's.
shopt -s nullglob
for f in $(cd "$here/src" && find . -name '*.java'); do
        base=${f%.java}
        mkdir -p "$out/jar/$(dirname "$base")"
        cp "$out/classes/$base.class" "$out/classes/$base"\$*.class "$out/jar/$(dirname "$base")/"
done
jar --create --file "$out/wxshm.jar" -C "$out/jar" .

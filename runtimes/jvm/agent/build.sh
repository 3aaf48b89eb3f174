#!/usr/bin/env bash
# Builds runtimes/jvm/agent/build/flamecam-agent.jar with the JDK's own javac and jar.
# Nothing prebuilt is kept in git; rerunning is cheap (skips when up to date).
# Targets Java 11 bytecode so the agent loads into JDK 11, 17 and 21 JVMs.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/build"
jar_file="$out/flamecam-agent.jar"
mapfile -t sources < <(find "$here/src" -name '*.java' | sort)

if [[ -f "$jar_file" ]] && [[ -z "$(find "$here/src" "$here/build.sh" -newer "$jar_file" -print -quit)" ]]; then
    echo "jvm-agent: $jar_file is up to date"
    exit 0
fi
for tool in javac jar; do
    if ! command -v "$tool" >/dev/null; then
        echo "jvm-agent: '$tool' not found; install a JDK (e.g. openjdk-17-jdk-headless)" >&2
        exit 1
    fi
done

rm -rf "$out/classes"
mkdir -p "$out/classes"
javac --release 11 -Xlint:all -Werror -d "$out/classes" "${sources[@]}"
cat > "$out/MANIFEST.MF" <<MANIFEST
Premain-Class: dev.flamecam.agent.FlamecamAgent
Agent-Class: dev.flamecam.agent.FlamecamAgent
Can-Redefine-Classes: false
Can-Retransform-Classes: false
MANIFEST
jar --create --file "$jar_file.tmp" --manifest "$out/MANIFEST.MF" -C "$out/classes" .
mv "$jar_file.tmp" "$jar_file"
echo "jvm-agent: built $jar_file"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A real pipewire daemon (private runtime dir, this build's plugin) running
# api.utimer.driver nodes:
#  - the node and its utimer.* properties appear in pw-cli / pw-dump;
#  - without kernel support (no /dev/snd/timer, as on the build host) the node
#    says so in utimer.state/utimer.error and still drives its group: cycles run;
#  - nodes with bad properties name the mistakes; the daemon stays up;
#  - under another driver (support.node.driver, higher priority.driver, same
#    node.group) the node follows: utimer.following = true and it sees cycles;
#  - the shipped drop-ins (spa-plugin/conf) load into a daemon and, without
#    snd-aloop, leave it running with the drivers reporting their error.
#
# Usage: daemon-test.sh <dir containing libspa-utimer.so> <spa-plugin/conf>
# Needs: pipewire, pw-cli, pw-dump, pw-link, jq (all on the host).
set -u

plugin_build_dir=$(realpath "$1")
conf_dir=$(realpath "$2")
spa_dir=$(pkg-config --variable=plugindir libspa-0.2 2>/dev/null || echo /usr/lib/x86_64-linux-gnu/spa-0.2)
work=$(mktemp -d "${TMPDIR:-/tmp}/utimer-pw-test.XXXXXX")
daemon_pid=
failures=0

cleanup() {
	if [ -n "$daemon_pid" ]; then
		kill "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	if [ "$failures" -eq 0 ]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap cleanup EXIT

pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; failures=$((failures + 1)); }
check() {  # check "description" command...
	local what=$1; shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

# SPA_PLUGIN_DIR: the installed plugins plus ours under utimer/.
mkdir -p "$work/plugins" "$work/run"
for d in "$spa_dir"/*/; do ln -s "$d" "$work/plugins/$(basename "$d")"; done
ln -s "$plugin_build_dir" "$work/plugins/utimer"

cat > "$work/test.conf" <<'EOF'
context.properties = {
    core.daemon = true
    core.name = pipewire-0
    support.dbus = false
    default.clock.rate = 48000
    default.clock.quantum = 256
    default.clock.min-quantum = 32
}
context.spa-libs = {
    audio.convert.* = audioconvert/libspa-audioconvert
    support.*       = support/libspa-support
    api.utimer.*    = utimer/libspa-utimer
}
context.modules = [
    { name = libpipewire-module-protocol-native }
    { name = libpipewire-module-metadata }
    { name = libpipewire-module-spa-node-factory }
    { name = libpipewire-module-client-node }
    { name = libpipewire-module-access args = { } }
    { name = libpipewire-module-adapter }
    { name = libpipewire-module-link-factory }
]
context.objects = [
    # Group A: our node drives a null sink.
    { factory = spa-node-factory
        args = {
            factory.name    = api.utimer.driver
            node.name       = utimer-driver
            node.group      = utimer.test.a
            priority.driver = 30000
        }
    }
    { factory = adapter
        args = {
            factory.name     = support.null-audio-sink
            node.name        = utimer-sink-a
            media.class      = Audio/Sink
            node.group       = utimer.test.a
            audio.position   = [ FL FR ]
            adapter.auto-port-config = { mode = dsp monitor = true }
        }
    }
    # Group B: support.node.driver outranks our node, which follows.
    { factory = spa-node-factory
        args = {
            factory.name    = support.node.driver
            node.name       = system-driver-b
            node.group      = utimer.test.b
            priority.driver = 40000
        }
    }
    { factory = spa-node-factory
        args = {
            factory.name    = api.utimer.driver
            node.name       = utimer-follower
            node.group      = utimer.test.b
            priority.driver = 100
        }
    }
    { factory = adapter
        args = {
            factory.name     = support.null-audio-sink
            node.name        = utimer-sink-b
            media.class      = Audio/Sink
            node.group       = utimer.test.b
            audio.position   = [ FL FR ]
            adapter.auto-port-config = { mode = dsp monitor = true }
        }
    }
    # Bad configuration: must be reported, must not stop the daemon.
    { factory = spa-node-factory
        args = {
            factory.name    = api.utimer.driver
            node.name       = utimer-bad-props
            clock.id        = sundial
            utimer.period   = -5
        }
    }
    { factory = spa-node-factory
        args = {
            factory.name    = api.utimer.driver
            node.name       = utimer-bad-device
            clock.device    = /nonexistent/ptp7
        }
    }
]
EOF

# A plugin built with -Db_sanitize=address,undefined needs the sanitizer
# runtimes loaded first into the (uninstrumented) pipewire binary. Leaks of
# pipewire itself at exit are not ours: the factory test checks the plugin's.
sanitizer_preload=$(ldd "$plugin_build_dir/libspa-utimer.so" |
	awk '/lib(asan|ubsan)\.so/ { printf "%s:", $3 }')
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export XDG_RUNTIME_DIR="$work/run" PIPEWIRE_RUNTIME_DIR="$work/run" SPA_PLUGIN_DIR="$work/plugins"
export PIPEWIRE_REMOTE=pipewire-0
unset PIPEWIRE_CONFIG_DIR PIPEWIRE_DEBUG
LD_PRELOAD="$sanitizer_preload" PIPEWIRE_DEBUG=2 pipewire -c "$work/test.conf" > "$work/pipewire.log" 2>&1 &
daemon_pid=$!

for _ in $(seq 50); do
	timeout 5 pw-cli info 0 > /dev/null 2>&1 && break
	sleep 0.2
done
if ! kill -0 "$daemon_pid" 2>/dev/null; then
	echo "pipewire did not start:"; cat "$work/pipewire.log"; exit 1
fi

# prop NODE KEY: the node's property as pw-dump shows it.
prop() {
	timeout 10 pw-dump 2>/dev/null | jq -r --arg n "$1" --arg k "$2" \
		'.[] | select(.type == "PipeWire:Interface:Node" and .info.props["node.name"] == $n)
		     | .info.props[$k] | if . == null then "<unset>" else tostring end'
}
contains() { case "$1" in *"$2"*) return 0;; *) return 1;; esac; }

# 1. The node is listed with its properties.
check "pw-cli ls Node lists utimer-driver" bash -c 'timeout 10 pw-cli ls Node | grep -q "node.name = \"utimer-driver\""'
for key in node.driver clock.name clock.id utimer.state utimer.error utimer.id utimer.timer-source \
	   utimer.resolution utimer.period utimer.aloop.card utimer.triggers utimer.errors utimer.cycles; do
	check "pw-dump shows $key" test "$(prop utimer-driver "$key")" != "<unset>"
done
check "clock.name is api.utimer.monotonic" test "$(prop utimer-driver clock.name)" = api.utimer.monotonic
check "pw-cli info shows utimer.state" bash -c 'timeout 10 pw-cli info utimer-driver | grep -q "utimer.state = "'

# 2. Kernel support decides the state.
state=$(prop utimer-driver utimer.state)
if [ ! -e /dev/snd/timer ]; then
	check "no /dev/snd/timer: utimer.state = error (got $state)" test "$state" = error
	error=$(prop utimer-driver utimer.error)
	check "utimer.error names /dev/snd/timer: $error" contains "$error" /dev/snd/timer
	check "no timer id without a timer" test "$(prop utimer-driver utimer.id)" = ""
	check "the error is in the daemon log" grep -q "utimer-driver: .*/dev/snd/timer" "$work/pipewire.log"
else
	echo "# /dev/snd/timer exists: state $state, error '$(prop utimer-driver utimer.error)'"
fi

# 3. Linking the sink's monitor to its input makes group A run: we drive it.
check "link utimer-sink-a" pw-link utimer-sink-a:monitor_FL utimer-sink-a:playback_FL
check "link utimer-sink-b" pw-link utimer-sink-b:monitor_FL utimer-sink-b:playback_FL
sleep 2.5
a1=$(prop utimer-driver utimer.cycles); b1=$(prop utimer-follower utimer.cycles)
sleep 2.5
a2=$(prop utimer-driver utimer.cycles); b2=$(prop utimer-follower utimer.cycles)
check "driver: cycles advance ($a1 -> $a2)" test "$a2" -gt "$a1"
# Pacing: 2.5 s of 256-frame cycles at 48 kHz is ~470; the 1 Hz refresh of
# the counters blurs that by up to ~190 either way.
check "driver: paced at 256 frames/48 kHz ($((a2 - a1)) cycles in 2.5 s)" \
	test $((a2 - a1)) -gt 150 -a $((a2 - a1)) -lt 900
check "driver: not following" test "$(prop utimer-driver utimer.following)" = false
check "driver node is running" test "$(timeout 10 pw-dump utimer-driver | jq -r '.[0].info.state')" = running
check "follower: following system-driver-b" test "$(prop utimer-follower utimer.following)" = true
check "follower: cycles advance ($b1 -> $b2)" test "$b2" -gt "$b1"
check "follower: its group runs" test "$(timeout 10 pw-dump utimer-sink-b | jq -r '.[0].info.state')" = running
if [ ! -e /dev/snd/timer ]; then
	check "no timer: zero triggers" test "$(prop utimer-driver utimer.triggers)" = 0
fi

# 4. Bad properties: named, node exists, daemon alive.
bad=$(prop utimer-bad-props utimer.error)
check "bad props: state error" test "$(prop utimer-bad-props utimer.state)" = error
check "bad props: clock.id named: $bad" contains "$bad" 'clock.id = "sundial" is not a clock'
check "bad props: utimer.period named" contains "$bad" 'utimer.period = "-5"'
dev=$(prop utimer-bad-device utimer.error)
check "bad clock.device named: $dev" contains "$dev" 'clock.device = "/nonexistent/ptp7": cannot open it'
check "daemon still running" kill -0 "$daemon_pid"
kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null; daemon_pid=

# 5. The shipped drop-ins, as pipewire.conf.d/ files next to a base config.
mkdir -p "$work/confdir/pipewire.conf.d"
sed -n '/^context.objects/q;p' "$work/test.conf" | grep -v 'api.utimer' > "$work/confdir/pipewire.conf"
ln -s "$conf_dir"/utimer-driver.conf "$conf_dir"/utimer-loopback-example.conf "$work/confdir/pipewire.conf.d/"
PIPEWIRE_CONFIG_DIR="$work/confdir" LD_PRELOAD="$sanitizer_preload" PIPEWIRE_DEBUG=2 pipewire \
	> "$work/pipewire-dropin.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 50); do
	timeout 5 pw-cli info 0 > /dev/null 2>&1 && break
	sleep 0.2
done
check "drop-ins: daemon up" kill -0 "$daemon_pid"
check "drop-in utimer-driver.conf: node in group utimer" test "$(prop utimer-driver node.group)" = utimer
check "drop-in utimer-driver.conf: priority.driver 30000" test "$(prop utimer-driver priority.driver)" = 30000
check "drop-in example: utimer-loopback-driver pinned to 256 frames" \
	test "$(prop utimer-loopback-driver utimer.period)" = 256
if [ ! -e /dev/snd/timer ]; then
	check "drop-ins: no kernel support reported" test "$(prop utimer-loopback-driver utimer.state)" = error
fi
if [ ! -e /proc/asound/Loopback ]; then
	check "drop-in example without snd-aloop: ALSA nodes skipped (nofail)" \
		test "$(prop utimer-loopback-capture node.name)" = ""
fi

if [ "$failures" -ne 0 ]; then
	echo "$failures check(s) failed; daemon log:"; tail -30 "$work/pipewire.log"
	exit 1
fi
echo "all checks passed"

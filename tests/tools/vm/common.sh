# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by the tools' VM tests (sourced; runs as root in a utimer-vm guest).
set -euo pipefail
work=$(mktemp -d /tmp/tools-test.XXXXXX)
children=()

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "# $*"; }

# wait_until SECONDS CMD...: poll until CMD succeeds.
wait_until() {
	local limit=$1 i
	shift
	for ((i = 0; i < limit * 20; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

cleanup() {
	local pid
	for pid in "${children[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${children[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

load_aloop() {
	modprobe snd-aloop pcm_substreams=1 || fail "modprobe snd-aloop"
	wait_until 5 test -e /proc/asound/Loopback/timer_source || fail "no /proc/asound/Loopback/timer_source"
}

# The value of KEY=... in utimerctl's startup line in FILE.
startup_id() { sed -n 's/^utimer id=\([0-9]*\) timer_source=.*/\1/p' "$1" | head -n1; }
has_startup_line() { grep -q '^utimer id=[0-9]* timer_source=' "$1"; }

pcm_field() { # status-file field
	sed -n "s/^$2[[:space:]]*: *//p" "$1" 2>/dev/null | head -n1
}
capture_status=/proc/asound/Loopback/pcm1c/sub0/status
capture_running() { [ "$(pcm_field $capture_status state)" = RUNNING ]; }
capture_hw_ptr() { pcm_field $capture_status hw_ptr; }
hw_ptr_is() { [ "$(capture_hw_ptr)" = "$1" ]; }

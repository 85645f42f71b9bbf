#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs inside a utimer-vm guest as root: loads snd-aloop with its defaults
# (one card, id "Loopback", jiffies-clocked) and runs the lib integration test,
# which binds the card to its timers through /proc at runtime.
set -eu
if [ ! -d /sys/module/snd_aloop ]; then
	modprobe snd-aloop || { echo "Bail out! modprobe snd-aloop failed"; exit 1; }
fi
exec "$@"

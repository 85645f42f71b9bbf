-- SPDX-License-Identifier: GPL-2.0-or-later
-- WirePlumber 0.4 (Debian 12's wireplumber 0.4.13): the nodes that
-- WirePlumber's ALSA monitor makes for snd-aloop's card "Loopback" run under
-- the api.utimer.driver node of utimer-loopback-driver.conf, on its clock.
--
--   mkdir -p ~/.config/wireplumber/main.lua.d
--   cp /usr/share/doc/pipewire-utimer/examples/51-utimer-loopback.lua \
--      ~/.config/wireplumber/main.lua.d/
--   systemctl --user restart wireplumber
--
-- WirePlumber 0.5 reads no Lua configuration: use 51-utimer-loopback.conf.
-- WirePlumber runs main.lua.d/*.lua of all its directories sorted by name:
-- 51- comes after 50-alsa-config.lua, which sets alsa_monitor.rules, and
-- before 90-enable-all.lua, which starts the monitor with them. Rules apply
-- after the monitor's own defaults (in a VM: period-size, headroom), and a
-- later rule wins over an earlier one.
alsa_monitor.rules = alsa_monitor.rules or {}

-- The card: without ACP (PulseAudio's card profiles). ACP would show a
-- "Built-in Audio Analog Stereo" sink on hw:Loopback,0 playback and source on
-- hw:Loopback,0 capture (two unrelated cables; nothing for hw:Loopback,1),
-- with routes whose default volume WirePlumber sets (a sink at 40 %, i.e.
-- scaled samples). Without it the monitor makes one node per PCM device and
-- direction (alsa_output.*.playback.0.0, alsa_input.*.capture.1.0, ...),
-- software volume 100 %, and no profile or route to restore.
table.insert(alsa_monitor.rules, {
  matches = {
    {
      { "api.alsa.card.name", "equals", "Loopback" },
      { "api.alsa.card.longname", "equals", "Loopback 1" },
      { "device.name", "matches", "alsa_card.*" },
    },
  },
  apply_properties = {
    ["api.alsa.use-acp"] = false,
  },
})

-- One cable: hw:Loopback,0 playback -> hw:Loopback,1 capture (subdevice 0,
-- the one a PCM open takes first). The other direction's ends would run in
-- the same group on the same timer: no nodes for them.
table.insert(alsa_monitor.rules, {
  matches = {
    {
      { "api.alsa.card.name", "equals", "Loopback" },
      { "api.alsa.card.longname", "equals", "Loopback 1" },
      { "api.alsa.pcm.stream", "equals", "playback" },
      { "api.alsa.pcm.device", "equals", "1" },
    },
    {
      { "api.alsa.card.name", "equals", "Loopback" },
      { "api.alsa.card.longname", "equals", "Loopback 1" },
      { "api.alsa.pcm.stream", "equals", "capture" },
      { "api.alsa.pcm.device", "equals", "0" },
    },
  },
  apply_properties = {
    ["node.disabled"] = true,
  },
})

table.insert(alsa_monitor.rules, {
  matches = {
    {
      -- The card of snd-aloop's first device, the one the driver binds
      -- (card id "Loopback"): every snd-aloop card is named "Loopback", the
      -- long name counts the devices ("Loopback 1", "Loopback 2", ...).
      -- The monitor copies the card's api.alsa.card.* onto its nodes.
      { "api.alsa.card.name", "equals", "Loopback" },
      { "api.alsa.card.longname", "equals", "Loopback 1" },
      -- Its PCM nodes, not the card itself.
      { "api.alsa.pcm.stream", "is-present" },
    },
  },
  apply_properties = {
    -- The driver's group: the node follows the driver, which has the higher
    -- priority.driver.
    ["node.group"] = "utimer.loopback",
    -- The driver's clock.name: PipeWire's ALSA node then knows that the
    -- driver's clock is its own and does not rate-match (matching:0
    -- resample:0 in the pipewire log at spa.alsa:3; pw-top shows no rate
    -- adjustment). Without it the node resamples to follow the driver.
    ["clock.name"] = "api.utimer.loopback",
    -- The driver's node.force-rate: no rate conversion either.
    ["audio.rate"] = 48000,
    -- One ALSA period per timer tick (the driver's api.utimer.period):
    -- snd-aloop moves a period of the stream per tick of its timer.
    ["api.alsa.period-size"] = 256,
    -- No headroom (WirePlumber adds 8192 frames in a VM; the playback end
    -- gets one period below): the cable moves
    -- exactly a period per cycle, so a capture node that waits for more than
    -- a period to be queued never gets it, and reads silence.
    ["api.alsa.headroom"] = 0,
    -- What the other end of the cable (hw:Loopback,1) opens with: both ends
    -- of a snd-aloop cable share one format, so an application there reads
    -- S16_LE unconverted (change both to taste).
    ["audio.format"] = "S16LE",
    -- Without ACP the monitor asks for as many channels as the device has
    -- (snd-aloop: 32): stereo, as the other end expects.
    ["audio.channels"] = 2,
    ["audio.position"] = "FL,FR",
  },
})

-- The playback end keeps one period more queued: the driver ticks (the cable
-- takes a period) before the graph writes the next one, so a sink holding
-- just one period runs empty at each tick. PipeWire 1.4's sink then xruns
-- and restarts every cycle (silence at the far end); 0.3.65 keeps the extra
-- period by itself.
table.insert(alsa_monitor.rules, {
  matches = {
    {
      { "api.alsa.card.name", "equals", "Loopback" },
      { "api.alsa.card.longname", "equals", "Loopback 1" },
      { "api.alsa.pcm.stream", "equals", "playback" },
    },
  },
  apply_properties = {
    ["api.alsa.headroom"] = 256,
  },
})

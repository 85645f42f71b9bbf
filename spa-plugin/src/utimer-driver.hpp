// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <spa/support/log.h>
#include <spa/support/plugin.h>

namespace utimer::spa {

// Factory "api.utimer.driver".
extern const struct spa_handle_factory driver_factory;
// The log topic "spa.utimer" of every node.
extern struct spa_log_topic log_topic;

}  // namespace utimer::spa

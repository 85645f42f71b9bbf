// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <spa/support/plugin.h>

namespace utimer::spa {

// Factory "api.utimer.driver".
extern const struct spa_handle_factory driver_factory;

}  // namespace utimer::spa

// SPDX-License-Identifier: GPL-2.0-or-later
// Umbrella header: #include <utimer/utimer.hpp>
#pragma once

#include "abi.hpp"
#include "aloop.hpp"
#include "binding.hpp"
#include "error.hpp"
#include "list.hpp"
#include "paths.hpp"
#include "probe.hpp"
#include "resolution.hpp"
#include "timer.hpp"
#include "timer_source.hpp"

// SPDX-License-Identifier: GPL-2.0-or-later
// Entry point of libspa-utimer.so: the factories PipeWire finds by name.
#include <cerrno>
#include <cstdint>

#include <spa/support/plugin.h>
#include <spa/utils/defs.h>

#include "utimer-driver.hpp"

extern "C" SPA_EXPORT int spa_handle_factory_enum(const struct spa_handle_factory **factory,
						  std::uint32_t *index)
{
	if (!factory || !index)
		return -EINVAL;
	switch (*index) {
	case 0:
		*factory = &utimer::spa::driver_factory;
		break;
	default:
		return 0;
	}
	(*index)++;
	return 1;
}

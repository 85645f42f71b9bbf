// SPDX-License-Identifier: GPL-2.0-or-later
// Entry point of libspa-utimer.so: the factories PipeWire finds by name.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <iterator>

#include <spa/support/log.h>
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

// PipeWire >= 1.1.81 sets a plugin's log topic levels (PIPEWIRE_DEBUG patterns
// such as spa.utimer:4) only through the topics the plugin exports as
// "spa_log_topic_enum"; its spa_log no longer implements topic_init, which
// 0.3.65 uses. 0.3.65's headers have no such type, so its layout is ours,
// checked against the headers that have it.
namespace {
struct LogTopicEnum {
	std::uint32_t version;  // SPA_VERSION_LOG_TOPIC_ENUM
	struct spa_log_topic *const *topics;
	struct spa_log_topic *const *topics_end;
};
#ifdef SPA_LOG_TOPIC_ENUM_NAME
static_assert(sizeof(LogTopicEnum) == sizeof(struct spa_log_topic_enum));
static_assert(offsetof(LogTopicEnum, topics) == offsetof(struct spa_log_topic_enum, topics));
static_assert(offsetof(LogTopicEnum, topics_end) ==
	      offsetof(struct spa_log_topic_enum, topics_end));
#endif
struct spa_log_topic *const log_topics[] = {&utimer::spa::log_topic};
}  // namespace

extern "C" SPA_EXPORT const LogTopicEnum spa_log_topic_enum = {
	0, log_topics, log_topics + std::size(log_topics)};

// SPDX-License-Identifier: GPL-2.0-or-later
#include "utimer/resolution.hpp"

#include <numeric>
#include <string>

#include "utimer/error.hpp"

namespace utimer {

namespace {

std::string pair_text(unsigned rate, unsigned period_frames)
{
	return "rate " + std::to_string(rate) + " Hz, period " + std::to_string(period_frames) +
	       " frames";
}

}  // namespace

// Mirrors snd_pcm_timer_resolution_change(): the PCM core stores this as the
// period time and snd-aloop compares the clocking timer's resolution with it
// for equality, so every rounding step (including the overflow halving of
// mult, which the kernel does in unsigned long = 64 bits) must match.
std::uint64_t period_resolution_ns(unsigned rate, unsigned period_frames)
{
	if (rate == 0 || period_frames == 0)
		throw Error(EINVAL, "no timer resolution for " + pair_text(rate, period_frames),
			    "rate and period size must both be > 0");
	std::uint64_t mult = 1000000000;
	std::uint64_t r = rate;
	std::uint64_t l = std::gcd(mult, r);
	mult /= l;
	r /= l;
	std::uint64_t fsize = period_frames;
	l = std::gcd(r, fsize);
	r /= l;
	fsize /= l;
	std::uint64_t post = 1;
	while ((mult * fsize) / fsize != mult) {
		mult /= 2;
		post *= 2;
	}
	if (r == 0)  // unreachable for rate > 0; the kernel checks it, so do we
		throw Error(ERANGE, "the kernel rejects " + pair_text(rate, period_frames),
			    "pick another rate/period pair");
	return (mult * fsize / r) * post;
}

std::uint64_t naive_resolution_ns(unsigned rate, unsigned period_frames)
{
	if (rate == 0 || period_frames == 0)
		throw Error(EINVAL, "no timer resolution for " + pair_text(rate, period_frames),
			    "rate and period size must both be > 0");
	return std::uint64_t{1000000000} / rate * period_frames;
}

}  // namespace utimer

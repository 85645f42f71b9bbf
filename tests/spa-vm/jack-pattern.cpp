// SPDX-License-Identifier: GPL-2.0-or-later
// jack-pattern: a JACK client (run under PipeWire's JACK, pw-jack) that plays
// the loopback test pattern on out_FL/out_FR and records in_FL/in_FR, both in
// its process callback, i.e. on the graph's data path. pw-cat and pw-record
// (0.3.65) process on their main loop, outside the graph: when that loop is
// late the graph gets no buffer (the port mixer plays silence) or has no free
// one (a captured cycle is dropped), which says nothing about the nodes under
// test. A JACK client is a node of the graph: the cycle waits for it.
//
// Pattern frame i (signed 16 bit, as PipeWire converts S16 <-> F32 with 1/32768):
// left = (i & 0x7fff) | 0x8000, right = ((i >> 15) & 0x3fff) | 0x4000.
//
// Usage: jack-pattern NAME OUT.raw SECONDS
// Records up to SECONDS (48 kHz worth of frames at the graph's rate), then
// writes OUT.raw (S16_LE stereo) on SIGINT/SIGTERM and exits 0.
#include <jack/jack.h>

#include <csignal>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace {

struct Client {
	jack_client_t *jack = nullptr;
	jack_port_t *out[2] = {};
	jack_port_t *in[2] = {};
	std::uint64_t played = 0;         // pattern frames played so far
	std::vector<float> recorded[2];   // preallocated: no allocation in process()
	std::size_t captured = 0;         // frames recorded
};

float pattern_sample(std::uint64_t frame, int channel)
{
	const std::uint16_t v = channel == 0 ? std::uint16_t((frame & 0x7fff) | 0x8000)
					     : std::uint16_t(((frame >> 15) & 0x3fff) | 0x4000);
	return float(std::int16_t(v)) / 32768.0f;
}

int process(jack_nframes_t frames, void *arg)
{
	auto *c = static_cast<Client *>(arg);
	for (int ch = 0; ch < 2; ++ch) {
		auto *out = static_cast<float *>(jack_port_get_buffer(c->out[ch], frames));
		for (jack_nframes_t i = 0; i < frames; ++i)
			out[i] = pattern_sample(c->played + i, ch);
	}
	c->played += frames;
	const std::size_t room = c->recorded[0].size() - c->captured;
	const std::size_t n = frames < room ? frames : room;
	for (int ch = 0; ch < 2; ++ch) {
		const auto *in = static_cast<const float *>(jack_port_get_buffer(c->in[ch], frames));
		for (std::size_t i = 0; i < n; ++i)
			c->recorded[ch][c->captured + i] = in[i];
	}
	c->captured += n;
	return 0;
}

std::int16_t to_s16(float v)
{
	const long s = std::lrintf(v * 32768.0f);
	return std::int16_t(s < -32768 ? -32768 : s > 32767 ? 32767 : s);
}

}  // namespace

int main(int argc, char **argv)
{
	if (argc != 4 || std::atof(argv[3]) <= 0) {
		std::fprintf(stderr, "usage: jack-pattern NAME OUT.raw SECONDS (SECONDS > 0)\n");
		return 2;
	}
	// Signals go to sigwait() below; JACK's threads inherit the mask.
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, nullptr);

	auto c = std::make_unique<Client>();
	jack_status_t status;
	c->jack = jack_client_open(argv[1], JackNoStartServer, &status);
	if (!c->jack) {
		std::fprintf(stderr, "jack-pattern: jack_client_open failed (status 0x%x)\n", unsigned(status));
		return 1;
	}
	const auto frames = std::size_t(std::atof(argv[3]) * jack_get_sample_rate(c->jack));
	for (auto &r : c->recorded)
		r.assign(frames, 0.0f);
	const char *names[2][2] = {{"out_FL", "out_FR"}, {"in_FL", "in_FR"}};
	for (int ch = 0; ch < 2; ++ch) {
		c->out[ch] = jack_port_register(c->jack, names[0][ch], JACK_DEFAULT_AUDIO_TYPE,
						JackPortIsOutput, 0);
		c->in[ch] = jack_port_register(c->jack, names[1][ch], JACK_DEFAULT_AUDIO_TYPE,
					       JackPortIsInput, 0);
		if (!c->out[ch] || !c->in[ch]) {
			std::fprintf(stderr, "jack-pattern: jack_port_register failed\n");
			jack_client_close(c->jack);
			return 1;
		}
	}
	jack_set_process_callback(c->jack, process, c.get());
	if (jack_activate(c->jack) != 0) {
		std::fprintf(stderr, "jack-pattern: jack_activate failed\n");
		jack_client_close(c->jack);
		return 1;
	}
	std::printf("jack-pattern: running at %u Hz, buffer %u\n", jack_get_sample_rate(c->jack),
		    jack_get_buffer_size(c->jack));
	std::fflush(stdout);
	int sig = 0;
	sigwait(&stop, &sig);
	jack_deactivate(c->jack);
	jack_client_close(c->jack);

	std::FILE *f = std::fopen(argv[2], "wb");
	if (!f) {
		std::perror(argv[2]);
		return 1;
	}
	for (std::size_t i = 0; i < c->captured; ++i) {
		for (int ch = 0; ch < 2; ++ch) {
			const auto s = std::uint16_t(to_s16(c->recorded[ch][i]));
			const unsigned char le[2] = {std::uint8_t(s & 0xff), std::uint8_t(s >> 8)};
			std::fwrite(le, 1, 2, f);
		}
	}
	const bool ok = std::fclose(f) == 0;
	std::printf("jack-pattern: played %llu frames, recorded %zu\n",
		    (unsigned long long)c->played, c->captured);
	return ok ? 0 : 1;
}

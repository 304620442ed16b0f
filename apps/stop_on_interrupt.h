// Ctrl-C for the long-running apps (stylize, stylize_video): the first SIGINT or SIGTERM asks the run to
// stop at its next safe point (nst::request_stop) and says what will be kept; a second one quits at once
// with exit 130 (every file is written to a temporary name and renamed, so nothing partial replaces a
// good file). The handler is async-signal-safe: an atomic, write(2) and _exit only; its two messages are
// fixed before it is installed.
#pragma once
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>

#include "stylize/stylize.h"

namespace nst::apps {

namespace detail {
inline std::atomic<int> g_interrupts{0};
inline const char* g_stopping = "";  // the first Ctrl-C's message
inline const char* g_quitting = "";  // the second's
inline void on_interrupt(int) {
    const char* msg = g_interrupts.fetch_add(1) == 0 ? g_stopping : g_quitting;
    if (msg == g_stopping) request_stop();
    (void)!::write(2, msg, std::strlen(msg));  // strlen is async-signal-safe (POSIX.1-2016)
    if (msg == g_quitting) ::_exit(130);
}
}  // namespace detail

// `stopping` and `quitting` are string literals (they must outlive the process), each a whole line.
inline void stop_on_interrupt(const char* stopping, const char* quitting) {
    detail::g_stopping = stopping;
    detail::g_quitting = quitting;
    std::signal(SIGINT, detail::on_interrupt);
    std::signal(SIGTERM, detail::on_interrupt);
}

}  // namespace nst::apps

// The live preview of a style-transfer run (stylize --preview-port): a small HTTP server, on its own
// thread, serving a self-contained page (the current image, the iteration, loss curves per term) and
// the data it polls. Contract: the optimisation hands over frames with publish() and never waits for a
// browser; every request is answered from the newest frame, and PNG encoding happens on the server's
// threads. Endpoints:
//   GET /               the page (inline JS and CSS, nothing fetched from elsewhere)
//   GET /image.png      the newest frame as PNG; 503 before the first publish()
//   GET /state.json     {iteration, total, frame, terms:{name:value}, finished, failed, message,
//                       image:{serial, iteration, width, height} or null}
//   GET /history.json   {from, next, terms:{name:[[iteration,value],...]}}: every published frame's
//                       terms, or with ?from=K those of the frames after the first K (the page asks
//                       with the last answer's `next`, so only for what is new). Each term keeps at
//                       most kHistoryPoints points: when full, every other older point is dropped, so
//                       a run of days keeps its whole curve at a coarser step, in bounded memory.
// Every request must carry a Host header naming this server as a page on this machine would: an IP
// address (v4 or v6; nothing can rebind an address), `localhost` or a name under `.localhost`, the name
// given as --preview-host, and with a wildcard bind (0.0.0.0, ::) this machine's hostname. Any other
// Host gets 403: a page from elsewhere that a DNS-rebinding attack points at this port names its own
// domain, so it can neither read the picture nor the losses.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace nst {

struct PreviewFrame {
    int iteration = 0, total = 0;                        // iteration done, of total
    std::vector<std::pair<std::string, double>> terms;   // e.g. {"content relu4_2", 1.2e6}, {"tv", ...}, {"total", ...}
    int width = 0, height = 0;                           // image size; rgb holds width*height*3 bytes, 0..255
    std::vector<uint8_t> rgb;
};

inline constexpr size_t kHistoryPoints = 4096;  // per term; see /history.json above

class PreviewServer {
  public:
    // Binds host:port (port 0 = any free port) and serves in a background thread. Throws nst::Error when
    // it cannot bind, naming the flag at fault: --preview-host for a name that does not resolve or an
    // address that is not this machine's, --preview-port for a port in use, privileged or out of range.
    PreviewServer(const std::string& host, int port);
    ~PreviewServer();  // stops the server and joins its thread
    PreviewServer(const PreviewServer&) = delete;
    PreviewServer& operator=(const PreviewServer&) = delete;

    int port() const;         // the bound port
    std::string url() const;  // "http://127.0.0.1:PORT/"
    // Hands over the newest frame. Never blocks on a browser: it only swaps the frame under a mutex;
    // PNG encoding happens on the server's thread when /image.png is requested (the encoded PNG is
    // cached per frame). The loss history (every published frame's terms) is kept for the curves.
    // A frame without pixels (width = height = 0, rgb empty) updates the iteration and the losses and
    // keeps the previous image: a run can publish its losses often and copy its image off the GPU less.
    // Throws nst::Error when rgb does not hold width*height*3 bytes.
    void publish(PreviewFrame frame);
    // The run ended (failed: with an error, or stopped): the page shows the message and stops polling.
    void finish(const std::string& message, bool failed = false);
    bool watched() const;  // whether any request has been answered (a page has been open)

    // After finish(): keeps serving the finished state so that an open page can show it, and returns
    // when the first of these happens: no request has come since the server started (nobody is
    // watching: it returns at once); a page has been answered the finished state and 1.5 s (a poll and
    // the final image's load) have passed; `seconds` have passed (seconds < 0: no limit, nor the early
    // returns); stop() returns true (checked every 50 ms; stylize passes its Ctrl-C flag).
    // Returns the seconds it waited.
    double linger(double seconds, const std::function<bool()>& stop);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace nst

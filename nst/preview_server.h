// The live preview of a style-transfer run (stylize --preview-port): a small HTTP server, on its own
// thread, serving a self-contained page (the current image, the iteration, loss curves per term) and
// the data it polls. Contract: the optimisation hands over frames with publish() and never waits for a
// browser; every request is answered from the newest frame, and PNG encoding happens on the server's
// threads. Endpoints:
//   GET /               the page (inline JS and CSS, nothing fetched from elsewhere)
//   GET /image.png      the newest frame as PNG; 503 before the first publish()
//   GET /state.json     {iteration, total, frame, terms:{name:value}, finished, message}
//   GET /history.json   {from, next, terms:{name:[[iteration,value],...]}}: every published frame's
//                       terms, or with ?from=K those of the frames after the first K (the page asks
//                       with the last answer's `next`, so only for what is new)
#pragma once
#include <cstdint>
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

class PreviewServer {
  public:
    // Binds host:port (port 0 = any free port) and serves in a background thread. Throws nst::Error naming
    // --preview-port and the address when it cannot bind (port in use, bad host).
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
    void finish(const std::string& message);  // run ended (or failed): the page shows it and stops polling

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace nst

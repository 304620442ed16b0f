// The live preview's HTTP server (nst/preview_server.h) through real HTTP on 127.0.0.1: every endpoint's
// status, content type and content, the PNG decoded back to the published pixels, the loss history,
// bind errors, bad requests, and publish() going on while clients hammer the server and one stalls.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stb_image.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <httplib.h>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/error.h"
#include "nst/preview_server.h"
#include "tests/catch.h"

using namespace nst;
using json = nlohmann::ordered_json;  // keeps the server's order of terms

namespace {

// A frame whose every byte depends on its position and on `seed`, so a mix-up of pixels, channels,
// rows or frames shows.
PreviewFrame frame(int iteration, int width, int height, int seed) {
    PreviewFrame f;
    f.iteration = iteration;
    f.total = 500;
    f.width = width;
    f.height = height;
    f.rgb.resize(size_t(width) * height * 3);
    for (size_t i = 0; i < f.rgb.size(); ++i) f.rgb[i] = uint8_t((i * 7 + size_t(seed) * 31) % 251);
    f.terms = {{"content relu4_2", 1000.0 + iteration}, {"style relu1_1", 5e6 / (iteration + 1)},
               {"tv", 0.5 * iteration}, {"total", 5e6 + iteration}};
    return f;
}

httplib::Result get(int port, const std::string& path) {
    httplib::Client cli("127.0.0.1", port);
    cli.set_connection_timeout(5);
    cli.set_read_timeout(30);
    auto r = cli.Get(path);
    INFO(path << ": " << httplib::to_string(r.error()));
    REQUIRE(r);
    return r;
}

json get_json(int port, const std::string& path) {
    auto r = get(port, path);
    REQUIRE(r->status == 200);
    REQUIRE(r->get_header_value("Content-Type") == "application/json");
    return json::parse(r->body);
}

// The decoded PNG equals the frame's pixels.
void require_image(int port, const PreviewFrame& f) {
    auto r = get(port, "/image.png?it=" + std::to_string(f.iteration));
    REQUIRE(r->status == 200);
    REQUIRE(r->get_header_value("Content-Type") == "image/png");
    int w = 0, h = 0, n = 0;
    std::unique_ptr<stbi_uc, void (*)(void*)> px(
        stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(r->body.data()), int(r->body.size()), &w, &h, &n, 3),
        stbi_image_free);
    REQUIRE(px);
    REQUIRE(w == f.width);
    REQUIRE(h == f.height);
    REQUIRE(std::equal(f.rgb.begin(), f.rgb.end(), px.get()));
}

// A client that asks for `path` and then reads nothing, with a tiny receive window, so the server's
// write of a large response stalls until its write timeout or until this socket closes.
struct StalledClient {
    int fd = -1;
    StalledClient(int port, const std::string& path) {
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fd >= 0);
        int small = 4096;
        REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(uint16_t(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        REQUIRE(::send(fd, req.data(), req.size(), 0) == ssize_t(req.size()));
    }
    // True once the response's first bytes have arrived (peeked, not read: the window stays full).
    bool wait_for_response() {
        timeval tv{30, 0};
        REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
        char c;
        return ::recv(fd, &c, 1, MSG_PEEK) == 1;
    }
    ~StalledClient() { ::close(fd); }
};

}  // namespace

TEST_CASE("preview: before the first frame the page and state answer, the image is 503", "[preview]") {
    PreviewServer server("127.0.0.1", 0);
    REQUIRE(server.port() > 0);
    REQUIRE(server.url() == "http://127.0.0.1:" + std::to_string(server.port()) + "/");

    auto page = get(server.port(), "/");
    REQUIRE(page->status == 200);
    REQUIRE(page->get_header_value("Content-Type") == "text/html; charset=utf-8");
    for (const char* part : {"<canvas", "/state.json", "/history.json", "/image.png?it=", "<img"})
        REQUIRE_THAT(page->body, Catch::Contains(part));
    // Self-contained: nothing is fetched from another host.
    REQUIRE(page->body.find("http://") == std::string::npos);
    REQUIRE(page->body.find("https://") == std::string::npos);

    auto img = get(server.port(), "/image.png");
    REQUIRE(img->status == 503);
    REQUIRE_THAT(img->body, Catch::Contains("no image yet"));

    const json st = get_json(server.port(), "/state.json");
    REQUIRE(st["iteration"] == 0);
    REQUIRE(st["finished"] == false);
    REQUIRE(st["image"].is_null());
    REQUIRE(st["terms"].empty());
    REQUIRE(get_json(server.port(), "/history.json")["next"] == 0);
    REQUIRE(get(server.port(), "/nothing")->status == 404);
}

TEST_CASE("preview: the image, state and history follow publish()", "[preview]") {
    PreviewServer server("127.0.0.1", 0);
    const PreviewFrame first = frame(1, 7, 5, 1);
    server.publish(first);
    require_image(server.port(), first);
    json st = get_json(server.port(), "/state.json");
    REQUIRE(st["iteration"] == 1);
    REQUIRE(st["total"] == 500);
    REQUIRE(st["terms"]["content relu4_2"].get<double>() == 1001.0);
    REQUIRE(st["image"]["serial"] == 1);

    // A new frame of another size replaces the cached PNG.
    const PreviewFrame second = frame(2, 4, 9, 2);
    server.publish(second);
    require_image(server.port(), second);

    // A frame without pixels updates the losses and keeps the last image.
    PreviewFrame losses_only = frame(3, 0, 0, 0);
    server.publish(losses_only);
    require_image(server.port(), second);
    st = get_json(server.port(), "/state.json");
    REQUIRE(st["iteration"] == 3);
    REQUIRE(st["frame"] == 3);
    REQUIRE(st["image"]["iteration"] == 2);
    REQUIRE(st["terms"]["tv"].get<double>() == 1.5);
    // Terms in the order they were given (the legend's order).
    std::vector<std::string> names;
    for (const auto& [k, v] : st["terms"].items()) names.push_back(k);
    REQUIRE(names == std::vector<std::string>{"content relu4_2", "style relu1_1", "tv", "total"});

    const json all = get_json(server.port(), "/history.json");
    REQUIRE(all["next"] == 3);
    const json& tv = all["terms"]["tv"];
    REQUIRE(tv.size() == 3);
    for (int i = 0; i < 3; ++i) {
        REQUIRE(tv[i][0] == i + 1);
        REQUIRE(tv[i][1].get<double>() == 0.5 * (i + 1));
    }
    const json tail = get_json(server.port(), "/history.json?from=2");
    REQUIRE(tail["terms"]["style relu1_1"].size() == 1);
    REQUIRE(tail["terms"]["style relu1_1"][0][0] == 3);
    REQUIRE(get_json(server.port(), "/history.json?from=3")["terms"]["total"].empty());
}

TEST_CASE("preview: finish() is shown in the state", "[preview]") {
    PreviewServer server("127.0.0.1", 0);
    server.publish(frame(500, 3, 3, 4));
    server.finish("wrote out.png");
    const json st = get_json(server.port(), "/state.json");
    REQUIRE(st["finished"] == true);
    REQUIRE(st["message"] == "wrote out.png");
    REQUIRE(st["iteration"] == 500);
}

TEST_CASE("preview: bad requests and bad frames are refused, and the server goes on", "[preview]") {
    PreviewServer server("127.0.0.1", 0);
    for (const char* from : {"abc", "-1", "3x", ""}) {
        auto r = get(server.port(), std::string("/history.json?from=") + from);
        REQUIRE(r->status == 400);
        REQUIRE_THAT(r->body, Catch::Contains("from must be a whole number"));
    }
    PreviewFrame bad = frame(1, 4, 4, 0);
    bad.rgb.pop_back();
    REQUIRE_THROWS_WITH(server.publish(bad), Catch::Contains("4x4 pixels must hold 48 RGB bytes, not 47"));
    bad.width = -4;
    REQUIRE_THROWS_AS(server.publish(bad), nst::Error);
    REQUIRE(get_json(server.port(), "/state.json")["frame"] == 0);
    // A diverged run's losses: JSON has no NaN or infinity, they come as null.
    PreviewFrame diverged = frame(1, 2, 2, 0);
    diverged.terms = {{"style relu1_1", std::nan("")}, {"total", INFINITY}};
    server.publish(diverged);
    REQUIRE(get(server.port(), "/image.png")->status == 200);
    REQUIRE(get_json(server.port(), "/state.json")["terms"]["total"].is_null());
    REQUIRE(get_json(server.port(), "/history.json")["terms"]["style relu1_1"][0][1].is_null());
}

TEST_CASE("preview: a port in use, a bad host or port is an error naming --preview-port", "[preview]") {
    PreviewServer first("127.0.0.1", 0);
    const std::string port = std::to_string(first.port());
    REQUIRE_THROWS_WITH(PreviewServer("127.0.0.1", first.port()),
                        Catch::Contains("--preview-port " + port) && Catch::Contains("127.0.0.1:" + port));
    REQUIRE_THROWS_WITH(PreviewServer("no-such-host.invalid", 0),
                        Catch::Contains("--preview-port 0") && Catch::Contains("no-such-host.invalid:0"));
    REQUIRE_THROWS_WITH(PreviewServer("127.0.0.1", 70000), Catch::Contains("--preview-port 70000"));
    // The first server is unharmed.
    REQUIRE(get(first.port(), "/")->status == 200);
}

TEST_CASE("preview: publish() never waits for clients, even a stalled one", "[preview]") {
    PreviewServer server("127.0.0.1", 0);
    // A large incompressible image, so the stalled client's response cannot fit in the socket buffers
    // (Linux lets a TCP send buffer grow to 4 MiB by default).
    PreviewFrame big = frame(0, 1500, 1500, 0);
    uint32_t s = 12345;
    for (auto& b : big.rgb) b = uint8_t((s = s * 1664525u + 1013904223u) >> 24);
    server.publish(big);
    auto stalled = std::make_unique<StalledClient>(server.port(), "/image.png");
    REQUIRE(stalled->wait_for_response());  // the server is now writing to it, and will stall

    std::atomic<bool> stop{false};
    std::atomic<int> answered{0};
    std::thread hammer([&] {
        httplib::Client cli("127.0.0.1", server.port());
        cli.set_read_timeout(30);
        do {
            if (auto r = cli.Get("/image.png"); r && r->status == 200) ++answered;
        } while (!stop);
    });
    double longest = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 1; i <= 1000; ++i) {
        PreviewFrame f = frame(i, 160, 120, i);
        const auto t = std::chrono::steady_clock::now();
        server.publish(std::move(f));
        longest = std::max(longest, std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stop = true;
    hammer.join();
    stalled.reset();  // the server's write to it now fails; the process must not die of SIGPIPE
    INFO("1000 publish() calls took " << seconds << " s, the longest " << longest << " s; " << answered
                                      << " images served meanwhile");
    // Generous bounds, not a benchmark: a publish() that waited for the stalled client (the server's
    // write timeout is 5 s) or for PNG encodings would exceed them.
    REQUIRE(longest < 3);
    REQUIRE(seconds < 30);
    REQUIRE(answered > 0);
    REQUIRE(get_json(server.port(), "/state.json")["iteration"] == 1000);
    // The big frame was the first publish(): 1001 in all.
    REQUIRE(get_json(server.port(), "/history.json?from=1000")["terms"]["total"].size() == 1);
    require_image(server.port(), frame(1000, 160, 120, 1000));
}

// The live preview's HTTP server (preview/preview_server.h) through real HTTP on 127.0.0.1: every endpoint's
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
#include "preview/preview_server.h"
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
    REQUIRE(get_json(server.port(), "/state.json")["finished"] == false);
    server.finish("wrote out.png");
    json st = get_json(server.port(), "/state.json");
    REQUIRE(st["finished"] == true);
    REQUIRE(st["failed"] == false);
    REQUIRE(st["message"] == "wrote out.png");
    REQUIRE(st["iteration"] == 500);
    server.finish("failed: --output-image: disk full", true);
    st = get_json(server.port(), "/state.json");
    REQUIRE(st["failed"] == true);
    REQUIRE(st["message"] == "failed: --output-image: disk full");
}

namespace {
double since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

TEST_CASE("preview: linger() serves the finished page until a page has shown it, and no longer than asked",
          "[preview]") {
    SECTION("nobody ever looked: it returns at once") {
        PreviewServer server("127.0.0.1", 0);
        server.finish("done");
        REQUIRE_FALSE(server.watched());
        const auto t0 = std::chrono::steady_clock::now();
        REQUIRE(server.linger(30, nullptr) == 0);
        REQUIRE(since(t0) < 1);
    }
    SECTION("a page is open: it keeps answering until the page got the finished state, then 1.5 s") {
        PreviewServer server("127.0.0.1", 0);
        server.publish(frame(9, 3, 3, 1));
        REQUIRE(get_json(server.port(), "/state.json")["finished"] == false);  // the page, polling
        REQUIRE(server.watched());
        server.finish("done: wrote out.png");
        std::atomic<bool> saw_finished{false};
        std::thread page([&] {  // polls a little later, as a page on a one-second timer does
            std::this_thread::sleep_for(std::chrono::milliseconds(700));
            saw_finished = get_json(server.port(), "/state.json")["finished"] == true;
            require_image(server.port(), frame(9, 3, 3, 1));
        });
        const auto t0 = std::chrono::steady_clock::now();
        const double waited = server.linger(30, nullptr);
        page.join();
        REQUIRE(saw_finished);
        INFO("linger took " << waited << " s");
        REQUIRE(waited >= 0.7 + 1.5 - 0.1);
        REQUIRE(waited < 15);  // far less than 30: it ended because the page had shown it
        REQUIRE(since(t0) >= waited);
    }
    SECTION("a page that does not poll again: the time limit ends it") {
        PreviewServer server("127.0.0.1", 0);
        REQUIRE(get(server.port(), "/")->status == 200);
        server.finish("done");
        const double waited = server.linger(0.4, nullptr);
        REQUIRE(waited >= 0.4);
        REQUIRE(waited < 5);
    }
    SECTION("no limit (-1): only stop() ends it, though a page has shown the finished state") {
        PreviewServer server("127.0.0.1", 0);
        server.finish("done");
        REQUIRE(get_json(server.port(), "/state.json")["finished"] == true);
        std::atomic<bool> stop{false};
        std::thread ctrl_c([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // past the 1.5 s early end
            stop = true;
        });
        const double waited = server.linger(-1, [&] { return stop.load(); });
        ctrl_c.join();
        REQUIRE(waited >= 2.4);
        REQUIRE(waited < 10);
    }
}

namespace {
// A GET with the given Host header (none when host is empty), as a raw HTTP/1.0 request, so that no
// client library adds or fixes the header. Returns the status code.
int status_with_host(int port, const std::string& path, const std::string& host) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    const std::string req = "GET " + path + " HTTP/1.0\r\n" + (host.empty() ? "" : "Host: " + host + "\r\n") + "\r\n";
    REQUIRE(::send(fd, req.data(), req.size(), 0) == ssize_t(req.size()));
    std::string answer;
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) answer.append(buf, size_t(n));
    ::close(fd);
    INFO("Host '" << host << "': " << answer.substr(0, 300));
    REQUIRE(answer.rfind("HTTP/1.", 0) == 0);
    return std::stoi(answer.substr(9, 3));
}
}  // namespace

TEST_CASE("preview: only localhost names, IP addresses and the bound name may be the Host (DNS rebinding)",
          "[preview]") {
    PreviewServer server("127.0.0.1", 0);
    server.publish(frame(1, 3, 3, 1));
    const int port = server.port();
    const std::string p = std::string(1, ':').append(std::to_string(port));
    const auto with_port = [&](std::string name) { return name.append(p); };
    const std::vector<std::string> accepted{with_port("127.0.0.1"), "127.0.0.1", with_port("localhost"), "LocalHost.",
                                            with_port("app.localhost"), with_port("[::1]"), "[::1]",
                                            with_port("10.1.2.3")};
    for (const std::string& ok : accepted)
        for (const char* path : {"/", "/image.png", "/state.json", "/history.json"}) {
            INFO(ok << " " << path);
            REQUIRE(status_with_host(port, path, ok) == 200);
        }
    const std::vector<std::string> refused{with_port("attacker.test"), "attacker.test",
                                           with_port("127.0.0.1.attacker.test"), "localhost.attacker.test",
                                           with_port("notlocalhost"), "[::1", "127.0.0.1:80x", "127.0.0.1:", ""};
    for (const std::string& bad : refused)
        for (const char* path : {"/", "/image.png", "/state.json", "/history.json?from=0"}) {
            INFO("'" << bad << "' " << path);
            REQUIRE(status_with_host(port, path, bad) == 403);
        }
    // The refusal says how to open the page; the refused requests do not count as a page watching.
    httplib::Client cli("127.0.0.1", port);
    auto r = cli.Get("/image.png", httplib::Headers{{"Host", "attacker.test"}});
    REQUIRE(r);
    REQUIRE(r->status == 403);
    REQUIRE_THAT(r->body, Catch::Contains("http://localhost" + p + "/") && Catch::Contains("--preview-host"));
    PreviewServer unwatched("127.0.0.1", 0);
    REQUIRE(status_with_host(unwatched.port(), "/state.json", "attacker.test") == 403);
    REQUIRE_FALSE(unwatched.watched());
}

TEST_CASE("preview: a wildcard bind also answers to this machine's hostname", "[preview]") {
    PreviewServer server("0.0.0.0", 0);
    char name[256] = {};
    REQUIRE(::gethostname(name, sizeof name - 1) == 0);
    REQUIRE(status_with_host(server.port(), "/", std::string(name) + ":" + std::to_string(server.port())) == 200);
    REQUIRE(status_with_host(server.port(), "/", "attacker.test") == 403);
    PreviewServer local("127.0.0.1", 0);  // bound to loopback only, the hostname is not one of its names
    if (std::string(name) != "localhost") REQUIRE(status_with_host(local.port(), "/", name) == 403);
}

TEST_CASE("preview: the loss history is bounded, thinning old points and keeping the newest", "[preview]") {
    PreviewServer server("127.0.0.1", 0);
    const int n = 3 * int(kHistoryPoints) + 123;
    for (int i = 1; i <= n; ++i) {
        PreviewFrame f;
        f.iteration = i;
        f.total = n;
        f.terms = {{"total", double(i)}};
        server.publish(std::move(f));
    }
    const json all = get_json(server.port(), "/history.json")["terms"]["total"];
    INFO(all.size() << " points kept of " << n);
    REQUIRE(all.size() <= kHistoryPoints);
    REQUIRE(all.size() >= kHistoryPoints / 2);
    REQUIRE(all.front()[0] == 1);  // the curve keeps its start...
    REQUIRE(all.back()[0] == n);   // ...and its end
    for (size_t i = 1; i < all.size(); ++i) REQUIRE(all[i][0].get<int>() > all[i - 1][0].get<int>());
    // The newest points are all there, and the page's incremental request still works.
    const json tail = get_json(server.port(), "/history.json?from=" + std::to_string(n - 5))["terms"]["total"];
    REQUIRE(tail.size() == 5);
    REQUIRE(tail[0][0] == n - 4);
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

TEST_CASE("preview: a port in use or out of range blames --preview-port, a bad host --preview-host", "[preview]") {
    PreviewServer first("127.0.0.1", 0);
    const std::string port = std::to_string(first.port());
    REQUIRE_THROWS_WITH(PreviewServer("127.0.0.1", first.port()),
                        Catch::Contains("--preview-port " + port) && Catch::Contains("127.0.0.1:" + port) &&
                            Catch::Contains("in use"));
    REQUIRE_THROWS_WITH(PreviewServer("no-such-host.invalid", 0),
                        Catch::StartsWith("--preview-host no-such-host.invalid: not an address, nor a name") &&
                            !Catch::Contains("--preview-port"));
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): an address, but never this machine's.
    REQUIRE_THROWS_WITH(PreviewServer("192.0.2.1", 0),
                        Catch::StartsWith("--preview-host 192.0.2.1: not an address of this machine"));
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

// The live preview's HTTP server (contract in preview_server.h), on cpp-httplib. The optimisation's
// thread and the server's threads share one mutex, held only to swap pointers and append or copy a few
// numbers: PNG encoding, JSON building and socket writes all happen outside it, on the server's threads,
// so a slow or stalled browser can never hold up publish().
#include "preview/preview_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netdb.h>
#include <stb_image_write.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "preview/preview_page.h"

namespace nst {

namespace {

using Json = nlohmann::ordered_json;  // terms keep the order stylize gives them (the legend's order)

// One point of a term's loss curve. `frame` is the publish() count when it was added (1, 2, ...): the
// page asks for the points it has not seen by that number, since iterations restart at each scale.
struct HistoryPoint {
    uint64_t frame;
    int iteration;
    double value;
};

// An image frame with the number of the publish() that brought it (the PNG cache's key).
struct ImageFrame {
    uint64_t serial;
    PreviewFrame frame;
};

std::string encode_png(const PreviewFrame& f) {
    std::string png;
    const auto append = [](void* out, void* data, int size) {
        static_cast<std::string*>(out)->append(static_cast<const char*>(data), static_cast<size_t>(size));
    };
    if (!stbi_write_png_to_func(append, &png, f.width, f.height, 3, f.rgb.data(), f.width * 3))
        throw Error("preview: PNG encoding of the " + std::to_string(f.width) + "x" + std::to_string(f.height) +
                    " image failed");
    return png;
}

// The address as a browser on this machine reaches it: a wildcard bind is reached through loopback.
std::string url_host(const std::string& host) {
    if (host.empty() || host == "0.0.0.0") return "127.0.0.1";
    if (host == "::") return "[::1]";
    if (host.find(':') != std::string::npos) return "[" + host + "]";  // IPv6 literal
    return host;
}

void check_frame(const PreviewFrame& f) {
    const bool no_image = f.width == 0 && f.height == 0 && f.rgb.empty();
    if (no_image) return;
    if (f.width <= 0 || f.height <= 0 || f.rgb.size() != size_t(f.width) * size_t(f.height) * 3)
        throw Error("preview: a frame of " + std::to_string(f.width) + "x" + std::to_string(f.height) +
                    " pixels must hold " + std::to_string(int64_t(f.width) * f.height * 3) + " RGB bytes, not " +
                    std::to_string(f.rgb.size()));
}

std::string lower(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool is_wildcard(const std::string& host) { return host.empty() || host == "0.0.0.0" || host == "::"; }

// The name in a Host header ("name", "name:port", "[v6]", "[v6]:port"), lower-cased and without a
// trailing dot; "" when the header is malformed.
std::string host_name_of(const std::string& header) {
    std::string name, rest;
    if (!header.empty() && header[0] == '[') {
        const size_t close = header.find(']');
        if (close == std::string::npos) return "";
        name = header.substr(1, close - 1);
        rest = header.substr(close + 1);
    } else {
        const size_t colon = header.find(':');
        name = header.substr(0, colon);
        rest = colon == std::string::npos ? "" : header.substr(colon);
    }
    if (!rest.empty() && (rest[0] != ':' || rest.size() == 1 ||
                          rest.find_first_not_of("0123456789", 1) != std::string::npos))
        return "";
    name = lower(name);
    if (!name.empty() && name.back() == '.') name.pop_back();
    return name;
}

bool is_ip_literal(const std::string& name) {
    unsigned char buf[sizeof(in6_addr)];
    return ::inet_pton(AF_INET, name.c_str(), buf) == 1 || ::inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

bool is_localhost_name(const std::string& name) {
    const std::string suffix = ".localhost";
    return name == "localhost" ||
           (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0);
}

// Why host:port cannot be listened on, as a sentence naming the flag at fault (asked after the bind
// failed: a probe socket reproduces the failure and its errno tells the port from the host).
std::string bind_failure(const std::string& host, int port) {
    const std::string address = host + ":" + std::to_string(port);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0)
        return "--preview-host " + host + ": not an address, nor a name this machine can resolve (" +
               ::gai_strerror(rc) + "); give one of its addresses, 127.0.0.1 (the default) or 0.0.0.0";
    int err = 0;
    for (const addrinfo* a = found; a; a = a->ai_next) {
        const int fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        const int yes = 1;
        (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        err = ::bind(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
        ::close(fd);
        if (err == EADDRINUSE || err == EACCES || err == 0) break;
    }
    ::freeaddrinfo(found);
    if (err == EADDRINUSE)
        return "--preview-port " + std::to_string(port) + ": cannot listen on " + address +
               ": the port is in use; choose another port, or 0 for any free one";
    if (err == EACCES)
        return "--preview-port " + std::to_string(port) + ": cannot listen on " + address +
               ": ports below 1024 need root; choose another port, or 0 for any free one";
    if (err == EADDRNOTAVAIL)
        return "--preview-host " + host + ": not an address of this machine; give one of its addresses, "
               "127.0.0.1 (the default) or 0.0.0.0";
    return "--preview-port " + std::to_string(port) + ", --preview-host " + host + ": cannot listen on " + address +
           (err ? std::string(" (") + std::strerror(err) + ")" : std::string());
}

// Every other point of a full history goes, the newest kept: the curve keeps its span at half the step.
void thin(std::vector<HistoryPoint>& points) {
    if (points.size() < kHistoryPoints) return;
    const HistoryPoint newest = points.back();
    size_t kept = 0;
    for (size_t i = 0; i < points.size(); i += 2) points[kept++] = points[i];
    points.resize(kept);
    if (points.back().frame != newest.frame) points.push_back(newest);
}

void no_store(httplib::Response& res) { res.set_header("Cache-Control", "no-store"); }

// Each handler answers 500 with the error's text rather than letting it reach httplib's thread.
template <class F>
auto guarded(F f) {
    return [f](const httplib::Request& req, httplib::Response& res) {
        try {
            f(req, res);
        } catch (const std::exception& e) {
            res.status = 500;
            res.set_content(std::string("preview: ") + e.what() + "\n", "text/plain; charset=utf-8");
        }
    };
}

}  // namespace

struct PreviewServer::Impl {
    httplib::Server server;
    std::thread thread;
    std::atomic<bool> listen_returned{false};
    std::string host;
    int port = 0;

    std::mutex mutex;  // guards everything below
    uint64_t frames = 0;  // publish() calls so far
    int iteration = 0, total = 0;
    std::vector<std::pair<std::string, double>> terms;  // the newest frame's
    std::shared_ptr<const ImageFrame> image;            // the newest frame that had pixels
    std::shared_ptr<const std::string> png;             // image's PNG, once a request has encoded it
    uint64_t png_serial = 0;
    std::vector<std::string> term_order;  // names in first-seen order
    std::map<std::string, std::vector<HistoryPoint>> history;
    bool finished = false, failed = false;
    std::string message;

    std::set<std::string> own_names;  // Host names besides IP literals and localhost (see the header)
    std::atomic<uint64_t> requests{0};       // requests whose Host was accepted
    std::atomic<bool> finished_seen{false};  // a /state.json with finished: true was served

    bool host_allowed(const std::string& header) const;

    void configure();
    void bind(const std::string& host, int port);
    void start();
    void routes();
    void get_image(httplib::Response& res);
    void get_state(httplib::Response& res);
    void get_history(const httplib::Request& req, httplib::Response& res);
    std::shared_ptr<const std::string> png_of(const std::shared_ptr<const ImageFrame>& img);
};

void PreviewServer::Impl::bind(const std::string& h, int p) {
    if (p < 0 || p > 65535)
        throw Error("--preview-port " + std::to_string(p) + ": a port is 0 (any free one) to 65535");
    host = h;
    port = p == 0 ? server.bind_to_any_port(h) : (server.bind_to_port(h, p) ? p : -1);
    if (port <= 0) throw Error(bind_failure(h, p));
    std::string bound = lower(h);
    if (bound.size() > 2 && bound.front() == '[' && bound.back() == ']') bound = bound.substr(1, bound.size() - 2);
    own_names.insert(bound);
    if (is_wildcard(h)) {  // every interface: a browser elsewhere may well use this machine's name
        char name[256] = {};
        if (::gethostname(name, sizeof name - 1) == 0 && name[0]) {
            own_names.insert(lower(name));
            own_names.insert(lower(name) + ".local");  // its mDNS name
        }
    }
}

bool PreviewServer::Impl::host_allowed(const std::string& header) const {
    const std::string name = host_name_of(header);
    return !name.empty() && (is_ip_literal(name) || is_localhost_name(name) || own_names.count(name) > 0);
}

// Few threads and short keep-alives: one browser tab is the expected client, and the destructor waits
// for idle keep-alive connections to time out before its join returns.
void PreviewServer::Impl::configure() {
    server.new_task_queue = [] { return new httplib::ThreadPool(4); };
    // httplib's default sets SO_REUSEPORT, with which a second run on the same port binds too and the
    // kernel splits the connections between the two; SO_REUSEADDR alone refuses a port that is listened
    // on and still allows a restart while old connections linger in TIME_WAIT.
    // Its failure is not reported: it would only cost that restart convenience, and bind() still says
    // when the port cannot be had.
    server.set_socket_options([](socket_t sock) {
        const int yes = 1;
        (void)::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    server.set_keep_alive_timeout(1);
    server.set_read_timeout(5);
    server.set_write_timeout(5);
    server.set_payload_max_length(64 * 1024);  // the page only sends GETs
    routes();
}

void PreviewServer::Impl::start() {
    thread = std::thread([this] {
        try {
            server.listen_after_bind();
        } catch (...) {  // a server that stops must not take the run with it; the page says "not reachable"
        }
        listen_returned = true;
    });
    // stop() does nothing until the listen loop is running, so the destructor must not race its start.
    while (!server.is_running() && !listen_returned) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void PreviewServer::Impl::routes() {
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        const std::string h = req.get_header_value("Host");
        if (host_allowed(h)) {
            ++requests;
            return httplib::Server::HandlerResponse::Unhandled;
        }
        res.status = 403;
        res.set_content("preview: refused the Host '" + h + "': open the page as http://localhost:" +
                            std::to_string(port) + "/, by an IP address of this machine, or by the name given "
                            "as --preview-host (other names could be a DNS-rebinding page)\n",
                        "text/plain; charset=utf-8");
        return httplib::Server::HandlerResponse::Handled;
    });
    server.Get("/", guarded([](const httplib::Request&, httplib::Response& res) {
        res.set_content(kPreviewPage, "text/html; charset=utf-8");
    }));
    server.Get("/image.png", guarded([this](const httplib::Request&, httplib::Response& res) { get_image(res); }));
    server.Get("/state.json", guarded([this](const httplib::Request&, httplib::Response& res) { get_state(res); }));
    server.Get("/history.json",
               guarded([this](const httplib::Request& req, httplib::Response& res) { get_history(req, res); }));
}

// Encodes outside the mutex; two requests for a new frame may both encode it, which is harmless.
std::shared_ptr<const std::string> PreviewServer::Impl::png_of(const std::shared_ptr<const ImageFrame>& img) {
    {
        std::lock_guard lock(mutex);
        if (png && png_serial == img->serial) return png;
    }
    auto encoded = std::make_shared<const std::string>(encode_png(img->frame));
    std::lock_guard lock(mutex);
    if (img->serial > png_serial) {
        png = encoded;
        png_serial = img->serial;
    }
    return encoded;
}

void PreviewServer::Impl::get_image(httplib::Response& res) {
    std::shared_ptr<const ImageFrame> img;
    {
        std::lock_guard lock(mutex);
        img = image;
    }
    no_store(res);
    if (!img) {
        res.status = 503;
        res.set_content("no image yet: the run has not published its first iteration\n", "text/plain; charset=utf-8");
        return;
    }
    res.set_content(*png_of(img), "image/png");
}

void PreviewServer::Impl::get_state(httplib::Response& res) {
    Json j;
    {
        std::lock_guard lock(mutex);
        j["iteration"] = iteration;
        j["total"] = total;
        j["frame"] = frames;
        j["terms"] = Json::object();
        for (const auto& [name, value] : terms) j["terms"][name] = value;
        j["finished"] = finished;
        j["message"] = message;
        j["failed"] = failed;
        if (finished) finished_seen = true;
        j["image"] = image ? Json{{"serial", image->serial},
                                  {"iteration", image->frame.iteration},
                                  {"width", image->frame.width},
                                  {"height", image->frame.height}}
                           : Json(nullptr);
    }
    no_store(res);
    res.set_content(j.dump(), "application/json");
}

// ?from=K: the points of the frames published after the first K (0, the default: all); the answer's
// `next` is the K to ask with next time. The points are copied under the mutex and turned into JSON
// after it is released.
void PreviewServer::Impl::get_history(const httplib::Request& req, httplib::Response& res) {
    uint64_t from = 0;
    if (req.has_param("from")) {
        const std::string v = req.get_param_value("from");
        const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), from);  // digits only: no sign
        if (v.empty() || ec != std::errc() || end != v.data() + v.size()) {
            res.status = 400;
            res.set_content("from must be a whole number of frames, not '" + v + "'\n", "text/plain; charset=utf-8");
            return;
        }
    }
    std::vector<std::pair<std::string, std::vector<HistoryPoint>>> copy;
    uint64_t next = 0;
    {
        std::lock_guard lock(mutex);
        next = frames;
        for (const auto& name : term_order) {
            const auto& points = history.at(name);
            const auto first = std::lower_bound(points.begin(), points.end(), from + 1,
                                                [](const HistoryPoint& p, uint64_t f) { return p.frame < f; });
            copy.emplace_back(name, std::vector<HistoryPoint>(first, points.end()));
        }
    }
    Json j{{"from", from}, {"next", next}, {"terms", Json::object()}};
    for (const auto& [name, points] : copy) {
        Json& arr = j["terms"][name] = Json::array();
        for (const auto& p : points) arr.push_back(Json::array({p.iteration, p.value}));
    }
    no_store(res);
    res.set_content(j.dump(), "application/json");
}

PreviewServer::PreviewServer(const std::string& host, int port) : impl_(std::make_unique<Impl>()) {
    impl_->configure();
    impl_->bind(host, port);
    impl_->start();
}

PreviewServer::~PreviewServer() {
    impl_->server.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
}

int PreviewServer::port() const { return impl_->port; }

std::string PreviewServer::url() const { return "http://" + url_host(impl_->host) + ":" + std::to_string(port()) + "/"; }

// The frame is moved into shared storage before the lock; the image it replaces is released after it.
void PreviewServer::publish(PreviewFrame frame) {
    check_frame(frame);
    Impl& m = *impl_;
    const bool has_image = !frame.rgb.empty();
    std::shared_ptr<ImageFrame> img = has_image ? std::make_shared<ImageFrame>(ImageFrame{0, {}}) : nullptr;
    auto terms = std::move(frame.terms);  // the history's copy; the image keeps none
    const int iteration = frame.iteration, total = frame.total;
    if (img) img->frame = std::move(frame);
    std::shared_ptr<const ImageFrame> replaced;
    std::lock_guard lock(m.mutex);
    const uint64_t serial = ++m.frames;
    m.iteration = iteration;
    m.total = total;
    for (const auto& [name, value] : terms) {
        auto [it, added] = m.history.try_emplace(name);
        if (added) m.term_order.push_back(name);
        thin(it->second);
        it->second.push_back({serial, iteration, value});
    }
    m.terms = std::move(terms);
    if (img) {
        img->serial = serial;
        replaced = std::exchange(m.image, std::move(img));
    }
}

void PreviewServer::finish(const std::string& message, bool failed) {
    std::lock_guard lock(impl_->mutex);
    impl_->finished = true;
    impl_->failed = failed;
    impl_->message = message;
}

bool PreviewServer::watched() const { return impl_->requests > 0; }

double PreviewServer::linger(double seconds, const std::function<bool()>& stop) {
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    const auto elapsed = [&] { return std::chrono::duration<double>(clock::now() - t0).count(); };
    const bool forever = seconds < 0;
    if (!forever && (seconds == 0 || !watched())) return 0;
    std::optional<clock::time_point> seen_at;
    while (!(stop && stop())) {
        if (!forever) {
            if (elapsed() >= seconds) break;
            if (!seen_at && impl_->finished_seen) seen_at = clock::now();
            if (seen_at && clock::now() - *seen_at >= std::chrono::milliseconds(1500)) break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return elapsed();
}

}  // namespace nst

// stylize's progress lines and JSON log (contract in progress.h).
#include "stylize/progress.h"

#include <iomanip>
#include <ostream>
#include <sstream>

#include "base/file_io.h"

namespace nst {

Progress::Progress(const StylizeOptions& o, std::ostream& log, const std::string& device)
    : o_(o), log_(log), t_start_(clock::now()) {
    jlog_["content_image"] = o.content_image;
    jlog_["device"] = device;
    jlog_["style_images"] = o.style_images;
    jlog_["weights"] = o.weights;
    jlog_["iterations"] = nlohmann::json::array();
}

void Progress::begin_scale(int size, int first_iteration, int n) {
    size_ = size, first_iteration_ = first_iteration, n_ = n, steady_k_ = 0;
    t_scale_ = clock::now();
}

std::string Progress::human_seconds(double s) {
    std::ostringstream o;
    if (s >= 3600) o << int(s / 3600) << "h" << std::setw(2) << std::setfill('0') << (int(s) % 3600) / 60 << "m";
    else if (s >= 60) o << int(s / 60) << "m" << std::setw(2) << std::setfill('0') << int(s) % 60 << "s";
    else o << std::fixed << std::setprecision(1) << s << "s";
    return o.str();
}

TermValues Progress::terms_of(const LossTerms& t) const {
    TermValues r;
    // Each term under its layer's name (several style images share a layer's term, so the names fit
    // only when there is one term per layer).
    auto add = [&](const char* kind, const std::vector<Tensor>& terms, const std::vector<std::string>& layers) {
        for (size_t i = 0; i < terms.size(); ++i)
            r.emplace_back(std::string(kind) + (terms.size() == layers.size() ? " " + layers[i] : ""), terms[i].item());
    };
    add("content", t.content, o_.objective.content_layers);
    add("style", t.style, o_.objective.style_layers);
    r.emplace_back("tv", t.tv.item());
    if (t.temporal.defined()) r.emplace_back("temporal", t.temporal.item());
    r.emplace_back("total", t.total.item());
    return r;
}

// The rate is measured from the end of the second iteration on: the first carries the setup (weight
// preparation, buffers, first touch of memory) and would promise a slow run.
std::string Progress::rate_and_eta(int k) const {
    const bool steady = steady_k_ > 0 && k > steady_k_;
    if (!steady) return k == n_ ? "done" : "ETA: measuring";
    const double el = std::chrono::duration<double>(clock::now() - steady_t_).count();
    const double rate = el > 0 ? (k - steady_k_) / el : 0;
    std::ostringstream s;
    s << std::setprecision(3) << rate << " it/s  ETA " << human_seconds(rate > 0 ? (n_ - k) / rate : 0);
    return s.str();
}

TermValues Progress::evaluated(int k, const LossTerms& t) {
    if (k == first_iteration_ + 1) steady_k_ = k, steady_t_ = clock::now();
    const bool print = o_.print_iter > 0 && (k % o_.print_iter == 0 || k == 1 || k == n_);
    if (!print) return {};
    const TermValues terms = terms_of(t);
    std::ostringstream line;
    line << std::setprecision(4) << "scale " << size_ << "  iter " << k << "/" << n_;
    nlohmann::json entry = {{"scale", size_}, {"iteration", k}}, content = nlohmann::json::array(),
                   style = nlohmann::json::array();
    std::string section;
    for (const auto& [label, value] : terms) {
        const std::string kind = label.substr(0, label.find(' '));
        const std::string layer = label.size() > kind.size() ? label.substr(kind.size()) : "";
        if (kind != section) line << "  " << kind, section = kind;
        line << layer << " " << value;
        if (kind == "content") content.push_back(value);
        else if (kind == "style") style.push_back(value);
        else entry[kind] = value;
    }
    log_ << line.str() << "  " << rate_and_eta(k) << std::endl;
    entry["content"] = content;
    entry["style"] = style;
    entry["seconds"] = std::chrono::duration<double>(clock::now() - t_start_).count();
    jlog_["iterations"].push_back(entry);
    return terms;
}

void Progress::write_json(const StylizeResult* r) {
    if (o_.log_json.empty()) return;
    if (r) {
        jlog_["summary"] = {{"evaluations", r->evaluations},
                            {"seconds", r->seconds},
                            {"seconds_per_evaluation", r->seconds_per_evaluation},
                            {"initial_loss", r->initial_loss},
                            {"final_loss", r->final_loss},
                            {"peak_memory_bytes", r->peak_memory_bytes},
                            {"device", r->device}};
    }
    write_file_atomic(o_.log_json, jlog_.dump(2) + "\n");
}

}  // namespace nst

// stylize's progress: the printed lines (each term under its layer's name, the rate and an ETA measured
// from the steady state), the --log-json record, and what a live preview shows. It only reads the loss
// terms; deciding when to save or stop is the driver's (stylize/stylize.cpp).
#pragma once
#include <chrono>
#include <functional>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "nst/objective.h"
#include "stylize/options.h"

namespace nst {

// One report of the terms: (label, value) pairs such as ("content relu4_2", 1.2e6), ("tv", 3e5),
// ("total", ...). Given to the preview on every report.
using TermValues = std::vector<std::pair<std::string, double>>;

class Progress {
  public:
    // device: as the log should name it, e.g. "cuda:0 (NVIDIA H200)".
    Progress(const StylizeOptions& o, std::ostream& log, const std::string& device);

    // A scale starts (or resumes) at first_iteration of n.
    void begin_scale(int size, int first_iteration, int n);

    // Evaluation k is done; prints (and records for --log-json) when --print-iter says so.
    // Returns the labelled terms when they were read (printed), else an empty list.
    TermValues evaluated(int k, const LossTerms& t);

    // The labelled terms of t (reads each one-element tensor: a device sync on the GPU).
    TermValues terms_of(const LossTerms& t) const;

    // Writes the --log-json file (atomically), with the summary when r is given.
    void write_json(const StylizeResult* r);

    static std::string human_seconds(double s);

  private:
    using clock = std::chrono::steady_clock;
    const StylizeOptions& o_;
    std::ostream& log_;
    nlohmann::json jlog_;
    clock::time_point t_start_, t_scale_, steady_t_;
    int size_ = 0, first_iteration_ = 1, n_ = 1, steady_k_ = 0;
    std::string rate_and_eta(int k) const;
};

}  // namespace nst

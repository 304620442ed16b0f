// stylize's checkpoints (contract in checkpoint.h).
#include "stylize/checkpoint.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <iomanip>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#define XXH_INLINE_ALL  // header-only: no library to link, and the GPU machine gets the header in .deps
#include <xxhash.h>

#include "weights/safetensors.h"

namespace nst {

namespace {
std::string shown_hash(XXH64_hash_t h) {
    std::ostringstream s;
    s << "xxh3:" << std::hex << std::setw(16) << std::setfill('0') << h;
    return s.str();
}
}  // namespace

// Streamed in 1 MiB pieces: a video may be far larger than memory allows reading at once.
std::string file_fingerprint(const std::string& path, const std::string& flag) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(flag + ": cannot read " + path);
    XXH3_state_t* st = XXH3_createState();
    XXH3_64bits_reset(st);
    std::vector<char> buf(1 << 20);
    while (in) {
        in.read(buf.data(), std::streamsize(buf.size()));
        XXH3_64bits_update(st, buf.data(), size_t(in.gcount()));
    }
    const bool failed = in.bad();
    const XXH64_hash_t h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    if (failed) throw Error(flag + ": reading " + path + " failed");
    return shown_hash(h);
}

std::string bytes_fingerprint(const std::string& bytes) { return shown_hash(XXH3_64bits(bytes.data(), bytes.size())); }

std::string fingerprint_number(double v) {
    std::ostringstream s;
    s << std::setprecision(17) << v;
    return s.str();
}

namespace {

// A fingerprint value as the user would read it: file hashes are not worth printing.
std::string shown(const std::string& v) { return v.rfind("xxh3:", 0) == 0 ? "other file contents" : "'" + v + "'"; }

}  // namespace

RunFingerprint fingerprint_of(const StylizeOptions& o) {
    RunFingerprint f = options_fingerprint(o);
    f["--content-image"] = file_fingerprint(o.content_image, "--content-image");
    return f;
}

RunFingerprint options_fingerprint(const StylizeOptions& o) {
    RunFingerprint f;
    std::vector<std::string> styles;
    for (const std::string& s : o.style_images) styles.push_back(file_fingerprint(s, "--style-image"));
    f["--style-image"] = fingerprint_list(styles);
    f["--weights"] = file_fingerprint(o.weights, "--weights");
    if (!o.style_masks.empty()) {
        std::vector<std::string> masks;
        for (const std::string& m : o.style_masks) masks.push_back(file_fingerprint(m, "--style-masks"));
        f["--style-masks"] = fingerprint_list(masks);
    }
    if (!o.coarse_style_image.empty()) {
        f["--coarse-style-image"] = file_fingerprint(o.coarse_style_image, "--coarse-style-image");
        f["--coarse-style-layers"] = fingerprint_list(o.coarse_style_layers);
    }
    f["--init"] = o.init;
    if (o.init == "image" && !o.init_image.empty()) f["--init-image"] = file_fingerprint(o.init_image, "--init-image");
    if (o.init == "random") f["--seed"] = std::to_string(o.seed);
    f["--style-blend-weights"] = fingerprint_list(o.style_blend_weights);
    f["--image-size"] = std::to_string(o.image_size);
    f["--scales"] = fingerprint_list(o.scales);
    f["--style-scale"] = fingerprint_number(o.style_scale);
    f["--content-layers"] = fingerprint_list(o.objective.content_layers);
    f["--style-layers"] = fingerprint_list(o.objective.style_layers);
    f["--content-weight"] = fingerprint_number(o.objective.content_weight);
    f["--style-weight"] = fingerprint_number(o.objective.style_weight);
    f["--tv-weight"] = fingerprint_number(o.objective.tv_weight);
    f["--normalize-gradients"] = o.objective.normalize_gradients ? "on" : "off";
    f["--pooling"] = o.objective.pooling == Pooling::Avg ? "avg" : "max";
    f["--optimizer"] = o.optimizer;
    if (o.optimizer == "adam") f["--learning-rate"] = fingerprint_number(o.learning_rate);
    if (o.optimizer == "lbfgs") {
        f["--lbfgs-num-correction"] = std::to_string(o.lbfgs_num_correction);
        f["--lbfgs-line-search"] = o.lbfgs_line_search ? "on" : "off";
    }
    f["--color-control"] = o.color_control;
    return f;
}

namespace {

std::map<std::string, std::string> checkpoint_metadata(const RunFingerprint& fp, const std::string& optimizer, int scale_index,
                                                       int iteration) {
    return {{"nst_checkpoint", "2"},  // 1: fingerprint by path strings (not resumable any more)
            {"optimizer", optimizer},
            {"scale_index", std::to_string(scale_index)},
            {"iteration", std::to_string(iteration)},
            {"fingerprint", nlohmann::json(fp).dump()}};
}

// A tensor's values into the file: read in place on the host, copied there first from a device.
void write_values(weights::SafetensorsWriter& w, const Tensor& t) {
    const Tensor h = t.cpu();
    w.write(h.data<float>(), size_t(h.numel()));
}

// Every checkpoint's file: the image, then the optimiser's tensors as "opt.<name>", written a tensor at a
// time. A sharded state (st.gather_whole) makes this a collective of `ranks` (contract in checkpoint.h).
void write_checkpoint(const std::string& path, const std::map<std::string, std::string>& metadata, const Tensor& x,
                      const OptimizerState& st, dist::Communicator* ranks) {
    const bool sharded = bool(st.gather_whole);
    if (sharded && !ranks) throw Error("internal: a sharded optimiser state is written by its ranks together");
    auto is_share = [&](const Tensor& t) { return sharded && t.numel() > 1; };
    std::vector<weights::SafetensorsWriter::Entry> entries{{"x", x.shape()}};
    for (const auto& [k, t] : st.tensors) entries.push_back({"opt." + k, is_share(t) ? std::vector<int64_t>{st.whole_length} : t.shape()});

    // Rank 0 writes; after its first error it stops writing but goes on gathering, so no rank is left
    // waiting in a collective.
    const bool writes = !ranks || ranks->is_root();
    std::optional<weights::SafetensorsWriter> w;
    std::string failed;
    auto on_writer = [&](const std::function<void()>& write) {
        if (!writes || !failed.empty()) return;
        try {
            write();
        } catch (const Error& e) {
            failed = e.what();
            w.reset();  // removes the temporary file
        }
    };
    on_writer([&] { w.emplace(path, entries, metadata); });
    on_writer([&] { write_values(*w, x); });
    for (const auto& [k, t] : st.tensors) {
        if (is_share(t)) {
            const float* whole = st.gather_whole(t);
            on_writer([&] { w->write(whole, size_t(st.whole_length)); });
        } else {
            on_writer([&] { write_values(*w, t); });
        }
    }
    on_writer([&] { w->commit(); });
    if (ranks) failed = dist::broadcast_string(*ranks, failed, 0);
    if (!failed.empty()) throw Error(failed);
}

}  // namespace

void save_checkpoint(const std::string& path, const RunFingerprint& fp, int scale_index, int iteration, const Tensor& x,
                     const Optimizer& opt) {
    save_checkpoint(path, fp, scale_index, iteration, x, opt.name(), opt.save());
}

void save_checkpoint(const std::string& path, const RunFingerprint& fp, int scale_index, int iteration, const Tensor& x,
                     const std::string& optimizer, const OptimizerState& st, dist::Communicator* ranks) {
    std::map<std::string, std::string> metadata = checkpoint_metadata(fp, optimizer, scale_index, iteration);
    for (const auto& [k, v] : st.numbers) metadata["opt." + k] = fingerprint_number(v);
    write_checkpoint(path, metadata, x, st, ranks);
}

void save_finished_checkpoint(const std::string& path, const RunFingerprint& fp, const std::string& optimizer,
                              int scale_index, int iterations, const Tensor& x) {
    std::map<std::string, std::string> metadata = checkpoint_metadata(fp, optimizer, scale_index, iterations);
    metadata.emplace("finished", "1");  // emplace: GCC 12 warns falsely (-Wrestrict) on operator[] = "1" here
    write_checkpoint(path, metadata, x, OptimizerState{}, nullptr);
}

// Every option or input that differs, in the user's terms; empty when the checkpoint belongs to the run.
std::string fingerprint_differences(const std::string& stored_json, const RunFingerprint& now) {
    RunFingerprint then;
    try {
        then = nlohmann::json::parse(stored_json).get<RunFingerprint>();
    } catch (const std::exception&) {
        return "its fingerprint is unreadable";
    }
    std::string d;
    auto add = [&](const std::string& s) { d += (d.empty() ? "" : "; ") + s; };
    for (const auto& [flag, value] : now) {
        const auto it = then.find(flag);
        const std::string old = it == then.end() ? "" : it->second;
        if (old == value) continue;
        if (value.find("xxh3:") != std::string::npos || old.find("xxh3:") != std::string::npos)
            add(flag + " has other contents than when the checkpoint was made");
        else
            add(flag + " " + shown(value) + " here, " + (old.empty() ? "not set" : shown(old)) + " in the checkpoint");
    }
    for (const auto& [flag, value] : then)
        if (!now.count(flag)) add(flag + " " + shown(value) + " in the checkpoint, not used here");
    return d;
}

namespace {

// Why a checkpoint file is not this run's ("" when it is): other fingerprinted inputs or options (`in_fingerprint`,
// the differences in the user's words), an older format, or another optimizer.
struct Mismatch {
    std::string text;
    bool in_fingerprint = false;
};
Mismatch checkpoint_mismatch(std::map<std::string, std::string>& meta, const RunFingerprint& fp, const StylizeOptions& o) {
    if (meta["nst_checkpoint"] != "2")
        return {"made by an older stylize that recorded paths rather than contents; it cannot be resumed, start the run again"};
    if (std::string diff = fingerprint_differences(meta["fingerprint"], fp); !diff.empty()) return {diff, true};
    if (meta["optimizer"] != o.optimizer) return {"made with --optimizer " + meta["optimizer"]};
    return {};
}

// A checkpoint file's header, read without its data: what it says of itself is checked before a byte of
// the state is read.
struct CheckpointFile {
    std::string path;
    std::ifstream in;
    weights::SafetensorsIndex index;
};

// The run's state from a checkpoint of this run; errors name --resume. Under several ranks each vector of
// the image's length is read as this rank's share only (the sharded optimiser keeps no more).
Checkpoint checkpoint_from(CheckpointFile& f, const StylizeOptions& o, Device d, const dist::Communicator* ranks) {
    const std::string& path = f.path;
    std::map<std::string, std::string>& meta = f.index.metadata;
    Checkpoint c;
    const int scales = o.scales.empty() ? 1 : int(o.scales.size());
    try {
        c.scale_index = std::stoi(meta.at("scale_index"));
        c.iteration = std::stoi(meta.at("iteration"));
    } catch (const std::exception&) {
        throw Error("--resume " + path + ": the checkpoint's position (scale, iteration) is missing or malformed");
    }
    if (c.scale_index < 0 || c.scale_index >= scales || c.iteration < 1)
        throw Error("--resume " + path + ": the checkpoint's position (scale, iteration) is out of range");
    c.finished = meta.count("finished") != 0;
    if (c.finished && (c.scale_index != scales - 1 || c.iteration != o.num_iterations))
        throw Error("--resume " + path + ": the checkpoint holds the finished image of --num-iterations " +
                    std::to_string(c.iteration) + ", which it writes without iterating; pass --num-iterations " +
                    std::to_string(c.iteration) + " (it cannot be continued: --keep-checkpoint keeps one that can)");
    if (c.iteration > o.num_iterations)
        throw Error("--resume " + path + ": the checkpoint is at iteration " + std::to_string(c.iteration) +
                    ", past --num-iterations " + std::to_string(o.num_iterations) + "; pass --num-iterations " +
                    std::to_string(c.iteration) + " or more to continue it");
    const auto x = f.index.tensors.find("x");
    if (x == f.index.tensors.end()) throw Error("--resume " + path + ": the checkpoint holds no image");
    const bool shared = ranks && ranks->size() > 1;
    const dist::Share share = shared ? dist::share_of(x->second.numel, ranks->rank(), ranks->size()) : dist::Share{0, 0};
    for (const auto& [k, e] : f.index.tensors) {
        if (k != "x" && k.rfind("opt.", 0) != 0) continue;
        const bool part = shared && k != "x" && e.numel == x->second.numel;
        const int64_t first = part ? share.begin : 0, count = part ? share.end - share.begin : e.numel;
        Tensor v = Tensor::empty(part ? std::vector<int64_t>{count} : e.shape);
        weights::read_safetensors_values(f.in, f.index, k, first, count, v.data<float>(), "--resume " + path);
        v = v.to(d);
        if (k == "x") c.x = v;
        else c.state.tensors[k.substr(4)] = v;
    }
    for (auto& [k, v] : meta) {
        if (k.rfind("opt.", 0) != 0) continue;
        try {
            c.state.numbers[k.substr(4)] = std::stod(v);
        } catch (const std::exception&) {
            throw Error("--resume " + path + ": optimizer value '" + k + "' is not a number");
        }
    }
    return c;
}

// The file's header, or an Error saying why it cannot be read as safetensors.
void open_checkpoint(CheckpointFile& f, const std::string& path) {
    f.path = path;
    f.in.open(path, std::ios::binary);
    if (!f.in) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
    f.index = weights::read_safetensors_index(f.in, path);
}

}  // namespace

CheckpointProbe probe_checkpoint(const std::string& path, const RunFingerprint& fp, const StylizeOptions& o, Device d,
                                 const dist::Communicator* ranks) {
    CheckpointFile f;
    try {
        open_checkpoint(f, path);
    } catch (const Error&) {
        return {CheckpointProbe::NotACheckpoint, "", std::nullopt};
    }
    if (!f.index.metadata.count("nst_checkpoint")) return {CheckpointProbe::NotACheckpoint, "", std::nullopt};
    if (const Mismatch m = checkpoint_mismatch(f.index.metadata, fp, o); !m.text.empty())
        return {CheckpointProbe::OtherRun, m.text, std::nullopt};
    return {CheckpointProbe::ThisRun, "", checkpoint_from(f, o, d, ranks)};  // the one read of the file
}

Checkpoint load_checkpoint(const std::string& path, const RunFingerprint& fp, const StylizeOptions& o, Device d,
                           const dist::Communicator* ranks) {
    CheckpointFile f;
    try {
        open_checkpoint(f, path);
    } catch (const Error& e) {
        throw Error("--resume " + std::string(e.what()));
    }
    if (!f.index.metadata.count("nst_checkpoint")) throw Error("--resume " + path + ": not a stylize checkpoint");
    if (const Mismatch m = checkpoint_mismatch(f.index.metadata, fp, o); !m.text.empty())
        throw Error("--resume " + path + ": " + (m.in_fingerprint ? "the checkpoint belongs to another run: " : "") + m.text);
    return checkpoint_from(f, o, d, ranks);
}

}  // namespace nst

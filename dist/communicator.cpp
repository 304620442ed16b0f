// The one-process communicator, the choice between it and MPI's, and shares (contract in communicator.h).
#include "dist/communicator.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <vector>

#include "base/error.h"
#include "dist/mpi_communicator.h"

namespace nst::dist {

namespace {

class SingleProcess final : public Communicator {
  public:
    int rank() const override { return 0; }
    int size() const override { return 1; }
    void all_reduce_sum(float*, int64_t) override {}
    void all_reduce_sum(double*, int64_t) override {}
    void broadcast(void*, size_t, int root) override {
        if (root != 0) throw Error("broadcast: root " + std::to_string(root) + " in a job of one process");
    }
    void all_gather(float*, int64_t) override {}
    void barrier() override {}
    [[noreturn]] void abort(int code) override { std::exit(code); }
    std::string describe() const override { return "1 process"; }
};

int env_int(const char* name) {
    const char* v = std::getenv(name);
    return v && *v ? std::atoi(v) : -1;
}

}  // namespace

bool launched_as_ranks() {
    // Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE; PMIx and PMI launchers (srun --mpi=pmix) their ranks.
    return env_int("OMPI_COMM_WORLD_SIZE") >= 1 || std::getenv("PMIX_RANK") || std::getenv("PMI_RANK");
}

Communicator& world() {
    static std::unique_ptr<Communicator> w = []() -> std::unique_ptr<Communicator> {
        if (!launched_as_ranks()) return std::make_unique<SingleProcess>();
        if (built_with_mpi()) return make_mpi_communicator();
        if (env_int("OMPI_COMM_WORLD_SIZE") > 1 || env_int("PMIX_SIZE") > 1 || env_int("PMI_SIZE") > 1)
            throw Error("started as one of several ranks (mpirun or srun), but this build has no MPI: install "
                        "libopenmpi-dev (scripts/install-deps.sh does) and build again");
        return std::make_unique<SingleProcess>();
    }();
    return *w;
}

void end_job_if_ranks(int code) {
    if (!launched_as_ranks() || !built_with_mpi()) return;
    Communicator& w = world();
    if (w.size() > 1) w.abort(code);
}

void refuse_together(const std::string& why) {
    Communicator& w = world();
    if (w.size() == 1) throw Error(why);
    throw EndsTogether(why, w.is_root());
}

bool same_on_every_rank(Communicator& c, uint64_t fingerprint) {
    if (c.size() == 1) return true;
    uint64_t root = fingerprint;
    c.broadcast(&root, sizeof root, 0);
    double differ = root == fingerprint ? 0.0 : 1.0;
    c.all_reduce_sum(&differ, 1);
    return differ == 0;
}

std::string broadcast_string(Communicator& c, const std::string& s, int root) {
    if (c.size() == 1) return s;
    uint64_t n = s.size();
    c.broadcast(&n, sizeof n, root);
    std::string out = c.rank() == root ? s : std::string(size_t(n), '\0');
    if (n > 0) c.broadcast(out.data(), size_t(n), root);
    return out;
}

int local_rank() {
    for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"})
        if (const int v = env_int(name); v >= 0) return v;
    return 0;
}

int device_for_rank(int first, int local, int visible) {
    if (visible <= 0) return first;  // (opening it then says why there is no device)
    return (first + local) % visible;
}

double sum_in_rank_order(Communicator& c, double v) {
    if (c.size() == 1) return v;
    std::vector<double> each(size_t(c.size()), 0.0);
    each[size_t(c.rank())] = v;  // x + 0 is exact: the sum delivers every rank's value unchanged
    c.all_reduce_sum(each.data(), int64_t(each.size()));
    double total = 0;
    for (double e : each) total += e;
    return total;
}

Share share_of(int64_t n, int rank, int size) {
    if (size < 1 || rank < 0 || rank >= size) throw Error("share_of: rank " + std::to_string(rank) + " of " + std::to_string(size));
    const int64_t base = n / size, extra = n % size;
    const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
    return {begin, begin + base + (rank < extra ? 1 : 0)};
}

}  // namespace nst::dist

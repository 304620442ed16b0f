// The processes of one job and what they say to each other (issue #25): rank, size, a sum over every
// rank, a broadcast, a barrier. The rest of the code talks to a Communicator and never checks for MPI:
//   - one process (always built): rank 0 of 1; every collective returns at once, data unchanged;
//   - MPI (built when CMake finds MPI, NST_HAVE_MPI): Debian's Open MPI, chosen by world() when the
//     process was started by mpirun or srun (their environment says so), so that a plain run never pays
//     for MPI_Init.
// Contract: every rank makes the same collective calls in the same order with the same sizes (MPI's
// rule); a size mismatch is MPI's fatal error, which ends the whole job with a message, never a hang.
// Host memory only: a device tensor's data is staged through the host by its caller (Debian's Open MPI is
// not CUDA-aware). A rank that dies ends the job: mpirun sees it and kills the others.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace nst::dist {

class Communicator {
  public:
    virtual ~Communicator() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    // data[i] = Σ over ranks of data[i], on every rank (in place).
    virtual void all_reduce_sum(float* data, int64_t n) = 0;
    virtual void all_reduce_sum(double* data, int64_t n) = 0;
    // bytes from rank `root` into every other rank's data.
    virtual void broadcast(void* data, size_t bytes, int root) = 0;
    // data holds n floats of which this rank wrote its share_of(n, rank, size); on return every rank's
    // share is in every rank's data (in place; the sharded image before each evaluation).
    virtual void all_gather(float* data, int64_t n) = 0;
    virtual void barrier() = 0;
    // Ends the whole job now with `code` (MPI_Abort): what a rank that failed must do, since the others
    // would otherwise wait for it in their next collective. One process: std::exit(code).
    [[noreturn]] virtual void abort(int code) = 0;
    virtual std::string describe() const = 0;  // "1 process" or "MPI, 3 ranks (Open MPI 4.1.4)"
    bool is_root() const { return rank() == 0; }
};

// The process's communicator: MPI when started by mpirun/srun and built with MPI, else one process.
// Made on first use (MPI_Init then; MPI_Finalize at exit).
Communicator& world();
bool built_with_mpi();
// Whether the environment says this process was started as one rank of several (mpirun, srun); such a
// process in a build without MPI is refused by world() with a message saying so, rather than running N
// copies that each think they are alone.
bool launched_as_ranks();

// For a program's last catch: when this process is one of several ranks, ends the whole job with
// `code` (the others would wait for it); otherwise returns, and the caller exits as usual.
void end_job_if_ranks(int code);

// A failure every rank knows of at the same point (rank 0 checked something alone and told the others by
// a collective): each rank ends with a non-zero status and no MPI_Abort is needed; the rank that `speaks`
// (rank 0) prints what(), the others say nothing more.
struct EndsTogether : std::runtime_error {
    EndsTogether(const std::string& what, bool speaks) : std::runtime_error(what), speaks(speaks) {}
    bool speaks;
};

// A refusal every rank reaches alike (the same flags, the same collective check): one process throws
// nst::Error(why); several ranks throw EndsTogether, spoken by rank 0 alone.
[[noreturn]] void refuse_together(const std::string& why);

// Whether `fingerprint` (a hash of what a rank read for itself: a folder's listing, a file's bytes) is
// rank 0's on every rank: a collective (a broadcast and a sum), so every rank must call it, and every rank
// gets the same answer and can refuse together, rather than computing on inputs that differ.
bool same_on_every_rank(Communicator& c, uint64_t fingerprint);

// Rank `root`'s text on every rank (a collective: its length, then its bytes).
std::string broadcast_string(Communicator& c, const std::string& s, int root);
// Σ over ranks of v, added in rank order on every rank: the same bits everywhere and on every run, whatever
// MPI's reduction order (an optimiser that decides on such sums must decide alike on every rank).
double sum_in_rank_order(Communicator& c, double v);

// This process's rank among the ranks on its machine (Open MPI's OMPI_COMM_WORLD_LOCAL_RANK, Slurm's
// SLURM_LOCALID, MPICH's MPI_LOCALRANKID), 0 when none says.
int local_rank();
// The GPU a rank uses: --gpu `first` for local rank 0, the next for local rank 1, ..., round the
// `visible` devices (one GPU per rank on a machine with as many; several ranks on one where fewer are
// visible, and device 0 on each where a launcher shows every rank only its own: srun --gpus-per-task=1).
int device_for_rank(int first, int local, int visible);

// The rank's share of n items: [begin, end), the first n % size ranks taking one more.
struct Share {
    int64_t begin, end;
};
Share share_of(int64_t n, int rank, int size);

}  // namespace nst::dist

// MPI_COMM_WORLD behind the Communicator interface (Debian's Open MPI). Compiled with NST_HAVE_MPI;
// without it only the stubs at the end are.
//
// MPI_Init is called on first use and MPI_Finalize at exit. Errors stay MPI_ERRORS_ARE_FATAL (the
// default): a collective that fails, or a rank that dies, ends the job through mpirun with MPI's
// message and a non-zero status instead of leaving the other ranks waiting.
#include "dist/mpi_communicator.h"

#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "base/error.h"

#ifdef NST_HAVE_MPI
#include <mpi.h>
#endif

namespace nst::dist {

#ifdef NST_HAVE_MPI
namespace {

// MPI counts are ints: long buffers go in pieces of at most 2^30 elements.
constexpr int64_t kChunk = int64_t(1) << 30;

class Mpi final : public Communicator {
  public:
    Mpi() {
        int started = 0;
        MPI_Initialized(&started);
        if (!started) {
            int provided = 0;
            // FUNNELED: only the main thread calls MPI (the kernels' own thread pool never does).
            MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
            std::atexit([] {
                int finalized = 0;
                MPI_Finalized(&finalized);
                if (!finalized) MPI_Finalize();
            });
        }
        MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
        MPI_Comm_size(MPI_COMM_WORLD, &size_);
        char version[MPI_MAX_LIBRARY_VERSION_STRING];
        int len = 0;
        MPI_Get_library_version(version, &len);
        library_ = std::string(version, size_t(len));
        library_ = library_.substr(0, library_.find_first_of(",\n"));
    }
    int rank() const override { return rank_; }
    int size() const override { return size_; }
    void all_reduce_sum(float* data, int64_t n) override { reduce(data, n, MPI_FLOAT); }
    void all_reduce_sum(double* data, int64_t n) override { reduce(data, n, MPI_DOUBLE); }
    void broadcast(void* data, size_t bytes, int root) override {
        auto* p = static_cast<char*>(data);
        for (size_t done = 0; done < bytes; done += size_t(kChunk))
            MPI_Bcast(p + done, int(std::min<size_t>(size_t(kChunk), bytes - done)), MPI_BYTE, root, MPI_COMM_WORLD);
    }
    void all_gather(float* data, int64_t n) override {
        if (n > std::numeric_limits<int>::max())
            throw Error("all_gather: " + std::to_string(n) + " floats is more than MPI's int counts address");
        std::vector<int> counts(static_cast<size_t>(size_)), starts(static_cast<size_t>(size_));
        for (int r = 0; r < size_; ++r) {
            const Share s = share_of(n, r, size_);
            starts[size_t(r)] = int(s.begin), counts[size_t(r)] = int(s.end - s.begin);
        }
        MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, counts.data(), starts.data(), MPI_FLOAT, MPI_COMM_WORLD);
    }
    void barrier() override { MPI_Barrier(MPI_COMM_WORLD); }
    [[noreturn]] void abort(int code) override {
        MPI_Abort(MPI_COMM_WORLD, code);
        std::exit(code);  // (MPI_Abort does not return)
    }
    std::string describe() const override {
        return "MPI, " + std::to_string(size_) + " ranks (" + library_ + ")";
    }

  private:
    template <class T> void reduce(T* data, int64_t n, MPI_Datatype type) {
        for (int64_t done = 0; done < n; done += kChunk)
            MPI_Allreduce(MPI_IN_PLACE, data + done, int(std::min(kChunk, n - done)), type, MPI_SUM, MPI_COMM_WORLD);
    }
    int rank_ = 0, size_ = 1;
    std::string library_;
};

}  // namespace

bool built_with_mpi() { return true; }
std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<Mpi>(); }
#else
bool built_with_mpi() { return false; }
std::unique_ptr<Communicator> make_mpi_communicator() {
    throw Error("this build has no MPI: install libopenmpi-dev (scripts/install-deps.sh does) and build again");
}
#endif

}  // namespace nst::dist

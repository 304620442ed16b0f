// Running another program (here: ffmpeg and ffprobe, for stylize_video's frames) without a shell: the
// arguments go to posix_spawnp as they are, so a file name with spaces or quotes is never re-parsed.
// Contract: a program that cannot be started is an nst::Error naming it; a program that runs and fails
// is reported through its exit code (or the signal that killed it) and the text it wrote to stderr,
// which the caller turns into a message. Each program runs in a process group of its own: a terminal's
// Ctrl-C (SIGINT to the foreground group) reaches only this process, which decides what its helpers do
// (stylize_video stops between frames and ends its decoder), rather than each helper quitting on its own
// and the caller mistaking that for a bad input.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace nst {

// The full path of `name` found on $PATH (read at the call), or "" when there is none.
std::string find_program(const std::string& name);

struct ProcessResult {
    int exit_code = -1;  // the program's exit status; 128 + N when killed by signal N
    int signal = 0;      // N when it was killed by signal N, else 0
    std::string out, err;
};

// "exit status 3", or "killed by signal 9 (SIGKILL)" when `signal` is set: for messages.
std::string ending_text(int exit_code, int signal);

// Runs argv (argv[0] looked up on $PATH) to completion with stdin from /dev/null, collecting its output.
ProcessResult run_process(const std::vector<std::string>& argv);

// A running program whose stdout is read as a stream (a decoder's frames). Its stderr goes to a temporary
// file, so a chatty program never blocks on a full pipe; stderr_text() reads it back.
class ProcessReader {
  public:
    explicit ProcessReader(const std::vector<std::string>& argv);
    ~ProcessReader();  // a program still running is killed (SIGTERM) and reaped
    ProcessReader(const ProcessReader&) = delete;
    ProcessReader& operator=(const ProcessReader&) = delete;

    // Reads up to n bytes, fewer only at the end of the stream; returns how many were read.
    size_t read(void* buf, size_t n);
    // Closes the pipe and waits for the program; its exit code as in ProcessResult.
    int wait();
    int signal() const { return signal_; }  // after wait(): the signal that killed it, else 0
    std::string stderr_text() const;

  private:
    int pid_ = -1, out_fd_ = -1, status_ = -1, signal_ = 0;
    std::string err_path_;
};

}  // namespace nst

// Running another program without a shell (contract in subprocess.h). Every descriptor made here is
// close-on-exec from its creation (pipe2, mkostemp, O_CLOEXEC), so a program started by one thread never
// inherits another's pipe: an inherited write end would keep that pipe open and its reader waiting forever.
#include "base/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "base/error.h"
#include "base/file_io.h"

extern char** environ;

namespace nst {

namespace {

std::string errno_text(int err) { return std::strerror(err); }

bool is_executable_file(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

struct Ending {
    int exit_code = -1, signal = 0;
};

Ending wait_for(int pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return {};
    }
    if (WIFEXITED(status)) return {WEXITSTATUS(status), 0};
    if (WIFSIGNALED(status)) return {128 + WTERMSIG(status), WTERMSIG(status)};
    return {};
}

void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

// File actions and attributes freed on every path out of spawn().
struct SpawnActions {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    SpawnActions() {
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
    }
    ~SpawnActions() {
        posix_spawnattr_destroy(&attr);
        posix_spawn_file_actions_destroy(&fa);
    }
};

// Starts argv with stdin from /dev/null and stdout/stderr onto the given descriptors (dup2 clears their
// close-on-exec flag in the child only). argv[0] is resolved here, with find_program, so "not found" is
// named the same way whichever way it fails.
int spawn(const std::vector<std::string>& argv, int out_fd, int err_fd) {
    if (argv.empty() || argv[0].empty()) throw Error("run_process: no program given");
    const std::string path = find_program(argv[0]);
    if (path.empty()) throw Error(argv[0] + ": program not found on $PATH");
    SpawnActions actions;
    posix_spawn_file_actions_addopen(&actions.fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions.fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&actions.fa, err_fd, 2);
    // The child starts with no signal blocked and SIGTERM/SIGPIPE at their defaults, whatever this process
    // did with them (a server ignoring SIGPIPE, a thread blocking SIGTERM): ~ProcessReader's SIGTERM and a
    // closed pipe must end it.
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigmask(&actions.attr, &none);
    posix_spawnattr_setsigdefault(&actions.attr, &defaults);
    // SIGINT too: a shell's background job starts with it ignored, and that is inherited through exec.
    sigaddset(&defaults, SIGINT);
    // Its own process group (0: the child's pid): see the contract in subprocess.h.
    posix_spawnattr_setpgroup(&actions.attr, 0);
    posix_spawnattr_setflags(&actions.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, path.c_str(), &actions.fa, &actions.attr, args.data(), environ);
    if (rc != 0) throw Error(argv[0] + ": cannot start the program (" + errno_text(rc) + ")");
    return pid;
}

void make_pipe(int fds[2]) {
    if (::pipe2(fds, O_CLOEXEC) != 0) throw Error("run_process: cannot create a pipe (" + errno_text(errno) + ")");
}

}  // namespace

std::string ending_text(int exit_code, int signal) {
    if (signal == 0) return "exit status " + std::to_string(exit_code);
    const char* abbrev = ::sigabbrev_np(signal);
    return "killed by signal " + std::to_string(signal) + (abbrev ? std::string(" (SIG") + abbrev + ")" : std::string());
}

std::string find_program(const std::string& name) {
    if (name.empty()) return "";
    if (name.find('/') != std::string::npos) return is_executable_file(name) ? name : "";
    const char* env = std::getenv("PATH");
    if (!env) return "";
    std::stringstream dirs(env);
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;  // "" means the current folder
        if (is_executable_file(candidate)) return candidate;
    }
    return "";
}

ProcessResult run_process(const std::vector<std::string>& argv) {
    int out[2], err[2];
    make_pipe(out);
    try {
        make_pipe(err);
    } catch (...) {
        ::close(out[0]);
        ::close(out[1]);
        throw;
    }
    int pid = -1;
    try {
        pid = spawn(argv, out[1], err[1]);
    } catch (...) {
        for (int fd : {out[0], out[1], err[0], err[1]}) ::close(fd);
        throw;
    }
    ::close(out[1]);
    ::close(err[1]);
    // Both pipes are drained together: reading one to its end first would deadlock once the program
    // filled the other (64 KiB) and blocked writing to it.
    ProcessResult result;
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    std::string* sinks[2] = {&result.out, &result.err};
    int open_count = 2;
    char buf[65536];
    while (open_count > 0) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
            if (n > 0) {
                sinks[i]->append(buf, size_t(n));
            } else if (n == 0 || errno != EINTR) {
                ::close(fds[i].fd);
                fds[i].fd = -1;  // poll ignores negative descriptors
                --open_count;
            }
        }
    }
    for (const pollfd& p : fds)
        if (p.fd >= 0) ::close(p.fd);
    const Ending end = wait_for(pid);
    result.exit_code = end.exit_code;
    result.signal = end.signal;
    return result;
}

ProcessReader::ProcessReader(const std::vector<std::string>& argv) {
    std::error_code ec;
    std::filesystem::path dir = std::filesystem::temp_directory_path(ec);  // $TMPDIR, else /tmp
    if (ec) dir = "/tmp";
    std::string tmpl = (dir / "nst-stderr-XXXXXX").string();
    const int err_fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
    if (err_fd < 0) throw Error("cannot create a temporary file for " + (argv.empty() ? std::string("a program") : argv[0]) +
                                "'s messages in " + tmpl + " (" + errno_text(errno) + ")");
    err_path_ = tmpl;
    int out[2] = {-1, -1};
    try {
        make_pipe(out);
        pid_ = spawn(argv, out[1], err_fd);
    } catch (...) {
        for (int fd : {out[0], out[1], err_fd})
            if (fd >= 0) ::close(fd);
        ::unlink(err_path_.c_str());
        throw;
    }
    ::close(out[1]);
    ::close(err_fd);  // the child holds its own copy; stderr_text() reads the file by name
    out_fd_ = out[0];
}

ProcessReader::~ProcessReader() {
    close_fd(out_fd_);
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        wait_for(pid_);
    }
    if (!err_path_.empty()) ::unlink(err_path_.c_str());
}

size_t ProcessReader::read(void* buf, size_t n) {
    if (out_fd_ < 0) return 0;
    size_t got = 0;
    while (got < n) {
        const ssize_t r = ::read(out_fd_, static_cast<char*>(buf) + got, n - got);
        if (r == 0) break;
        if (r < 0) {
            if (errno == EINTR) continue;
            throw Error("reading a program's output: " + errno_text(errno));
        }
        got += size_t(r);
    }
    return got;
}

int ProcessReader::wait() {
    // Closing first: a program still writing then ends (SIGPIPE) instead of blocking on a pipe nobody reads.
    close_fd(out_fd_);
    if (pid_ > 0) {
        const Ending end = wait_for(pid_);
        status_ = end.exit_code;
        signal_ = end.signal;
        pid_ = -1;
    }
    return status_;
}

std::string ProcessReader::stderr_text() const {
    try {
        return read_file_bytes(err_path_);
    } catch (const Error&) {
        return "";  // no messages to add to the caller's own
    }
}

}  // namespace nst

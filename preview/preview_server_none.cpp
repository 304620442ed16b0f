// PreviewServer in a build configured with -DNST_PREVIEW=OFF (no cpp-httplib, e.g. the GPU machine,
// which has no package manager): asking for a preview says so, naming the flag (contract in
// preview_server.h).
#include "base/error.h"
#include "preview/preview_server.h"

namespace nst {

struct PreviewServer::Impl {};

PreviewServer::PreviewServer(const std::string&, int port) {
    throw Error("--preview-port " + std::to_string(port) +
                ": this build has no live preview (configured with -DNST_PREVIEW=OFF, without cpp-httplib)");
}
PreviewServer::~PreviewServer() = default;
int PreviewServer::port() const { return 0; }
std::string PreviewServer::url() const { return ""; }
void PreviewServer::publish(PreviewFrame) {}
void PreviewServer::finish(const std::string&, bool) {}
bool PreviewServer::watched() const { return false; }
double PreviewServer::linger(double, const std::function<bool()>&) { return 0; }

}  // namespace nst

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "engine/commands.hpp"
#include "engine/inspect.hpp"

namespace hims::engine {

int inspect_command(const InspectOptions& options) {
  std::ifstream in(options.file, std::ios::binary);
  if (!in) {
    std::cerr << "hims-engine inspect: cannot read " << options.file.string() << "\n";
    return kExitUsage;
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  const InspectReport report = inspect_messages(
      bytes.str(), options.file.string(), options.json ? InspectFormat::json : InspectFormat::text);
  std::fwrite(report.output.data(), 1, report.output.size(), stdout);
  std::fflush(stdout);
  return report.parse_errors == 0 && report.messages > 0 ? kExitOk : kExitFailed;
}

}  // namespace hims::engine

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "engine/commands.hpp"
#include "engine/mapping.hpp"
#include "engine/message_file.hpp"
#include "hl7v2/message.hpp"

namespace hims::engine {

int map_command(const MapOptions& options) {
  MappingLoad loaded = read_mapping(options.mapping);
  if (!loaded.ok()) {
    for (const ConfigError& e : loaded.errors) std::cerr << e.to_string() << "\n";
    std::cerr << "hims-engine map: " << options.mapping.string() << " is not valid ("
              << loaded.errors.size() << (loaded.errors.size() == 1 ? " error)\n" : " errors)\n");
    return kExitFailed;
  }
  const Mapping& mapping = *loaded.mapping;
  std::ifstream in(options.input, std::ios::binary);
  if (!in) {
    std::cerr << "hims-engine map: cannot read " << options.input.string() << "\n";
    return kExitUsage;
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  auto messages = split_message_file(bytes.str());
  if (!messages) {
    std::cerr << "hims-engine map: " << options.input.string() << ": " << messages.error().message()
              << "\n";
    return kExitFailed;
  }
  int status = kExitOk;
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const std::string label = options.input.string() + "#" + std::to_string(i + 1);
    auto view = hl7v2::MessageView::parse((*messages)[i]);
    if (!view) {
      std::cerr << "hims-engine map: " << label << ": " << view.error().message() << "\n";
      status = kExitFailed;
      continue;
    }
    if (!mapping.accepts(*view)) {
      std::cerr << "hims-engine map: " << label << ": mapping '" << mapping.name()
                << "' does not take " << view->message_code() << "^" << view->trigger_event()
                << "\n";
      status = kExitFailed;
      continue;
    }
    auto mapped = mapping.apply(*view);
    if (!mapped) {
      std::cerr << "hims-engine map: " << label << ": " << mapped.error().message() << "\n";
      status = kExitFailed;
      continue;
    }
    const std::string json = to_json(*mapped, !options.compact);
    std::fwrite(json.data(), 1, json.size(), stdout);
    std::fputc('\n', stdout);
  }
  std::fflush(stdout);
  return status;
}

}  // namespace hims::engine

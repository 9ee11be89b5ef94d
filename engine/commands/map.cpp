#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "engine/canonical_writer.hpp"
#include "engine/commands.hpp"
#include "engine/mapping.hpp"
#include "engine/message_file.hpp"
#include "engine/store.hpp"
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
  // --store: the rows go there too, checked against its schema first.
  std::unique_ptr<store::Store> target;
  std::optional<CanonicalWriter> writer;
  if (!options.store.empty()) {
    auto opened = store::open_store(options.store);
    if (!opened) {
      std::cerr << "hims-engine map: " << opened.error().message() << "\n";
      return kExitFailed;
    }
    target = std::move(*opened);
    auto w = CanonicalWriter::open(*target);
    if (!w) {
      std::cerr << "hims-engine map: " << w.error().message() << "\n";
      return kExitFailed;
    }
    writer.emplace(std::move(*w));
    if (Status s = writer->check_error(mapping); !s.ok()) {
      std::cerr << s.error().detail() << "\nhims-engine map: " << options.mapping.string()
                << " does not fit the store's canonical schema\n";
      return kExitFailed;
    }
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
    if (writer) {
      CanonicalWriteStats stats;
      Status s = target->transact([&]() -> Status {
        auto written = writer->write(*target, *mapped, 0, store::Clock::now());
        if (!written) return written.take_error();
        stats = *written;
        return {};
      });
      if (!s.ok()) {
        std::cerr << "hims-engine map: " << label << ": " << s.error().message() << "\n";
        status = kExitFailed;
        continue;
      }
      std::cerr << "hims-engine map: " << label << ": " << stats.created << " created, "
                << stats.updated << " updated, " << stats.unchanged << " unchanged, "
                << stats.merged << " merged (" << stats.moved << " rows moved, " << stats.kept
                << " kept), " << stats.events << " events\n";
    }
  }
  std::fflush(stdout);
  return status;
}

}  // namespace hims::engine

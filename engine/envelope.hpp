// Envelope: what a source hands the engine for one inbound message. Owns its bytes; movable,
// not shared between threads without a hand-off.
#pragma once

#include <chrono>
#include <string>

namespace hims {

struct Envelope {
  std::string bytes;   // the message exactly as received (framing removed)
  std::string source;  // the configured source id
  std::string peer;    // "127.0.0.1:53122", or a file path for file sources
  std::chrono::system_clock::time_point received_at;
  std::string control_id;  // MSH-10, ISA13 ...; filled once parsed, empty before
};

}  // namespace hims

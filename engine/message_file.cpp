#include "engine/message_file.hpp"

#include "hl7v2/batch.hpp"

namespace hims::engine {

std::string normalize_segments(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  std::size_t begin = 0;
  while (begin <= message.size()) {
    std::size_t end = message.find_first_of("\r\n", begin);
    if (end == std::string_view::npos) end = message.size();
    const std::string_view segment = message.substr(begin, end - begin);
    if (!segment.empty()) {
      if (!out.empty()) out.push_back('\r');
      out.append(segment);
    }
    begin = end + 1;
  }
  return out;
}

Result<std::vector<std::string>> split_message_file(std::string_view bytes) {
  auto stream = hl7v2::split_stream(bytes);
  if (!stream) return stream.take_error();
  std::vector<std::string> out;
  out.reserve(stream->message_count());
  for (const hl7v2::Batch& batch : stream->batches) {
    for (std::string_view message : batch.messages) out.push_back(normalize_segments(message));
  }
  return out;
}

}  // namespace hims::engine

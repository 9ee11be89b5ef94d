// libFuzzer target for the HL7 v2 codec: split_stream, MessageView::parse (tolerant and strict),
// a walk of every element with decoding, path look-ups, Message::set and encode.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hl7v2/batch.hpp"
#include "hl7v2/message.hpp"
#include "hl7v2/path.hpp"

namespace {

using namespace hims::hl7v2;

void walk(const MessageView& m) {
  std::string text;
  for (const SegmentView s : m) {
    (void)s.occurrence();
    for (std::size_t f = 0; f <= s.field_count() + 1; ++f) {
      const ElementView field = s.field(f);
      (void)field.size();
      (void)field.is_null();
      for (const ElementView rep : field.children()) {
        for (const ElementView c : rep.children()) {
          for (const ElementView sc : c.children()) {
            text.clear();
            sc.decode_to(text);
            escape_to(text, sc.raw(), m.delimiters());
          }
          (void)c.subcomponent(2);
        }
      }
      text.clear();
      field.decode_to(text);
      (void)field.component(2).subcomponent(2).raw();
      (void)field.repetition(2).component(3).raw();
    }
  }
  (void)m.message_code();
  (void)m.control_id();
  (void)is_known_version(m.version());
}

void exercise(std::string_view bytes, const std::string_view path_text) {
  for (ParseMode mode : {ParseMode::tolerant, ParseMode::strict}) {
    ParseOptions options;
    options.mode = mode;
    options.limits.max_segments = 2'000;
    options.default_charset = mode == ParseMode::strict ? Charset::utf8 : Charset::latin1;
    auto view = MessageView::parse(bytes, options);
    if (!view) continue;
    walk(*view);
    std::vector<ElementView> out;
    for (std::string_view p :
         {std::string_view("PID-3[*].1"), std::string_view("OBX[*]-5"), std::string_view("MSH-9.2"),
          std::string_view("PID-5.1.1"), path_text}) {
      auto path = Path::parse(p);
      if (!path) continue;
      (void)view->get(*path);
      out.clear();
      view->select(*path, out);
      (void)Path::parse(path->to_string());
    }
    auto message = Message::parse(std::string(bytes), options);
    if (!message) continue;
    for (std::string_view p : {std::string_view("PID-5.1"), std::string_view("MSH-10"),
                               std::string_view("OBX[2]-5[2].3.2"), path_text}) {
      (void)message->set(p, "a|b^c~d\\e&f\r\\.br\\");
    }
    const std::string wire = message->encode();
    auto again = MessageView::parse(wire, options);
    if (again) walk(*again);
    Message copy = *message;
    (void)copy.append_segment("NTE|1||x");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // The last up-to-16 bytes double as a path expression, so path parsing is fuzzed too.
  const std::string_view path_text = bytes.substr(size > 16 ? size - 16 : 0);
  auto stream = split_stream(bytes);
  if (stream) {
    for (const Batch& b : stream->batches) {
      for (std::string_view msg : b.messages) exercise(msg, path_text);
    }
  }
  exercise(bytes, path_text);
  return 0;
}

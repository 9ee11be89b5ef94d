#include "engine/inspect.hpp"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "hl7v2/batch.hpp"
#include "hl7v2/detail/text.hpp"
#include "hl7v2/message.hpp"

namespace hims::engine {

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (;;) {
    const std::size_t bad = hl7v2::detail::utf8_error_offset(text);
    out.append(text.substr(0, bad));
    if (bad == text.size()) return out;
    out.append("\xEF\xBF\xBD");  // U+FFFD for the byte that breaks it
    text.remove_prefix(bad + 1);
  }
}

namespace {

// One named part of a field: the field, a repetition, a component or a sub-component.
struct Part {
  std::string path;
  std::string_view raw;
  std::string decoded;
  int depth = 0;  // 0 field, 1 repetition or component, 2 below
};

bool literal_field(std::string_view segment, std::size_t field) {
  return (field == 1 || field == 2) && (segment == "MSH" || segment == "BHS" || segment == "FHS");
}

void add_components(std::vector<Part>& out, const hl7v2::ElementView& repetition,
                    const std::string& prefix, int depth) {
  const std::size_t components = repetition.size();
  const bool split = components > 1 || (components == 1 && repetition.component(1).size() > 1);
  if (!split) return;
  for (std::size_t c = 1; c <= components; ++c) {
    const hl7v2::ElementView component = repetition.component(c);
    if (component.empty()) continue;
    const std::string path = prefix + "." + std::to_string(c);
    out.push_back({path, component.raw(), component.decoded(), depth});
    const std::size_t subs = component.size();
    if (subs <= 1) continue;
    for (std::size_t s = 1; s <= subs; ++s) {
      const hl7v2::ElementView sub = component.subcomponent(s);
      if (sub.empty()) continue;
      out.push_back({path + "." + std::to_string(s), sub.raw(), sub.decoded(), depth + 1});
    }
  }
}

// Every non-empty part of one field, the field first.
std::vector<Part> field_parts(const hl7v2::SegmentView& segment, const std::string& prefix,
                              std::size_t n) {
  std::vector<Part> out;
  const hl7v2::ElementView field = segment.field(n);
  if (field.empty()) return out;
  const std::string path = prefix + "-" + std::to_string(n);
  if (literal_field(segment.name(), n)) {
    out.push_back({path, field.raw(), std::string(field.raw()), 0});
    return out;
  }
  out.push_back({path, field.raw(), field.decoded(), 0});
  const std::size_t repetitions = field.size();
  if (repetitions > 1) {
    for (std::size_t r = 1; r <= repetitions; ++r) {
      const hl7v2::ElementView repetition = field.repetition(r);
      if (repetition.empty()) continue;
      const std::string rep_path = path + "[" + std::to_string(r) + "]";
      out.push_back({rep_path, repetition.raw(), repetition.decoded(), 1});
      add_components(out, repetition, rep_path, 2);
    }
  } else {
    add_components(out, field.repetition(1), path, 1);
  }
  return out;
}

std::string segment_prefix(const hl7v2::MessageView& message, const hl7v2::SegmentView& segment) {
  std::string prefix(segment.name());
  if (message.count(segment.name()) > 1) {
    prefix.append("[").append(std::to_string(segment.occurrence())).append("]");
  }
  return prefix;
}

std::string message_type(const hl7v2::MessageView& message) {
  std::string type(message.message_code());
  if (!message.trigger_event().empty()) type.append("^").append(message.trigger_event());
  return type;
}

// Control characters shown as \xNN so a terminal shows the value on one line.
std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out.append("\\x").push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// 1-based line of `offset` in `bytes` (CR, LF and CRLF each end a line).
std::size_t line_of(std::string_view bytes, std::size_t offset) {
  std::size_t line = 1;
  for (std::size_t i = 0; i < offset && i < bytes.size(); ++i) {
    if (bytes[i] == '\n' || (bytes[i] == '\r' && (i + 1 >= bytes.size() || bytes[i + 1] != '\n'))) {
      ++line;
    }
  }
  return line;
}

struct Located {
  std::string_view bytes;
  std::size_t line = 1;
};

std::vector<Located> messages_of(const hl7v2::Stream& stream, std::string_view file) {
  std::vector<Located> out;
  for (const hl7v2::Batch& batch : stream.batches) {
    for (std::string_view m : batch.messages) {
      const bool inside = m.data() >= file.data() && m.data() <= file.data() + file.size();
      const std::size_t offset = inside ? static_cast<std::size_t>(m.data() - file.data()) : 0;
      out.push_back({m, inside ? line_of(file, offset) : 0});
    }
  }
  return out;
}

// ---- text --------------------------------------------------------------------------------------

void render_text_message(std::string& out, const hl7v2::MessageView& message) {
  for (const hl7v2::SegmentView segment : message) {
    const std::string prefix = segment_prefix(message, segment);
    out.append(prefix).append("\n");
    for (std::size_t n = 1; n <= segment.field_count(); ++n) {
      for (const Part& part : field_parts(segment, prefix, n)) {
        std::string line(2 + 2 * static_cast<std::size_t>(part.depth), ' ');
        line.append(part.path);
        line.resize(std::max<std::size_t>(line.size() + 2, 24), ' ');
        line.append(printable(part.raw));
        if (part.decoded != part.raw) line.append("  => ").append(printable(part.decoded));
        out.append(line).append("\n");
      }
    }
  }
}

std::string render_text(std::string_view bytes, std::string_view name, InspectReport& report) {
  std::string out;
  auto stream = hl7v2::split_stream(bytes);
  if (!stream) {
    ++report.parse_errors;
    out.append(name).append(": cannot split into messages: ").append(stream.error().message());
    out.append("\n");
    return out;
  }
  const auto messages = messages_of(*stream, bytes);
  report.messages = messages.size();
  if (messages.empty()) {
    out.append(name).append(": no HL7 v2 message found\n");
    return out;
  }
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const Located& located = messages[i];
    out.append("=== ").append(name);
    if (located.line > 0) out.append(":").append(std::to_string(located.line));
    out.append(": message ").append(std::to_string(i + 1)).append(" of ");
    out.append(std::to_string(messages.size()));
    auto parsed = hl7v2::MessageView::parse(located.bytes);
    if (!parsed) {
      ++report.parse_errors;
      out.append(": parse error: ").append(parsed.error().message()).append("\n");
      continue;
    }
    const hl7v2::MessageView& message = *parsed;
    out.append(": ").append(printable(message_type(message)));
    out.append(", control id ").append(printable(message.control_id()));
    out.append(", version ").append(printable(message.version()));
    out.append(", ").append(std::to_string(message.segment_count())).append(" segments, ");
    out.append(std::to_string(located.bytes.size())).append(" bytes\n");
    render_text_message(out, message);
  }
  return out;
}

// ---- JSON --------------------------------------------------------------------------------------

using JsonWriter = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

void json_string(JsonWriter& w, std::string_view text) {
  const std::string valid = valid_utf8(text);
  w.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
}

void json_key(JsonWriter& w, std::string_view key) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

void json_error(JsonWriter& w, const Error& error) {
  w.StartObject();
  json_key(w, "code");
  json_string(w, error.name());
  json_key(w, "where");
  json_string(w, error.where());
  json_key(w, "detail");
  json_string(w, error.detail());
  json_key(w, "message");
  json_string(w, error.message());
  w.EndObject();
}

void json_part(JsonWriter& w, const Part& part) {
  json_key(w, "path");
  json_string(w, part.path);
  json_key(w, "raw");
  json_string(w, part.raw);
  json_key(w, "value");
  json_string(w, part.decoded);
}

void json_message(JsonWriter& w, const hl7v2::MessageView& message) {
  const hl7v2::Delimiters& d = message.delimiters();
  json_key(w, "message_type");
  json_string(w, message_type(message));
  json_key(w, "structure");
  json_string(w, message.structure());
  json_key(w, "control_id");
  json_string(w, message.control_id());
  json_key(w, "version");
  json_string(w, message.version());
  json_key(w, "processing_id");
  json_string(w, message.processing_id());
  json_key(w, "charset");
  json_string(w, hl7v2::to_string(message.charset()));
  json_key(w, "delimiters");
  w.StartObject();
  const std::pair<std::string_view, char> delims[] = {
      {"field", d.field},   {"component", d.component},       {"repetition", d.repetition},
      {"escape", d.escape}, {"subcomponent", d.subcomponent}, {"truncation", d.truncation}};
  for (const auto& [key, c] : delims) {
    json_key(w, key);
    if (c == '\0') {
      w.Null();
    } else {
      json_string(w, std::string_view(&c, 1));
    }
  }
  w.EndObject();
  json_key(w, "segments");
  w.StartArray();
  for (const hl7v2::SegmentView segment : message) {
    const std::string prefix = segment_prefix(message, segment);
    w.StartObject();
    json_key(w, "name");
    json_string(w, segment.name());
    json_key(w, "path");
    json_string(w, prefix);
    json_key(w, "occurrence");
    w.Uint64(segment.occurrence());
    json_key(w, "fields");
    w.StartArray();
    for (std::size_t n = 1; n <= segment.field_count(); ++n) {
      const auto parts = field_parts(segment, prefix, n);
      if (parts.empty()) continue;
      w.StartObject();
      json_part(w, parts.front());
      if (parts.size() > 1) {
        json_key(w, "parts");
        w.StartArray();
        for (std::size_t i = 1; i < parts.size(); ++i) {
          w.StartObject();
          json_part(w, parts[i]);
          w.EndObject();
        }
        w.EndArray();
      }
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
}

std::string render_json(std::string_view bytes, std::string_view name, InspectReport& report) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.SetIndent(' ', 2);
  w.StartObject();
  json_key(w, "file");
  json_string(w, name);
  auto stream = hl7v2::split_stream(bytes);
  if (!stream) {
    ++report.parse_errors;
    json_key(w, "error");
    json_error(w, stream.error());
  }
  json_key(w, "messages");
  w.StartArray();
  if (stream) {
    const auto messages = messages_of(*stream, bytes);
    report.messages = messages.size();
    for (std::size_t i = 0; i < messages.size(); ++i) {
      w.StartObject();
      json_key(w, "index");
      w.Uint64(i + 1);
      json_key(w, "line");
      w.Uint64(messages[i].line);
      json_key(w, "bytes");
      w.Uint64(messages[i].bytes.size());
      auto parsed = hl7v2::MessageView::parse(messages[i].bytes);
      json_key(w, "ok");
      w.Bool(parsed.ok());
      if (parsed) {
        json_message(w, *parsed);
      } else {
        ++report.parse_errors;
        json_key(w, "error");
        json_error(w, parsed.error());
      }
      w.EndObject();
    }
  }
  w.EndArray();
  w.EndObject();
  std::string out(buffer.GetString(), buffer.GetSize());
  out.push_back('\n');
  return out;
}

}  // namespace

InspectReport inspect_messages(std::string_view bytes, std::string_view name,
                               InspectFormat format) {
  InspectReport report;
  report.output = format == InspectFormat::json ? render_json(bytes, name, report)
                                                : render_text(bytes, name, report);
  return report;
}

}  // namespace hims::engine

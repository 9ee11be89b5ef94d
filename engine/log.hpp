// The one log facade: a short sentence plus key=value fields, written as JSON lines (default) or
// text to stderr. Thread-safe. Never pass PHI: ids, counts and sizes only.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace hims::log {

enum class Level : std::uint8_t { debug, info, warn, error, off };
enum class Format : std::uint8_t { json, text };

// A field's value is kept as text; numbers are written unquoted in JSON.
struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, std::int64_t v) : key(k), value(std::to_string(v)), number(true) {}
  Field(std::string_view k, std::uint64_t v) : key(k), value(std::to_string(v)), number(true) {}
  Field(std::string_view k, int v) : key(k), value(std::to_string(v)), number(true) {}
  Field(std::string_view k, unsigned v) : key(k), value(std::to_string(v)), number(true) {}
  std::string_view key;
  std::string value;
  bool number = false;
};

using Fields = std::initializer_list<Field>;

// Call once at start-up; before it, lines go to stderr as JSON at level info.
void init(Format format, Level level);
Level parse_level(std::string_view name, Level fallback);
bool enabled(Level level);

void write(Level level, std::string_view message, Fields fields);
inline void debug(std::string_view m, Fields f = {}) { write(Level::debug, m, f); }
inline void info(std::string_view m, Fields f = {}) { write(Level::info, m, f); }
inline void warn(std::string_view m, Fields f = {}) { write(Level::warn, m, f); }
inline void error(std::string_view m, Fields f = {}) { write(Level::error, m, f); }

// Appends `s` as a JSON string literal: quoted, with " \ and control characters escaped. For
// anything that writes JSON by hand (log lines, mapped json values).
void append_json_string(std::string& out, std::string_view s);

// Formats one line (no trailing newline) without writing it; used by tests.
std::string format_line(Format format, Level level, std::string_view message, Fields fields);

}  // namespace hims::log

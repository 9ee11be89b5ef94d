#include "engine/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>

namespace hims::log {
namespace {

struct State {
  std::atomic<Level> level{Level::info};
  std::atomic<Format> format{Format::json};
  std::shared_ptr<spdlog::logger> logger;
  std::once_flag once;
};

State& state() {
  static State s;
  std::call_once(s.once, [&] {
    s.logger =
        std::make_shared<spdlog::logger>("hims", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    s.logger->set_pattern("%v");
    s.logger->set_level(spdlog::level::trace);
    s.logger->flush_on(spdlog::level::trace);
  });
  return s;
}

std::string_view level_name(Level level) {
  switch (level) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
    case Level::off:
      return "off";
  }
  return "info";
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void init(Format format, Level level) {
  State& s = state();
  s.format = format;
  s.level = level;
}

Level parse_level(std::string_view name, Level fallback) {
  for (Level l : {Level::debug, Level::info, Level::warn, Level::error, Level::off}) {
    if (level_name(l) == name) return l;
  }
  return fallback;
}

bool enabled(Level level) { return level != Level::off && level >= state().level.load(); }

std::string format_line(Format format, Level level, std::string_view message, Fields fields) {
  const auto now =
      std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  std::string out;
  out.reserve(128);
  if (format == Format::json) {
    fmt::format_to(std::back_inserter(out),
                   "{{\"ts\":\"{:%Y-%m-%dT%H:%M:%S}Z\",\"level\":\"{}\",\"msg\":", now,
                   level_name(level));
    append_json_string(out, message);
    for (const Field& f : fields) {
      out.push_back(',');
      append_json_string(out, f.key);
      out.push_back(':');
      if (f.number) {
        out.append(f.value);
      } else {
        append_json_string(out, f.value);
      }
    }
    out.push_back('}');
  } else {
    fmt::format_to(std::back_inserter(out), "{:%Y-%m-%dT%H:%M:%S}Z {:5} {}", now, level_name(level),
                   message);
    for (const Field& f : fields) {
      fmt::format_to(std::back_inserter(out), " {}={}", f.key, f.value);
    }
  }
  return out;
}

void write(Level level, std::string_view message, Fields fields) {
  if (!enabled(level)) return;
  State& s = state();
  s.logger->info(format_line(s.format.load(), level, message, fields));
}

}  // namespace hims::log

// The route matcher: which configured routes an HL7 v2 message takes (source, message type and
// trigger, sending application/facility, conditions on fields). Pure: no I/O, no clock.
// A Router is immutable once built and safe to share between threads; each thread brings its own
// MatchScratch. Rules as an analyst reads them: docs/routes.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/config.hpp"
#include "hl7v2/message.hpp"
#include "hl7v2/path.hpp"

namespace hims::engine {

// ConditionSpec and RouteSpec, what the configuration loader fills in, are in config.hpp.

enum class ConditionOp : std::uint8_t {
  equals,
  not_equals,
  in,
  not_in,
  exists,
  not_exists,
  matches,
  not_matches,
  starts_with,
  not_starts_with,
};
std::string_view to_string(ConditionOp op);
std::optional<ConditionOp> parse_condition_op(std::string_view text);

// One problem in one route. `problem.key` is relative to the route and named after RouteSpec's
// members ("message[1]", "conditions[0].path"); the loader turns it into file, line and key path.
// Dangling source and destination ids are the loader's to find: it knows the ids.
struct RouteProblem {
  std::size_t route_index = 0;  // position in the list (the name may be empty or duplicated)
  std::string route;            // the route's name as written
  ConfigProblem problem;

  // "routes[2].conditions[0].op (route 'lab results'): bad_value: unknown operator ..."
  std::string to_string() const;
};

// Whether `text` matches a glob where `?` is one character (one UTF-8 code point) and `*` any
// run of characters, the empty one included. Case-sensitive; no other special characters.
bool glob_match(std::string_view pattern, std::string_view text);

// A glob compiled once to its cheapest test: anything, exact text, a prefix, or a general glob.
class GlobPattern {
 public:
  GlobPattern() = default;  // matches anything
  explicit GlobPattern(std::string pattern);
  bool matches(std::string_view text) const;
  const std::string& pattern() const { return pattern_; }

 private:
  enum class Kind : std::uint8_t { any, exact, prefix, glob };
  Kind kind_ = Kind::any;
  std::string pattern_ = "*";
  std::string_view prefix() const {  // prefix: the text before the final '*'
    return std::string_view(pattern_).substr(0, pattern_.size() - 1);
  }
};

// One CODE^TRIGGER pattern of MSH-9 (ADT^A01, ADT^A0*, ORU^*; `*` alone for every message),
// each side a glob; routes and mappings name the messages they take with these.
struct MessagePattern {
  GlobPattern code;     // MSH-9.1
  GlobPattern trigger;  // MSH-9.2

  bool matches(std::string_view message_code, std::string_view trigger_event) const {
    return code.matches(message_code) && trigger.matches(trigger_event);
  }
  // nullopt when `text` is not a pattern, with why not in `why` ("'adt^A01': the message code
  // (MSH-9.1) has lower-case letters; ...").
  static std::optional<MessagePattern> parse(std::string_view text, std::string& why);
};

// The indices (into the route list, in configuration order) of the routes a message takes.
// Holds up to kInline indices without allocating.
class RouteMatches {
 public:
  static constexpr std::size_t kInline = 16;

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::uint32_t operator[](std::size_t i) const { return data()[i]; }
  const std::uint32_t* begin() const { return data(); }
  const std::uint32_t* end() const { return data() + size_; }
  void push_back(std::uint32_t index);
  void clear() { size_ = 0; }

 private:
  const std::uint32_t* data() const { return size_ <= kInline ? inline_.data() : heap_.data(); }
  std::array<std::uint32_t, kInline> inline_{};
  std::vector<std::uint32_t> heap_;  // used once more than kInline routes match
  std::size_t size_ = 0;
};

// One message to route: the source it came from and its parsed view.
struct MatchInput {
  std::string_view source;
  const hl7v2::MessageView& message;
};

// Buffers match() reuses so that, once warm, matching allocates nothing. One per thread.
struct MatchScratch {
  std::vector<hl7v2::ElementView> selected;  // what a condition's path selects
  std::string text;                          // decoded text of one element
};

struct RouterBuild;

class Router {
 public:
  // Checks every route (never stopping at the first problem) and compiles patterns and paths.
  static RouterBuild build(std::vector<RouteSpec> routes);

  // The routes the message takes, in configuration order; empty: the message is `filtered`.
  RouteMatches match(const MatchInput& input, MatchScratch& scratch) const;
  // The same with a scratch of its own (allocates; for tools and tests).
  RouteMatches match(const MatchInput& input) const;

  std::size_t size() const { return routes_.size(); }
  const RouteSpec& route(std::size_t index) const { return routes_[index].spec; }
  std::string_view name(std::size_t index) const { return routes_[index].spec.name; }
  // Whether route `index` maps into the canonical tables (its mapping loaded: `map:`).
  bool maps(std::size_t index) const { return routes_[index].spec.compiled_mapping != nullptr; }
  bool any_maps() const {
    for (std::size_t i = 0; i < routes_.size(); ++i) {
      if (maps(i)) return true;
    }
    return false;
  }

 private:
  struct Condition {
    hl7v2::Path path;
    ConditionOp op = ConditionOp::exists;
    GlobPattern pattern;              // matches, not_matches
    std::vector<std::string> values;  // equals, starts_with (one), in (several)
  };
  struct CompiledRoute {
    RouteSpec spec;
    std::vector<MessagePattern> message;
    std::optional<GlobPattern> sending_application;
    std::optional<GlobPattern> sending_facility;
    std::vector<Condition> conditions;
  };

  static bool takes(const CompiledRoute& route, const MatchInput& input, MatchScratch& scratch);
  static bool holds(const Condition& condition, const hl7v2::MessageView& message,
                    MatchScratch& scratch);

  std::vector<CompiledRoute> routes_;
};

// The result of building a router: a router when `problems` is empty, else every problem found.
struct RouterBuild {
  std::optional<Router> router;
  std::vector<RouteProblem> problems;
  bool ok() const { return problems.empty(); }
};

}  // namespace hims::engine

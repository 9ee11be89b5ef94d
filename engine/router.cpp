#include "engine/router.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace hims::engine {

namespace {

struct OpName {
  ConditionOp op;
  std::string_view name;
};
constexpr std::array<OpName, 10> kOps = {{
    {ConditionOp::equals, "equals"},
    {ConditionOp::not_equals, "not_equals"},
    {ConditionOp::in, "in"},
    {ConditionOp::not_in, "not_in"},
    {ConditionOp::exists, "exists"},
    {ConditionOp::not_exists, "not_exists"},
    {ConditionOp::matches, "matches"},
    {ConditionOp::not_matches, "not_matches"},
    {ConditionOp::starts_with, "starts_with"},
    {ConditionOp::not_starts_with, "not_starts_with"},
}};

// What an operator needs besides the path.
enum class Operand : std::uint8_t { none, one, list };

Operand operand_of(ConditionOp op) {
  switch (op) {
    case ConditionOp::exists:
    case ConditionOp::not_exists:
      return Operand::none;
    case ConditionOp::in:
    case ConditionOp::not_in:
      return Operand::list;
    default:
      return Operand::one;
  }
}

// The not_ forms hold when the positive form holds for no selected element.
bool negated(ConditionOp op) {
  switch (op) {
    case ConditionOp::not_equals:
    case ConditionOp::not_in:
    case ConditionOp::not_exists:
    case ConditionOp::not_matches:
    case ConditionOp::not_starts_with:
      return true;
    default:
      return false;
  }
}

std::size_t next_code_point(std::string_view text, std::size_t i) {
  ++i;
  while (i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0u) == 0x80u) ++i;
  return i;
}

// Checks one message pattern side (code or trigger); "" when it is fine, else why not.
std::string pattern_part_problem(std::string_view part, std::string_view what) {
  if (part.empty()) return std::string(what) + " is empty";
  for (const char c : part) {
    const auto u = static_cast<unsigned char>(c);
    if (c >= 'a' && c <= 'z') {
      return std::string(what) + " has lower-case letters; HL7 codes are upper case and matching " +
             "is case-sensitive";
    }
    if (u <= 0x20 || u == 0x7F || c == '|' || c == '~' || c == '\\' || c == '&') {
      return std::string(what) + " has a space, control character or HL7 delimiter";
    }
  }
  return {};
}

std::string indexed(std::string_view key, std::size_t i) {
  return std::string(key) + "[" + std::to_string(i) + "]";
}

}  // namespace

std::optional<MessagePattern> MessagePattern::parse(std::string_view text, std::string& why) {
  if (text == "*") return MessagePattern{};
  if (text.empty()) {
    why = "empty pattern (write * for every message)";
    return std::nullopt;
  }
  const std::size_t caret = text.find('^');
  if (caret == std::string_view::npos) {
    why = "'" + std::string(text) + "' is not CODE^TRIGGER (write " + std::string(text) +
          "^* for every trigger, * for every message)";
    return std::nullopt;
  }
  const std::string_view code = text.substr(0, caret);
  const std::string_view trigger = text.substr(caret + 1);
  if (trigger.find('^') != std::string_view::npos) {
    why = "'" + std::string(text) + "' has more than CODE^TRIGGER (MSH-9.1^MSH-9.2)";
    return std::nullopt;
  }
  std::string part = pattern_part_problem(code, "the message code (MSH-9.1)");
  if (part.empty()) part = pattern_part_problem(trigger, "the trigger event (MSH-9.2)");
  if (!part.empty()) {
    why = "'" + std::string(text) + "': " + part;
    return std::nullopt;
  }
  return MessagePattern{GlobPattern(std::string(code)), GlobPattern(std::string(trigger))};
}

std::string_view to_string(ConditionOp op) {
  for (const OpName& o : kOps) {
    if (o.op == op) return o.name;
  }
  return "unknown";
}

std::optional<ConditionOp> parse_condition_op(std::string_view text) {
  for (const OpName& o : kOps) {
    if (o.name == text) return o.op;
  }
  return std::nullopt;
}

std::string RouteProblem::to_string() const {
  std::string out = indexed("routes", route_index);
  if (!problem.key.empty()) out.append(".").append(problem.key);
  if (!route.empty()) out.append(" (route '").append(route).append("')");
  out.append(": ").append(engine::to_string(problem.code)).append(": ").append(problem.detail);
  return out;
}

bool glob_match(std::string_view pattern, std::string_view text) {
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;  // position of the last '*' seen
  std::size_t mark = 0;                       // where the text stood when it was seen
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == '?') {
      ++p;
      t = next_code_point(text, t);
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      // Let the last '*' swallow one more character and retry from there.
      p = star + 1;
      mark = next_code_point(text, mark);
      t = mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

GlobPattern::GlobPattern(std::string pattern) : pattern_(std::move(pattern)) {
  const std::size_t wild = pattern_.find_first_of("*?");
  if (!pattern_.empty() && pattern_.find_first_not_of('*') == std::string::npos) {
    kind_ = Kind::any;
  } else if (wild == std::string::npos) {
    kind_ = Kind::exact;
  } else if (wild == pattern_.size() - 1 && pattern_.back() == '*') {
    kind_ = Kind::prefix;
  } else {
    kind_ = Kind::glob;
  }
}

bool GlobPattern::matches(std::string_view text) const {
  switch (kind_) {
    case Kind::any:
      return true;
    case Kind::exact:
      return text == pattern_;
    case Kind::prefix:
      return text.starts_with(prefix());
    case Kind::glob:
      return glob_match(pattern_, text);
  }
  return false;
}

void RouteMatches::push_back(std::uint32_t index) {
  if (size_ < kInline) {
    inline_[size_] = index;
  } else {
    if (size_ == kInline) heap_.assign(inline_.begin(), inline_.end());
    heap_.push_back(index);
  }
  ++size_;
}

RouterBuild Router::build(std::vector<RouteSpec> routes) {
  RouterBuild out;
  Router router;
  router.routes_.reserve(routes.size());
  for (std::size_t r = 0; r < routes.size(); ++r) {
    RouteSpec& spec = routes[r];
    auto problem = [&](ConfigErrc code, std::string key, std::string detail) {
      out.problems.push_back(
          RouteProblem{r, spec.name, ConfigProblem{code, std::move(key), std::move(detail)}});
    };
    CompiledRoute route;

    if (spec.name.empty()) {
      problem(ConfigErrc::missing_key, "name", "a route needs a name");
    } else {
      for (std::size_t earlier = 0; earlier < r; ++earlier) {
        if (router.routes_[earlier].spec.name == spec.name) {  // earlier specs moved there
          problem(ConfigErrc::duplicate, "name",
                  "the name of " + indexed("routes", earlier) + " too; names must be unique");
          break;
        }
      }
    }
    for (std::size_t i = 0; i < spec.from.size(); ++i) {
      if (spec.from[i].empty())
        problem(ConfigErrc::bad_value, indexed("from", i), "empty source id");
    }
    for (std::size_t i = 0; i < spec.destinations.size(); ++i) {
      if (spec.destinations[i].empty()) {
        problem(ConfigErrc::bad_value, indexed("destinations", i), "empty destination id");
      }
    }

    for (std::size_t i = 0; i < spec.message.size(); ++i) {
      std::string why;
      if (auto pattern = MessagePattern::parse(spec.message[i], why)) {
        route.message.push_back(std::move(*pattern));
      } else {
        problem(ConfigErrc::bad_value, indexed("message", i), std::move(why));
      }
    }

    auto header_pattern = [&](const std::optional<std::string>& value, const char* key,
                              std::optional<GlobPattern>& target) {
      if (!value) return;
      if (value->empty()) {
        problem(ConfigErrc::bad_value, key, "empty; leave the key out to accept every value");
        return;
      }
      target.emplace(*value);
    };
    header_pattern(spec.sending_application, "sending_application", route.sending_application);
    header_pattern(spec.sending_facility, "sending_facility", route.sending_facility);

    for (std::size_t c = 0; c < spec.conditions.size(); ++c) {
      const ConditionSpec& cs = spec.conditions[c];
      const std::string base = indexed("conditions", c) + ".";
      Condition condition;
      bool good = true;

      if (cs.path.empty()) {
        problem(ConfigErrc::missing_key, base + "path", "a condition needs a path (PID-3[*].1)");
        good = false;
      } else if (auto path = hl7v2::Path::parse(cs.path); !path) {
        problem(ConfigErrc::bad_value, base + "path",
                "'" + cs.path + "' is not a path: " + path.error().where() + ": " +
                    path.error().detail());
        good = false;
      } else if (path->filtered()) {
        // Message paths (get/select) do not evaluate filters: the condition would never match.
        problem(ConfigErrc::bad_value, base + "path",
                "'" + cs.path +
                    "': repetition filters ([5=MR]) work in mappings only; in a route condition "
                    "use a [*] path (PID-3[*].5 equals MR)");
        good = false;
      } else {
        condition.path = std::move(*path);
      }

      const std::optional<ConditionOp> op = parse_condition_op(cs.op);
      if (cs.op.empty()) {
        problem(ConfigErrc::missing_key, base + "op", "a condition needs an operator");
        continue;
      }
      if (!op) {
        std::string names;
        for (const OpName& o : kOps) names.append(names.empty() ? "" : ", ").append(o.name);
        problem(ConfigErrc::bad_value, base + "op",
                "unknown operator '" + cs.op + "' (" + names + ")");
        continue;
      }
      condition.op = *op;
      const std::string op_name(to_string(*op));

      switch (operand_of(*op)) {
        case Operand::none:
          if (cs.value) {
            problem(ConfigErrc::bad_value, base + "value", op_name + " takes no value");
            good = false;
          }
          if (!cs.values.empty()) {
            problem(ConfigErrc::bad_value, base + "values", op_name + " takes no values");
            good = false;
          }
          break;
        case Operand::one:
          if (!cs.values.empty()) {
            problem(ConfigErrc::bad_value, base + "values",
                    op_name + " takes one value; values is for in and not_in");
            good = false;
          }
          if (!cs.value) {
            problem(ConfigErrc::missing_key, base + "value", op_name + " needs a value");
            good = false;
          } else if (cs.value->empty()) {
            problem(ConfigErrc::bad_value, base + "value",
                    op_name + " needs a non-empty value; use exists or not_exists for presence");
            good = false;
          } else if (*op == ConditionOp::matches || *op == ConditionOp::not_matches) {
            condition.pattern = GlobPattern(*cs.value);
          } else {
            condition.values.push_back(*cs.value);
          }
          break;
        case Operand::list:
          if (cs.value) {
            problem(ConfigErrc::bad_value, base + "value",
                    op_name + " takes a list: values, not value");
            good = false;
          }
          if (cs.values.empty()) {
            problem(ConfigErrc::missing_key, base + "values", op_name + " needs a list of values");
            good = false;
          }
          for (std::size_t v = 0; v < cs.values.size(); ++v) {
            if (cs.values[v].empty()) {
              problem(ConfigErrc::bad_value, base + indexed("values", v),
                      "empty value; use exists or not_exists for presence");
              good = false;
            }
          }
          if (good) condition.values = cs.values;
          break;
      }
      if (good) route.conditions.push_back(std::move(condition));
    }

    route.spec = std::move(spec);
    router.routes_.push_back(std::move(route));
  }
  if (out.problems.empty()) out.router.emplace(std::move(router));
  return out;
}

RouteMatches Router::match(const MatchInput& input, MatchScratch& scratch) const {
  RouteMatches out;
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (takes(routes_[i], input, scratch)) out.push_back(static_cast<std::uint32_t>(i));
  }
  return out;
}

RouteMatches Router::match(const MatchInput& input) const {
  MatchScratch scratch;
  return match(input, scratch);
}

bool Router::takes(const CompiledRoute& route, const MatchInput& input, MatchScratch& scratch) {
  const hl7v2::MessageView& message = input.message;
  if (!route.spec.from.empty() && std::find(route.spec.from.begin(), route.spec.from.end(),
                                            input.source) == route.spec.from.end()) {
    return false;
  }
  if (!route.message.empty()) {
    const std::string_view code = message.message_code();
    const std::string_view trigger = message.trigger_event();
    const bool any = std::any_of(route.message.begin(), route.message.end(),
                                 [&](const MessagePattern& p) { return p.matches(code, trigger); });
    if (!any) return false;
  }
  auto header_matches = [&](const std::optional<GlobPattern>& pattern, std::size_t field) {
    if (!pattern) return true;
    if (message.segment_count() == 0) return false;
    const hl7v2::ElementView element = message.header().field(field).component(1);
    return element.has_value() && pattern->matches(element.decoded_view(scratch.text));
  };
  if (!header_matches(route.sending_application, 3)) return false;
  if (!header_matches(route.sending_facility, 4)) return false;
  return std::all_of(route.conditions.begin(), route.conditions.end(),
                     [&](const Condition& c) { return holds(c, message, scratch); });
}

bool Router::holds(const Condition& condition, const hl7v2::MessageView& message,
                   MatchScratch& scratch) {
  scratch.selected.clear();
  message.select(condition.path, scratch.selected);
  const ConditionOp op = condition.op;
  bool any = false;
  for (const hl7v2::ElementView& element : scratch.selected) {
    if (!element.has_value()) continue;
    if (op == ConditionOp::exists || op == ConditionOp::not_exists) {
      any = true;
      break;
    }
    const std::string_view text = element.decoded_view(scratch.text);
    switch (op) {
      case ConditionOp::equals:
      case ConditionOp::not_equals:
        any = text == condition.values.front();
        break;
      case ConditionOp::in:
      case ConditionOp::not_in:
        any = std::find(condition.values.begin(), condition.values.end(), text) !=
              condition.values.end();
        break;
      case ConditionOp::matches:
      case ConditionOp::not_matches:
        any = condition.pattern.matches(text);
        break;
      case ConditionOp::starts_with:
      case ConditionOp::not_starts_with:
        any = text.starts_with(condition.values.front());
        break;
      case ConditionOp::exists:
      case ConditionOp::not_exists:
        break;
    }
    if (any) break;
  }
  return negated(op) ? !any : any;
}

}  // namespace hims::engine

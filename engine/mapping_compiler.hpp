// Internal to the mapping loader (mapping_load.cpp: the file, tables, entities and refs;
// mapping_load_values.cpp: paths, conditions and values): the compiler that turns mapping YAML
// into a mapping_detail::Program, collecting every problem. One compiler per load; not shared.
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/mapping_program.hpp"
#include "engine/yaml_reader.hpp"

namespace hims::engine {
namespace mapping_detail {
inline constexpr std::uint32_t kNone = 0xFFFFFFFFu;
inline constexpr std::uintmax_t kMaxIncludeBytes = 1u << 20;

using yaml_reader::indexed;
using yaml_reader::join;
using yaml_reader::node_kind;

// SQL-style names: a letter or '_', then letters, digits, '_'.
inline bool is_identifier(std::string_view text) {
  if (text.empty() || text.size() > 63) return false;
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!letter(text.front())) return false;
  return std::all_of(text.begin(), text.end(),
                     [&](char c) { return letter(c) || (c >= '0' && c <= '9'); });
}

// "UTC", "Z", "+hhmm", "-hhmm", "+hh:mm" -> minutes east of UTC.
inline std::optional<int> parse_offset(std::string_view text) {
  if (text == "UTC" || text == "Z") return 0;
  if (text.size() != 5 && text.size() != 6) return std::nullopt;
  if (text[0] != '+' && text[0] != '-') return std::nullopt;
  std::string digits;
  for (std::size_t i = 1; i < text.size(); ++i) {
    if (text.size() == 6 && i == 3) {
      if (text[i] != ':') return std::nullopt;
      continue;
    }
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    digits.push_back(text[i]);
  }
  const int hours = (digits[0] - '0') * 10 + (digits[1] - '0');
  const int minutes = (digits[2] - '0') * 10 + (digits[3] - '0');
  if (hours > 14 || minutes > 59) return std::nullopt;
  const int total = hours * 60 + minutes;
  return text[0] == '-' ? -total : total;
}

inline std::optional<ValueType> parse_type(std::string_view text) {
  static const std::pair<std::string_view, ValueType> kTypes[] = {
      {"text", ValueType::text},       {"int", ValueType::integer},
      {"decimal", ValueType::decimal}, {"bool", ValueType::boolean},
      {"date", ValueType::date},       {"timestamp", ValueType::timestamp},
      {"json", ValueType::json}};
  for (const auto& [name, type] : kTypes) {
    if (name == text) return type;
  }
  return std::nullopt;
}

inline std::string_view type_name(ValueType type) {
  switch (type) {
    case ValueType::text:
      return "text";
    case ValueType::integer:
      return "int";
    case ValueType::decimal:
      return "decimal";
    case ValueType::boolean:
      return "bool";
    case ValueType::date:
      return "date";
    case ValueType::timestamp:
      return "timestamp";
    case ValueType::json:
      return "json";
  }
  return "text";
}

inline bool looks_integer(std::string_view t) {
  std::size_t i = (!t.empty() && (t[0] == '-' || t[0] == '+')) ? 1 : 0;
  return i < t.size() && std::all_of(t.begin() + static_cast<std::ptrdiff_t>(i), t.end(),
                                     [](char c) { return c >= '0' && c <= '9'; });
}

inline bool looks_decimal(std::string_view t) {
  const auto dot = t.find('.');
  if (dot == std::string_view::npos || t.find('.', dot + 1) != std::string_view::npos) return false;
  std::string digits(t.substr(0, dot));
  digits.append(t.substr(dot + 1));
  if (digits == "-" || digits == "+" || digits.empty()) return false;
  return looks_integer(digits);
}

}  // namespace mapping_detail

// Builds a Program from YAML, collecting every problem (friend of Mapping).
class MappingCompiler {
 public:
  using CodeTable = mapping_detail::CodeTable;
  using Condition = mapping_detail::Condition;
  using Entity = mapping_detail::Entity;
  using Expr = mapping_detail::Expr;
  using PathExpr = mapping_detail::PathExpr;
  using Program = mapping_detail::Program;
  using Transform = mapping_detail::Transform;
  using ValueType = mapping_detail::ValueType;

  explicit MappingCompiler(std::string file)
      : file_(std::move(file)), main_file_(file_), program_(std::make_shared<Program>()) {
    program_->file = file_;
  }

  MappingLoad run(std::string_view yaml);

 private:
  struct StaticFrame {
    bool segment_loop = true;
    std::string segment;  // segment loops
  };
  struct PendingRef {
    std::uint32_t entity;
    std::size_t column;
    std::string name;
    Location at;
    std::string key;
  };

  // ---- reporting ---------------------------------------------------------------------------

  Location mark_location(const YAML::Mark& mark) const {
    return yaml_reader::location(file_, mark);
  }
  Location where(const YAML::Node& node) const { return mark_location(node.Mark()); }
  void add(ConfigErrc code, const YAML::Node& at, std::string key, std::string detail) {
    errors_.push_back({code, where(at), std::move(key), std::move(detail)});
  }
  std::string rule_of(const YAML::Node& node) const {
    return file_ + ":" + std::to_string(node.Mark().is_null() ? 0 : node.Mark().line + 1);
  }

  bool parse_yaml(std::string_view yaml, YAML::Node& root);

  // A map whose keys are checked against `allowed` (empty: any); calls each(key, value, key_path).
  template <class F>
  bool for_each_key(const YAML::Node& node, const std::string& path,
                    const std::vector<std::string_view>& allowed, F&& each) {
    return yaml_reader::for_each_key(
        node, path, allowed,
        [this](ConfigErrc code, const YAML::Node& at, std::string key, std::string detail) {
          add(code, at, std::move(key), std::move(detail));
        },
        std::forward<F>(each));
  }

  std::optional<std::string> text(const YAML::Node& node, const std::string& path) {
    if (!node.IsScalar()) {
      add(ConfigErrc::wrong_type, node, path,
          "must be a value, not " + mapping_detail::node_kind(node));
      return std::nullopt;
    }
    return node.Scalar();
  }

  std::optional<bool> flag(const YAML::Node& node, const std::string& path) {
    auto t = text(node, path);
    if (!t) return std::nullopt;
    if (*t == "true") return true;
    if (*t == "false") return false;
    add(ConfigErrc::bad_value, node, path, "must be true or false");
    return std::nullopt;
  }

  // A value or a list of values; each item with its node.
  bool texts(const YAML::Node& node, const std::string& path,
             std::vector<std::pair<std::string, YAML::Node>>& out);

  // ---- root ----------------------------------------------------------------------------------

  void load_root(const YAML::Node& root);

  void load_messages(const YAML::Node& node);

  // ---- code tables ---------------------------------------------------------------------------

  void load_tables(const YAML::Node& node, const std::string& path, bool allow_include);

  void include_tables(const std::string& name, const YAML::Node& at, const std::string& key);

  void load_table(const std::string& name, const YAML::Node& node, const std::string& path);

  // ---- paths and conditions ------------------------------------------------------------------

  // Compiles a path against the loops around it; false after reporting a problem.
  bool compile_path(const std::string& text, const YAML::Node& at, const std::string& key,
                    bool allow_many, PathExpr& out);

  bool load_condition(const YAML::Node& node, const std::string& path, Condition& out);

  // ---- values --------------------------------------------------------------------------------

  // A literal (value:, default:, a code table value) as the column's type, or inferred from an
  // unquoted YAML scalar (true, 12, 1.5) when the column names no type.
  bool literal(const YAML::Node& node, const std::string& path, std::optional<ValueType> type,
               MappedValue& out);

  bool typed_literal(const std::string& t, bool plain, const YAML::Node& at,
                     const std::string& path, std::optional<ValueType> type, MappedValue& out);

  enum class Place : std::uint8_t { column, json_member, concat_part };

  // One value spec: a path (shorthand) or a map. `name` is the column (or member) name.
  bool load_expr(const YAML::Node& node, const std::string& path, const std::string& name,
                 Place place, Expr& e);

  // ---- entities ------------------------------------------------------------------------------

  void load_entities(const YAML::Node& node);

  // Returns the entity's id, or kNone when it is too broken to keep.
  std::uint32_t load_entity(const YAML::Node& node, const std::string& path, std::uint32_t parent);

  // for_each: a segment id (OBX) or a repeated field (PID-3[*]); pushes the loop's frame.
  bool load_loop(const std::string& t, const YAML::Node& at, const std::string& path, Entity& en);

  bool is_ancestor(std::uint32_t ancestor, std::uint32_t of) const;

  // Refs name an entity that is the referrer's ancestor, or a sibling of it or of an ancestor
  // (one instance per instance of their common parent). Records the sibling dependencies.
  void resolve_refs();

  // Orders siblings so that each comes after the siblings it (or something nested in it) refers
  // to; otherwise file order. A cycle is an error.
  void order_siblings(std::vector<std::uint32_t>& ids, const std::string& where_name);

  std::string file_;
  std::string main_file_;
  std::shared_ptr<Program> program_;
  std::vector<ConfigError> errors_;
  std::map<std::string, const CodeTable*> tables_;
  std::map<std::string, std::uint32_t> entity_ids_;
  std::vector<std::string> entity_paths_;  // by id: "entities[1].entities[0]"
  std::vector<YAML::Node> entity_nodes_;   // by id
  std::vector<StaticFrame> frames_;
  std::vector<PendingRef> refs_;
  std::map<std::uint32_t, std::set<std::uint32_t>> depends_;  // entity -> siblings it needs first
  std::uint32_t current_entity_ = mapping_detail::kNone;
  std::size_t current_column_ = 0;
};

}  // namespace hims::engine

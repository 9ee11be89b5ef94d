// The mapping loader's values: paths resolved against their loops, conditions, literals typed
// at load, and column specs (path, value, concat, json, ref with their options).
#include "engine/log.hpp"
#include "engine/mapping_compiler.hpp"

namespace hims::engine {

using namespace mapping_detail;  // NOLINT: the loader's own helpers

// Compiles a path against the loops around it; false after reporting a problem.
bool MappingCompiler::compile_path(const std::string& text, const YAML::Node& at,
                                   const std::string& key, bool allow_many, PathExpr& out) {
  out.text = text;
  if (!text.empty() && text.front() == '.') {
    int frame = -1;
    for (int i = static_cast<int>(frames_.size()) - 1; i >= 0; --i) {
      if (!frames_[static_cast<std::size_t>(i)].segment_loop) {
        frame = i;
        break;
      }
    }
    if (frame < 0) {
      add(ConfigErrc::bad_value, at, key,
          "'" + text + "' is relative: only valid inside a for_each over repetitions (PID-3[*])");
      return false;
    }
    auto parsed = hl7v2::Path::parse("ZZZ-1" + text);
    if (!parsed || parsed->component == hl7v2::Path::kUnset) {
      add(ConfigErrc::bad_value, at, key,
          "'" + text + "' is not a relative path (.1 or .4.1: component, sub-component)");
      return false;
    }
    out.anchor = PathExpr::Anchor::repetition;
    out.frame = static_cast<std::uint8_t>(frame);
    out.path.segment.clear();
    out.path.field = hl7v2::Path::kUnset;
    out.path.component = parsed->component;
    out.path.subcomponent = parsed->subcomponent;
    return true;
  }
  auto parsed = hl7v2::Path::parse(text);
  if (!parsed) {
    add(ConfigErrc::bad_value, at, key,
        "'" + text + "' is not an HL7 v2 path (PID-3, PID-5.1, OBX[2]-5, PID-3[5=MR].1) at " +
            parsed.error().where() + ": " + parsed.error().detail());
    return false;
  }
  if (parsed->field == hl7v2::Path::kUnset) {
    add(ConfigErrc::bad_value, at, key,
        "'" + text + "' names a whole segment; name a field (" + parsed->segment + "-1)");
    return false;
  }
  out.many = parsed->occurrence == hl7v2::Path::kAll || parsed->repetition == hl7v2::Path::kAll;
  if (out.many && !allow_many) {
    add(ConfigErrc::bad_value, at, key,
        "'" + text +
            "' selects many values: add join: \", \" to join them, or make one row per "
            "repetition with for_each");
    return false;
  }
  const std::size_t seg = parsed->segment.size();
  const bool explicit_occurrence = text.size() > seg && (text[seg] == '[' || text[seg] == '(');
  out.path = std::move(*parsed);
  out.anchor = PathExpr::Anchor::message;
  if (!explicit_occurrence) {
    for (std::size_t i = frames_.size(); i-- > 0;) {
      if (frames_[i].segment_loop && frames_[i].segment == out.path.segment) {
        out.anchor = PathExpr::Anchor::segment;
        out.frame = static_cast<std::uint8_t>(i);
        break;
      }
    }
  }
  // Another segment, inside a segment loop: looked up in the loops' groups first (apply).
  if (out.anchor == PathExpr::Anchor::message && !explicit_occurrence &&
      out.path.occurrence != hl7v2::Path::kAll) {
    for (std::size_t i = frames_.size(); i-- > 0;) {
      if (frames_[i].segment_loop) {
        out.scoped = true;
        out.frame = static_cast<std::uint8_t>(i);
        break;
      }
    }
  }
  return true;
}

bool MappingCompiler::load_condition(const YAML::Node& node, const std::string& path,
                                     Condition& out) {
  static const std::vector<std::string_view> kKeys{
      "path", "equals", "not_equals", "in", "exists", "matches", "all", "any", "not"};
  std::vector<std::pair<std::string, YAML::Node>> entries;
  const std::size_t errors_before = errors_.size();
  if (!for_each_key(node, path, kKeys,
                    [&](const std::string& key, const YAML::Node& value, const std::string&) {
                      entries.emplace_back(key, value);
                    }) ||
      errors_.size() != errors_before) {
    return false;  // one mistake, one error: no "needs one test" after a misspelt key
  }
  const YAML::Node* path_node = nullptr;
  std::vector<std::pair<std::string, YAML::Node>> ops;
  for (auto& [key, value] : entries) {
    if (key == "path") {
      path_node = &value;
    } else {
      ops.emplace_back(key, value);
    }
  }
  if (ops.size() != 1) {
    add(ConfigErrc::bad_value, node, path,
        ops.empty() ? "needs one test: equals, not_equals, in, exists, matches, all, any or not"
                    : "has more than one test; combine them with all: [...] or any: [...]");
    return false;
  }
  const std::string& op = ops[0].first;
  const YAML::Node& value = ops[0].second;
  const std::string op_path = path + "." + op;
  if (op == "all" || op == "any" || op == "not") {
    if (path_node != nullptr) {
      add(ConfigErrc::bad_value, *path_node, path + ".path",
          "goes with equals, not_equals, in, exists or matches, not with " + op);
      return false;
    }
    if (op == "not") {
      out.op = Condition::Op::not_;
      out.children.emplace_back();
      return load_condition(value, op_path, out.children.back());
    }
    out.op = op == "all" ? Condition::Op::all : Condition::Op::any;
    if (!value.IsSequence() || value.size() == 0) {
      add(ConfigErrc::wrong_type, value, op_path, "must be a non-empty list of conditions");
      return false;
    }
    bool ok = true;
    std::size_t i = 0;
    for (const auto& item : value) {
      out.children.emplace_back();
      ok = load_condition(item, indexed(op_path, i++), out.children.back()) && ok;
    }
    return ok;
  }
  if (path_node == nullptr) {
    add(ConfigErrc::missing_key, node, path + ".path", "is required with " + op);
    return false;
  }
  bool ok = false;
  if (auto t = text(*path_node, path + ".path")) {
    ok = compile_path(*t, *path_node, path + ".path", true, out.path);
  }
  if (op == "exists") {
    auto f = flag(value, op_path);
    if (!f) return false;
    out.op = *f ? Condition::Op::exists : Condition::Op::not_exists;
  } else if (op == "in") {
    out.op = Condition::Op::in;
    if (!value.IsSequence()) {
      add(ConfigErrc::wrong_type, value, op_path,
          "must be a list of values, not " + node_kind(value));
      return false;
    }
    std::size_t i = 0;
    for (const auto& item : value) {
      auto t = text(item, indexed(op_path, i++));
      if (!t) return false;
      out.values.push_back(*t);
    }
  } else {
    auto t = text(value, op_path);
    if (!t) return false;
    if (op == "matches") {
      out.op = Condition::Op::matches;
      out.pattern = GlobPattern(*t);
    } else {
      out.op = op == "equals" ? Condition::Op::equals : Condition::Op::not_equals;
      out.values.push_back(*t);
    }
  }
  return ok;
}

// A literal (value:, default:, a code table value) as the column's type, or inferred from an
// unquoted YAML scalar (true, 12, 1.5) when the column names no type.
bool MappingCompiler::literal(const YAML::Node& node, const std::string& path,
                              std::optional<ValueType> type, MappedValue& out) {
  if (node.IsNull()) {
    out = MappedValue::null_value();
    return true;
  }
  auto t = text(node, path);
  if (!t) return false;
  return typed_literal(*t, node.Tag() == "?", node, path, type, out);
}

bool MappingCompiler::typed_literal(const std::string& t, bool plain, const YAML::Node& at,
                                    const std::string& path, std::optional<ValueType> type,
                                    MappedValue& out) {
  if (!type) {
    if (plain && (t == "true" || t == "false")) {
      out = MappedValue::of_bool(t == "true");
      return true;
    }
    if (plain && looks_integer(t)) {
      type = ValueType::integer;
    } else if (plain && looks_decimal(t)) {
      type = ValueType::decimal;
    } else {
      type = ValueType::text;
    }
  }
  if (*type == ValueType::json) {
    add(ConfigErrc::bad_value, at, path,
        "a json column takes no literal; build it with json: {...}");
    return false;
  }
  if (*type == ValueType::boolean && (t == "true" || t == "false")) {
    out = MappedValue::of_bool(t == "true");
    return true;
  }
  const std::string problem =
      mapping_detail::convert(t, *type, program_->default_offset_minutes, out);
  if (!problem.empty()) {
    add(ConfigErrc::bad_value, at, path,
        "'" + t + "' " + problem + " (type " + std::string(type_name(*type)) + ")");
    return false;
  }
  return true;
}

// One value spec: a path (shorthand) or a map. `name` is the column (or member) name.
bool MappingCompiler::load_expr(const YAML::Node& node, const std::string& path,
                                const std::string& name, Place place, Expr& e) {
  e.name = name;
  e.rule = rule_of(node);
  if (node.IsScalar()) {
    const std::string& t = node.Scalar();
    if (t.empty() ||
        (node.Tag() == "?" && t.front() != '.' &&
         (t == "true" || t == "false" || t == "null" || looks_integer(t) || looks_decimal(t)))) {
      add(ConfigErrc::bad_value, node, path,
          "'" + t + "' is not a path; write {value: " + (t.empty() ? "\"\"" : t) +
              "} for a literal");
      return false;
    }
    e.source = Expr::Source::path;
    return compile_path(t, node, path, false, e.path);
  }
  if (!node.IsMap()) {
    add(ConfigErrc::wrong_type, node, path,
        "must be a path (PID-5.1) or a map ({path: ..., type: ...}), not " + node_kind(node));
    return false;
  }
  static const std::vector<std::string_view> kKeys{
      "path",      "value", "concat",   "first",   "json",           "ref", "join", "type",
      "transform", "code",  "required", "default", "insert_default", "when"};
  std::map<std::string, std::pair<YAML::Node, std::string>> keys;
  if (!for_each_key(node, path, kKeys,
                    [&](const std::string& key, const YAML::Node& value, const std::string& kp) {
                      keys.emplace(key, std::pair(value, kp));
                    })) {
    return false;
  }
  auto has = [&](const char* k) { return keys.count(k) != 0; };
  std::vector<std::string_view> sources;
  for (const char* s : {"path", "value", "concat", "first", "json", "ref"}) {
    if (has(s)) sources.emplace_back(s);
  }
  if (sources.size() != 1) {
    add(ConfigErrc::bad_value, node, path,
        sources.empty() ? "needs one of: path, value, concat, first, json, ref"
                        : "has more than one source (" + join(sources) + "); keep one");
    return false;
  }
  const std::string source(sources.front());
  bool ok = true;
  auto reject = [&](const char* key, const std::string& why) {
    if (!has(key)) return;
    add(ConfigErrc::bad_value, keys[key].first, keys[key].second, why);
    ok = false;
  };

  // Type first: literals and defaults are converted with it.
  std::optional<ValueType> type;
  if (has("type")) {
    auto& [tn, tp] = keys["type"];
    if (auto t = text(tn, tp)) {
      type = parse_type(*t);
      if (!type) {
        add(ConfigErrc::bad_value, tn, tp,
            "'" + *t + "' is not a type (text, int, decimal, bool, date, timestamp, json)");
        ok = false;
      }
    } else {
      ok = false;
    }
  }
  if (source == "json") {
    if (type && *type != ValueType::json) {
      reject("type", "a json: value is a json object; leave type out or write type: json");
    }
    type = ValueType::json;
  } else if (type && *type == ValueType::json) {
    reject("type", "type json is built with json: {member: PATH, ...}");
  }
  e.type = type.value_or(ValueType::text);

  if (source == "ref") {
    for (const char* k : {"join", "type", "transform", "code", "default", "insert_default"}) {
      reject(k, std::string(k) + " does not apply to a ref (the row it refers to)");
    }
    if (place != Place::column) {
      reject("ref", "a ref is a column of its own, not part of a json, concat or first value");
    }
  }
  if (source == "value" || source == "json") {
    for (const char* k : {"transform", "code", "join"}) {
      reject(k, std::string(k) + " applies to path, concat and first values, not to " + source);
    }
  }
  if (source != "path") reject("join", "join goes with a path that selects many ([*])");

  if (has("required")) {
    auto& [n, p] = keys["required"];
    if (auto f = flag(n, p)) {
      e.required = *f;
    } else {
      ok = false;
    }
  }
  if (has("when")) {
    auto& [n, p] = keys["when"];
    e.when.emplace();
    ok = load_condition(n, p, *e.when) && ok;
  }
  if (has("transform")) {
    auto& [n, p] = keys["transform"];
    std::vector<std::pair<std::string, YAML::Node>> names;
    if (texts(n, p, names)) {
      for (auto& [t, at] : names) {
        if (t == "trim") {
          e.transforms.push_back(Transform::trim);
        } else if (t == "upper") {
          e.transforms.push_back(Transform::upper);
        } else if (t == "lower") {
          e.transforms.push_back(Transform::lower);
        } else {
          add(ConfigErrc::bad_value, at, p, "'" + t + "' is not a transform (trim, upper, lower)");
          ok = false;
        }
      }
    } else {
      ok = false;
    }
  }
  if (has("code")) {
    auto& [n, p] = keys["code"];
    if (auto t = text(n, p)) {
      auto it = tables_.find(*t);
      if (it == tables_.end()) {
        std::string known;
        for (const auto& [tn, table] : tables_) known.append(known.empty() ? "" : ", ").append(tn);
        add(ConfigErrc::unknown_id, n, p,
            "unknown code table \"" + *t + "\" (tables: " + (known.empty() ? "none" : known) + ")");
        ok = false;
      } else {
        e.table = it->second;
        for (const auto& entry : e.table->entries) {
          MappedValue v;
          if (entry.null) {
            e.code_values.push_back(v);
          } else if (typed_literal(entry.value, false, n,
                                   p + " (table " + *t + ", code " + entry.code + ")", e.type, v)) {
            e.code_values.push_back(std::move(v));
          } else {
            ok = false;
            e.code_values.push_back({});
          }
        }
        if (e.table->fallback) {
          MappedValue v;
          if (e.table->fallback->null ||
              typed_literal(e.table->fallback->value, false, n, p + " (table " + *t + ", default)",
                            e.type, v)) {
            e.code_default = std::move(v);
          } else {
            ok = false;
          }
        }
      }
    } else {
      ok = false;
    }
  }
  if (has("default")) {
    auto& [n, p] = keys["default"];
    MappedValue v;
    if (literal(n, p, e.type, v)) {
      e.fallback = std::move(v);
    } else {
      ok = false;
    }
  }
  if (has("insert_default")) {
    auto& [n, p] = keys["insert_default"];
    MappedValue v;
    if (place != Place::column) {
      add(ConfigErrc::bad_value, n, p, "insert_default is for a column, not a part of one");
      ok = false;
    } else if (has("default")) {
      add(ConfigErrc::bad_value, n, p,
          "default and insert_default together: keep one (default is written on every update "
          "too)");
      ok = false;
    } else if (literal(n, p, e.type, v)) {
      e.insert_fallback = std::move(v);
    } else {
      ok = false;
    }
  }

  auto& [sn, sp] = keys[source];
  if (source == "path") {
    e.source = Expr::Source::path;
    auto t = text(sn, sp);
    if (!t) return false;
    if (!compile_path(*t, sn, sp, has("join"), e.path)) return false;
    if (has("join")) {
      auto& [jn, jp] = keys["join"];
      if (!e.path.many) {
        add(ConfigErrc::bad_value, jn, jp, "join needs a path that selects many ([*])");
        return false;
      }
      if (auto sep = text(jn, jp)) {
        e.join = *sep;
      } else {
        return false;
      }
    }
  } else if (source == "value") {
    e.source = Expr::Source::literal;
    if (!literal(sn, sp, type, e.literal)) return false;
  } else if (source == "ref") {
    e.source = Expr::Source::ref;
    auto t = text(sn, sp);
    if (!t) return false;
    if (place == Place::column && ok)
      refs_.push_back({current_entity_, current_column_, *t, where(sn), sp});
  } else if (source == "concat" || source == "first") {
    e.source = source == "concat" ? Expr::Source::concat : Expr::Source::first;
    if (!sn.IsSequence() || sn.size() == 0) {
      add(ConfigErrc::wrong_type, sn, sp,
          "must be a non-empty list of paths and {value: ...} literals");
      return false;
    }
    std::size_t i = 0;
    for (const auto& item : sn) {
      e.parts.emplace_back();
      const std::string ip = indexed(sp, i);
      ok = load_expr(item, ip, name + "." + source + "[" + std::to_string(i) + "]",
                     Place::concat_part, e.parts.back()) &&
           ok;
      ++i;
    }
    for (const Expr& part : e.parts) {
      if (part.source == Expr::Source::json) {
        add(ConfigErrc::bad_value, sn, sp, "a " + source + " part cannot be a json object");
        ok = false;
      }
    }
  } else {
    e.source = Expr::Source::json;
    if (!sn.IsMap() || sn.size() == 0) {
      add(ConfigErrc::wrong_type, sn, sp,
          "must be a non-empty map of member names to values ({city: PID-11.3})");
      return false;
    }
    for_each_key(
        sn, sp, {}, [&](const std::string& member, const YAML::Node& v, const std::string& mp) {
          e.parts.emplace_back();
          std::string key;
          log::append_json_string(key, member);
          key.push_back(':');
          e.member_keys.push_back(std::move(key));
          ok = load_expr(v, mp, name + "." + member, Place::json_member, e.parts.back()) && ok;
        });
  }
  return ok;
}

}  // namespace hims::engine

// The mapping loader: YAML -> mapping_detail::Program. Checks everything it can before a message
// arrives (keys, types, paths, patterns, code tables, refs, key columns) and reports every
// problem with file:line:column and key path, like the configuration loader. This file: the
// file as a whole, code tables, entities, refs and their order; values are in
// mapping_load_values.cpp.
#include <fstream>
#include <sstream>
#include <tuple>

#include "engine/mapping_compiler.hpp"

namespace hims::engine {

using namespace mapping_detail;  // NOLINT: the loader's own helpers

MappingLoad MappingCompiler::run(std::string_view yaml) {
  MappingLoad out;
  YAML::Node root;
  if (!parse_yaml(yaml, root)) {
    out.errors = std::move(errors_);
    return out;
  }
  try {
    load_root(root);
  } catch (const YAML::Exception& e) {
    // yaml-cpp throws on odd nodes (aliases, invalid scalars); report, never crash.
    errors_.push_back({ConfigErrc::syntax, mark_location(e.mark), "", e.msg});
  }
  std::stable_sort(errors_.begin(), errors_.end(), [&](const ConfigError& a, const ConfigError& b) {
    // The mapping file first, included files after; each in line order.
    const bool a_main = a.where.file == main_file_;
    const bool b_main = b.where.file == main_file_;
    if (a_main != b_main) return a_main;
    return std::tuple(a.where.file, a.where.line, a.where.column) <
           std::tuple(b.where.file, b.where.line, b.where.column);
  });
  out.errors = std::move(errors_);
  if (out.errors.empty()) out.mapping = Mapping(std::move(program_));
  return out;
}

bool MappingCompiler::parse_yaml(std::string_view yaml, YAML::Node& root) {
  try {
    root = YAML::Load(std::string(yaml));
    return true;
  } catch (const YAML::Exception& e) {
    errors_.push_back({ConfigErrc::syntax, mark_location(e.mark), "", e.msg});
    return false;
  }
}

// A value or a list of values; each item with its node.
bool MappingCompiler::texts(const YAML::Node& node, const std::string& path,
                            std::vector<std::pair<std::string, YAML::Node>>& out) {
  if (node.IsScalar()) {
    out.emplace_back(node.Scalar(), node);
    return true;
  }
  if (!node.IsSequence()) {
    add(ConfigErrc::wrong_type, node, path, "must be a value or a list, not " + node_kind(node));
    return false;
  }
  bool ok = true;
  std::size_t i = 0;
  for (const auto& item : node) {
    auto t = text(item, indexed(path, i++));
    ok = ok && t.has_value();
    if (t) out.emplace_back(*t, item);
  }
  return ok;
}

void MappingCompiler::load_root(const YAML::Node& root) {
  if (!root.IsMap()) {
    add(ConfigErrc::wrong_type, root, "",
        "a mapping file is a map (mapping, from, messages, entities ...), not " + node_kind(root));
    return;
  }
  static const std::vector<std::string_view> kKeys{"mapping",  "description", "from",    "messages",
                                                   "timezone", "tables",      "entities"};
  std::map<std::string, YAML::Node> sections;
  for_each_key(root, "", kKeys,
               [&](const std::string& key, const YAML::Node& value, const std::string&) {
                 sections.emplace(key, value);
               });
  auto section = [&](const char* name) -> const YAML::Node* {
    auto it = sections.find(name);
    return it == sections.end() ? nullptr : &it->second;
  };
  auto missing = [&](const char* name, const char* detail) {
    add(ConfigErrc::missing_key, root, name, detail);
  };

  if (const auto* n = section("mapping")) {
    if (auto t = text(*n, "mapping")) {
      const bool ok =
          !t->empty() && t->size() <= 100 && std::all_of(t->begin(), t->end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_' || c == '.';
          });
      if (ok) {
        program_->name = *t;
      } else {
        add(ConfigErrc::bad_value, *n, "mapping",
            "a mapping name is 1-100 letters, digits, '-', '_' or '.' (adt-patient)");
      }
    }
  } else {
    missing("mapping", "is required: the mapping's name (used in errors and events)");
  }
  if (const auto* n = section("description")) (void)text(*n, "description");
  if (const auto* n = section("from")) {
    if (auto t = text(*n, "from"); t && *t != "hl7v2") {
      add(ConfigErrc::bad_value, *n, "from",
          "'" + *t + "' is not a supported source format (hl7v2)");
    }
  } else {
    missing("from", "is required: the format mapped from (hl7v2)");
  }
  if (const auto* n = section("messages")) {
    load_messages(*n);
  } else {
    missing("messages", "is required: the message types mapped (ADT^A01, ORU^R01, ADT^A0*, *)");
  }
  if (const auto* n = section("timezone")) {
    if (auto t = text(*n, "timezone")) {
      if (auto offset = parse_offset(*t)) {
        program_->default_offset_minutes = *offset;
      } else {
        add(ConfigErrc::bad_value, *n, "timezone",
            "'" + *t + "' is not UTC or an offset (+hhmm, -hhmm, e.g. -0500)");
      }
    }
  }
  if (const auto* n = section("tables")) load_tables(*n, "tables", true);
  if (const auto* n = section("entities")) {
    load_entities(*n);
  } else {
    missing("entities", "is required: the rows a message maps to");
  }
}

void MappingCompiler::load_messages(const YAML::Node& node) {
  std::vector<std::pair<std::string, YAML::Node>> items;
  if (!texts(node, "messages", items)) return;
  if (items.empty()) {
    add(ConfigErrc::bad_value, node, "messages", "lists no message type");
    return;
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string key = node.IsSequence() ? indexed("messages", i) : "messages";
    std::string why;
    if (auto pattern = MessagePattern::parse(items[i].first, why)) {
      program_->messages.push_back(std::move(*pattern));
    } else {
      add(ConfigErrc::bad_value, items[i].second, key, std::move(why));
    }
  }
}

void MappingCompiler::load_tables(const YAML::Node& node, const std::string& path,
                                  bool allow_include) {
  for_each_key(node, path, {},
               [&](const std::string& key, const YAML::Node& value, const std::string& key_path) {
                 if (key == "include") {
                   if (!allow_include) {
                     add(ConfigErrc::bad_value, value, key_path,
                         "an included table file cannot include others");
                     return;
                   }
                   std::vector<std::pair<std::string, YAML::Node>> files;
                   if (!texts(value, key_path, files)) return;
                   for (std::size_t i = 0; i < files.size(); ++i) {
                     include_tables(files[i].first, files[i].second,
                                    value.IsSequence() ? indexed(key_path, i) : key_path);
                   }
                   return;
                 }
                 load_table(key, value, key_path);
               });
}

void MappingCompiler::include_tables(const std::string& name, const YAML::Node& at,
                                     const std::string& key) {
  std::filesystem::path p(name);
  if (p.is_relative()) p = std::filesystem::path(main_file_).parent_path() / p;
  std::error_code ec;
  if (name.empty() || !std::filesystem::is_regular_file(p, ec)) {
    add(ConfigErrc::unreadable, at, key, "cannot read table file '" + p.string() + "'");
    return;
  }
  const auto size = std::filesystem::file_size(p, ec);
  if (ec || size > kMaxIncludeBytes) {
    add(ConfigErrc::unreadable, at, key,
        "table file '" + p.string() + "' is larger than 1MiB or cannot be sized");
    return;
  }
  std::ifstream in(p, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in && !in.eof()) {
    add(ConfigErrc::unreadable, at, key, "cannot read table file '" + p.string() + "'");
    return;
  }
  const std::string saved = file_;
  file_ = p.string();
  YAML::Node root;
  if (parse_yaml(bytes.str(), root)) {
    for_each_key(root, "", {"tables"},
                 [&](const std::string&, const YAML::Node& value, const std::string&) {
                   load_tables(value, "tables", false);
                 });
  }
  file_ = saved;
}

void MappingCompiler::load_table(const std::string& name, const YAML::Node& node,
                                 const std::string& path) {
  if (!is_identifier(name)) {
    add(ConfigErrc::bad_value, node, path,
        "a table name is a letter or '_' then letters, digits or '_' (sex, hl7_0001)");
    return;
  }
  if (tables_.count(name) != 0) {
    add(ConfigErrc::duplicate, node, path, "table `" + name + "` is defined twice");
    return;
  }
  auto table = std::make_unique<CodeTable>();
  table->name = name;
  bool saw_map = false;
  bool saw_default = false;
  const bool ok = for_each_key(
      node, path, {"map", "default", "strict"},
      [&](const std::string& key, const YAML::Node& value, const std::string& key_path) {
        if (key == "map") {
          saw_map = true;
          if (!value.IsMap()) {
            add(ConfigErrc::wrong_type, value, key_path,
                "must be a map of codes to values ({M: male, F: female}), not " + node_kind(value));
            return;
          }
          for_each_key(
              value, key_path, {},
              [&](const std::string& code, const YAML::Node& v, const std::string& code_path) {
                if (v.IsNull()) {
                  table->entries.push_back({code, {}, true});
                } else if (auto t = text(v, code_path)) {
                  table->entries.push_back({code, *t, false});
                }
              });
        } else if (key == "default") {
          saw_default = true;
          if (value.IsNull()) {
            table->fallback = CodeTable::Entry{{}, {}, true};
          } else if (auto t = text(value, key_path)) {
            table->fallback = CodeTable::Entry{{}, *t, false};
          }
        } else if (auto f = flag(value, key_path)) {
          table->strict = *f;
        }
      });
  if (!ok) return;
  if (!saw_map) {
    add(ConfigErrc::missing_key, node, path + ".map", "is required: the codes and their values");
  }
  if (saw_default && table->strict) {
    add(ConfigErrc::bad_value, node, path,
        "has both default and strict: true (strict makes an unknown code an error)");
  }
  std::sort(table->entries.begin(), table->entries.end(),
            [](const CodeTable::Entry& a, const CodeTable::Entry& b) { return a.code < b.code; });
  tables_.emplace(name, table.get());
  program_->tables.push_back(std::move(table));
}

void MappingCompiler::load_entities(const YAML::Node& node) {
  if (!node.IsSequence() || node.size() == 0) {
    add(ConfigErrc::wrong_type, node, "entities",
        "must be a non-empty list of entities (- as: patient ...)");
    return;
  }
  std::size_t i = 0;
  for (const auto& item : node) {
    const std::uint32_t id = load_entity(item, indexed("entities", i++), kNone);
    if (id != kNone) program_->roots.push_back(id);
  }
  resolve_refs();
  order_siblings(program_->roots, "entities");
  for (Entity& en : program_->entities) order_siblings(en.children, en.as);
}

// Returns the entity's id, or kNone when it is too broken to keep.
std::uint32_t MappingCompiler::load_entity(const YAML::Node& node, const std::string& path,
                                           std::uint32_t parent) {
  static const std::vector<std::string_view> kKeys{"as",       "table",   "key",     "when",
                                                   "for_each", "columns", "entities"};
  std::map<std::string, std::pair<YAML::Node, std::string>> keys;
  if (!for_each_key(node, path, kKeys,
                    [&](const std::string& key, const YAML::Node& value, const std::string& kp) {
                      keys.emplace(key, std::pair(value, kp));
                    })) {
    return kNone;
  }
  const auto id = static_cast<std::uint32_t>(program_->entities.size());
  program_->entities.emplace_back();
  entity_paths_.push_back(path);
  entity_nodes_.push_back(node);
  Entity en;
  en.parent = parent;
  en.rule = rule_of(node);
  auto has = [&](const char* k) { return keys.count(k) != 0; };
  auto missing = [&](const char* k, const char* why) {
    add(ConfigErrc::missing_key, node, path + "." + k, why);
  };

  if (has("as")) {
    auto& [n, p] = keys["as"];
    if (auto t = text(n, p)) {
      if (!is_identifier(*t)) {
        add(ConfigErrc::bad_value, n, p,
            "an instance name is a letter or '_' then letters, digits or '_' (patient)");
      } else if (auto [it, inserted] = entity_ids_.emplace(*t, id); !inserted) {
        add(ConfigErrc::duplicate, n, p,
            "`" + *t + "` is already the name of " + entity_paths_[it->second]);
      }
      en.as = *t;
    }
  } else {
    missing("as", "is required: the instance name refs use (patient)");
  }
  // A group: no table, key or columns; a for_each and nested entities. It makes no row: its
  // loop scopes the nested entities (an ORC and what follows it).
  en.group = !has("table") && !has("key") && !has("columns") && has("for_each") && has("entities");
  if (has("table")) {
    auto& [n, p] = keys["table"];
    if (auto t = text(n, p)) {
      // A table, or schema.table.
      bool ok = !t->empty();
      for (std::size_t b = 0; ok && b <= t->size();) {
        const std::size_t dot = std::min(t->find('.', b), t->size());
        ok = is_identifier(std::string_view(*t).substr(b, dot - b));
        b = dot + 1;
      }
      if (ok) {
        en.table = *t;
      } else {
        add(ConfigErrc::bad_value, n, p, "'" + *t + "' is not a table name (patients)");
      }
    }
  } else {
    if (!en.group) {
      missing("table",
              "is required: the canonical table the rows go to (an entity without table, key "
              "and columns, with for_each and entities, is a group)");
    }
  }

  // The loop's own path is in the enclosing context; everything else inside the loop.
  en.frame = static_cast<std::uint8_t>(frames_.size());
  bool pushed = false;
  if (has("for_each")) {
    auto& [n, p] = keys["for_each"];
    if (auto t = text(n, p)) pushed = load_loop(*t, n, p, en);
  }

  const std::uint32_t saved_entity = current_entity_;
  current_entity_ = id;
  if (has("when")) {
    auto& [n, p] = keys["when"];
    en.when.emplace();
    if (!load_condition(n, p, *en.when)) en.when.reset();
  }
  std::set<std::string> column_names;
  if (has("columns")) {
    auto& [n, p] = keys["columns"];
    if (!n.IsMap() || n.size() == 0) {
      add(ConfigErrc::wrong_type, n, p, "must be a non-empty map of column names to values");
    } else {
      for_each_key(n, p, {},
                   [&](const std::string& column, const YAML::Node& v, const std::string& cp) {
                     if (!is_identifier(column)) {
                       add(ConfigErrc::bad_value, v, cp,
                           "a column name is a letter or '_' then letters, digits or '_'");
                       return;
                     }
                     column_names.insert(column);
                     current_column_ = en.columns.size();
                     en.columns.emplace_back();
                     if (!load_expr(v, cp, column, Place::column, en.columns.back())) {
                       // Keep the slot so pending refs keep their column index; it is never
                       // applied.
                     }
                   });
    }
  } else {
    if (!en.group) {
      missing("columns", "is required: the row's columns and where their values come from");
    }
  }
  if (has("key")) {
    auto& [key_node, key_path] = keys["key"];
    // One group of key columns: each a column of the entity, none twice.
    auto key_group = [&](const YAML::Node& n, const std::string& p,
                         std::vector<std::string>& group) {
      std::vector<std::pair<std::string, YAML::Node>> names;
      if (!texts(n, p, names)) return;
      if (names.empty()) add(ConfigErrc::bad_value, n, p, "names no column");
      for (std::size_t i = 0; i < names.size(); ++i) {
        const std::string kp = n.IsSequence() ? indexed(p, i) : p;
        const std::string& k = names[i].first;
        if (std::find(group.begin(), group.end(), k) != group.end()) {
          add(ConfigErrc::duplicate, names[i].second, kp, "column `" + k + "` is twice in the key");
          continue;
        }
        if (has("columns") && column_names.count(k) == 0) {
          add(ConfigErrc::bad_value, names[i].second, kp,
              "key column `" + k + "` is not one of the entity's columns");
        }
        group.push_back(k);
        if (std::find(en.key.begin(), en.key.end(), k) == en.key.end()) en.key.push_back(k);
      }
    };
    if (!key_node.IsMap()) {
      // `key: [a, b]`: one key, every column matching.
      std::vector<std::string> group;
      key_group(key_node, key_path, group);
    } else {
      // `key: {any: [a, [b, c]]}`: alternative keys, each a column or a list of columns.
      en.key_any = true;
      bool any_given = false;
      for_each_key(key_node, key_path, {"any"},
                   [&](const std::string&, const YAML::Node& v, const std::string& kp) {
                     any_given = true;
                     if (!v.IsSequence() || v.size() == 0) {
                       add(ConfigErrc::wrong_type, v, kp,
                           "must be a list of alternative keys (a column, or a list of columns)");
                       return;
                     }
                     std::size_t i = 0;
                     for (const auto& alternative : v) {
                       en.key_alternatives.emplace_back();
                       key_group(alternative, indexed(kp, i++), en.key_alternatives.back());
                     }
                   });
      if (!any_given && key_node.size() == 0) {  // other keys were reported as unknown
        add(ConfigErrc::missing_key, key_node, key_path + ".any",
            "is required in a key map: the alternative key columns");
      }
    }
  } else {
    if (!en.group) {
      missing("key", "is required: the natural key columns (the upsert's conflict target)");
    }
  }
  if (has("entities")) {
    auto& [n, p] = keys["entities"];
    if (!n.IsSequence() || n.size() == 0) {
      add(ConfigErrc::wrong_type, n, p, "must be a non-empty list of entities");
    } else {
      std::size_t i = 0;
      for (const auto& item : n) {
        const std::uint32_t child = load_entity(item, indexed(p, i++), id);
        if (child != kNone) en.children.push_back(child);
      }
    }
  }
  current_entity_ = saved_entity;
  if (pushed) frames_.pop_back();
  program_->entities[id] = std::move(en);
  return id;
}

// for_each: a segment id (OBX) or a repeated field (PID-3[*]); pushes the loop's frame.
bool MappingCompiler::load_loop(const std::string& t, const YAML::Node& at, const std::string& path,
                                Entity& en) {
  if (frames_.size() >= mapping_detail::kMaxLoopDepth) {
    add(ConfigErrc::bad_value, at, path,
        "loops nest at most " + std::to_string(mapping_detail::kMaxLoopDepth) + " deep");
    return false;
  }
  auto parsed = hl7v2::Path::parse(t);
  if (!parsed) {
    add(ConfigErrc::bad_value, at, path,
        "'" + t + "' is neither a segment id (OBX) nor a repeated field (PID-3[*])");
    return false;
  }
  if (parsed->field == hl7v2::Path::kUnset) {
    if (parsed->occurrence != 1 && parsed->occurrence != hl7v2::Path::kAll) {
      add(ConfigErrc::bad_value, at, path,
          "'" + t + "' names one occurrence; for_each takes a segment id (OBX) for every one");
      return false;
    }
    en.loop = Entity::Loop::segments;
    en.loop_segment = parsed->segment;
    frames_.push_back({true, parsed->segment});
    return true;
  }
  if (parsed->repetition != hl7v2::Path::kAll || parsed->component != hl7v2::Path::kUnset ||
      parsed->occurrence == hl7v2::Path::kAll) {
    add(ConfigErrc::bad_value, at, path,
        "'" + t + "': for_each takes a segment id (OBX) or a field's repetitions (PID-3[*])");
    return false;
  }
  if (!compile_path(t, at, path, true, en.loop_path)) return false;
  en.loop = Entity::Loop::repetitions;
  frames_.push_back({false, {}});
  return true;
}

bool MappingCompiler::is_ancestor(std::uint32_t ancestor, std::uint32_t of) const {
  for (std::uint32_t e = program_->entities[of].parent; e != kNone;
       e = program_->entities[e].parent) {
    if (e == ancestor) return true;
  }
  return false;
}

// Refs name an entity that is the referrer's ancestor, or a sibling of it or of an ancestor
// (one instance per instance of their common parent). Records the sibling dependencies.
void MappingCompiler::resolve_refs() {
  for (const PendingRef& r : refs_) {
    auto it = entity_ids_.find(r.name);
    if (it == entity_ids_.end()) {
      std::string known;
      for (const auto& [name, id] : entity_ids_)
        known.append(known.empty() ? "" : ", ").append(name);
      errors_.push_back({ConfigErrc::unknown_id, r.at, r.key,
                         "no entity is named `" + r.name + "` (entities: " + known + ")"});
      continue;
    }
    const std::uint32_t target = it->second;
    if (program_->entities[target].group) {
      errors_.push_back({ConfigErrc::bad_value, r.at, r.key,
                         "`" + r.name + "` is a group: it makes no row to refer to"});
      continue;
    }
    if (target == r.entity) {
      errors_.push_back({ConfigErrc::bad_value, r.at, r.key, "an entity cannot refer to itself"});
      continue;
    }
    Expr& column = program_->entities[r.entity].columns[r.column];
    column.ref = target;
    if (is_ancestor(target, r.entity)) continue;  // the enclosing instance
    const std::uint32_t parent = program_->entities[target].parent;
    std::uint32_t a = r.entity;
    while (a != kNone && program_->entities[a].parent != parent) a = program_->entities[a].parent;
    if (a == kNone) {
      errors_.push_back({ConfigErrc::bad_value, r.at, r.key,
                         "`" + r.name + "` (" + entity_paths_[target] +
                             ") is not visible here: refer to an enclosing entity or to one "
                             "beside this entity or an enclosing one"});
      continue;
    }
    if (program_->entities[target].loop != Entity::Loop::none) {
      errors_.push_back({ConfigErrc::bad_value, r.at, r.key,
                         "`" + r.name +
                             "` makes one row per for_each iteration, so a ref to it from "
                             "outside is ambiguous; nest this entity inside it"});
      continue;
    }
    depends_[a].insert(target);
  }
}

// Orders siblings so that each comes after the siblings it (or something nested in it) refers
// to; otherwise file order. A cycle is an error.
void MappingCompiler::order_siblings(std::vector<std::uint32_t>& ids,
                                     const std::string& where_name) {
  std::vector<std::uint32_t> ordered;
  std::set<std::uint32_t> placed;
  std::vector<std::uint32_t> pending = ids;
  while (!pending.empty()) {
    bool progress = false;
    for (auto it = pending.begin(); it != pending.end();) {
      bool ready = true;
      for (std::uint32_t dep : depends_[*it]) {
        if (placed.count(dep) == 0 &&
            std::find(pending.begin(), pending.end(), dep) != pending.end()) {
          ready = false;
        }
      }
      if (ready) {
        ordered.push_back(*it);
        placed.insert(*it);
        it = pending.erase(it);
        progress = true;
        break;  // restart: keep file order among the ready ones
      }
      ++it;
    }
    if (!progress) {
      const std::uint32_t first = pending.front();
      add(
          ConfigErrc::bad_value, entity_nodes_[first], entity_paths_[first],
          "refs between the entities of " + where_name + " go round in a circle: " + [&] {
            std::string names;
            for (std::uint32_t p : pending) {
              names.append(names.empty() ? "" : ", ").append(program_->entities[p].as);
            }
            return names;
          }());
      for (std::uint32_t p : pending) ordered.push_back(p);
      break;
    }
  }
  ids = std::move(ordered);
}

MappingLoad parse_mapping(std::string_view yaml, const std::string& file) {
  return MappingCompiler(file).run(yaml);
}

MappingLoad read_mapping(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::error_code ec;
  if (!in || std::filesystem::is_directory(file, ec)) {
    MappingLoad out;
    out.errors.push_back({ConfigErrc::unreadable, {file.string(), 0, 0}, "", "cannot read file"});
    return out;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_mapping(text.str(), file.string());
}

Result<Mapping> load_mapping(const std::filesystem::path& file) {
  MappingLoad loaded = read_mapping(file);
  if (!loaded.ok()) return loaded.to_error();
  return std::move(*loaded.mapping);
}

Result<Mapping> load_mapping_text(std::string_view yaml, const std::string& name) {
  MappingLoad loaded = parse_mapping(yaml, name);
  if (!loaded.ok()) return loaded.to_error();
  return std::move(*loaded.mapping);
}

}  // namespace hims::engine

// What the two YAML loaders share, the configuration's (config.cpp) and the mapping files'
// (mapping_compiler.hpp): a node's kind in words, list keys, where a node is, and the walk over a
// map that reports non-maps, repeated keys and unknown keys. Pure; thread-safe.
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/config.hpp"

namespace hims::engine::yaml_reader {

// "a value", "a list", "a map" or "nothing": what a problem says was found.
inline std::string node_kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return "a value";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "nothing";
  }
  return "nothing";
}

// "routes[2]"
inline std::string indexed(std::string_view path, std::size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

// "a, b, c"
inline std::string join(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out.append(", ");
    out.append(n);
  }
  return out;
}

// 1-based line and column of a mark in `file`; 0 when yaml-cpp has none.
inline Location location(const std::string& file, const YAML::Mark& mark) {
  if (mark.is_null()) return {file, 0, 0};
  return {file, mark.line + 1, mark.column + 1};
}

// Walks the entries of the map `node` at key path `path`: a non-map, a key seen twice and a key
// not in `allowed` (empty: any key) go to add(code, node, key path, detail); each other entry to
// each(key, value, key path). False when `node` is not a map.
template <class Add, class Each>
bool for_each_key(const YAML::Node& node, const std::string& path,
                  const std::vector<std::string_view>& allowed, Add&& add, Each&& each) {
  if (!node.IsMap()) {
    add(ConfigErrc::wrong_type, node, path, "must be a map, not " + node_kind(node));
    return false;
  }
  std::set<std::string> seen;
  for (const auto& entry : node) {
    const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : std::string("?");
    const std::string child = path.empty() ? key : path + "." + key;
    if (!seen.insert(key).second) {
      add(ConfigErrc::duplicate, entry.first, child, "the key appears twice in this map");
      continue;
    }
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      add(ConfigErrc::unknown_key, entry.first, child,
          "unknown key (expected one of: " + join(allowed) + ")");
      continue;
    }
    each(key, entry.second, child);
  }
  return true;
}

}  // namespace hims::engine::yaml_reader

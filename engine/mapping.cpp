// Mapping's small public pieces: names of codes and kinds, the JSON form of mapped rows, and
// the Mapping handle over its compiled program (loader: mapping_load.cpp, interpreter:
// mapping_apply.cpp).
#include "engine/mapping.hpp"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <map>

#include "engine/mapping_program.hpp"

namespace hims::engine {

std::string_view to_string(MappingErrc code) {
  switch (code) {
    case MappingErrc::missing_value:
      return "missing_value";
    case MappingErrc::bad_value:
      return "bad_value";
    case MappingErrc::unknown_code:
      return "unknown_code";
    case MappingErrc::bad_mapping:
      return "bad_mapping";
  }
  return "unknown";
}

std::string_view to_string(MappedValue::Kind kind) {
  switch (kind) {
    case MappedValue::Kind::null:
      return "null";
    case MappedValue::Kind::text:
      return "text";
    case MappedValue::Kind::integer:
      return "integer";
    case MappedValue::Kind::decimal:
      return "decimal";
    case MappedValue::Kind::boolean:
      return "boolean";
    case MappedValue::Kind::date:
      return "date";
    case MappedValue::Kind::timestamp:
      return "timestamp";
    case MappedValue::Kind::json:
      return "json";
    case MappedValue::Kind::ref:
      return "ref";
  }
  return "unknown";
}

const MappedValue* MappedRow::find(std::string_view column) const {
  for (const auto& [name, value] : columns) {
    if (name == column) return &value;
  }
  return nullptr;
}

namespace {

template <class Writer>
void write_rows(Writer& w, const MappedMessage& message) {
  // "<as>#<n>": the n-th row (from 0) with that `as`.
  std::vector<std::string> ids;
  ids.reserve(message.rows.size());
  std::map<std::string_view, std::size_t> seen;
  for (const MappedRow& row : message.rows) {
    ids.push_back(std::string(row.as) + "#" + std::to_string(seen[row.as]++));
  }
  auto str = [&](std::string_view s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartObject();
  str("mapping");
  str(message.mapping);
  str("rows");
  w.StartArray();
  for (std::size_t i = 0; i < message.rows.size(); ++i) {
    const MappedRow& row = message.rows[i];
    w.StartObject();
    str("id");
    str(ids[i]);
    str("table");
    str(row.table);
    str("as");
    str(row.as);
    str("key");
    w.StartArray();
    for (const std::string& k : row.key) str(k);
    w.EndArray();
    if (row.key_any) {
      str("key_any");
      w.StartArray();
      for (const std::vector<std::string>& alternative : row.key_alternatives) {
        w.StartArray();
        for (const std::string& k : alternative) str(k);
        w.EndArray();
      }
      w.EndArray();
    }
    if (!row.insert_only.empty()) {
      str("insert_only");
      w.StartArray();
      for (std::string_view c : row.insert_only) str(c);
      w.EndArray();
    }
    str("rule");
    str(row.rule);
    str("columns");
    w.StartObject();
    for (const auto& [name, v] : row.columns) {
      str(name);
      switch (v.kind) {
        case MappedValue::Kind::null:
          w.Null();
          break;
        case MappedValue::Kind::integer:
          w.Int64(v.integer);
          break;
        case MappedValue::Kind::boolean:
          w.Bool(v.integer != 0);
          break;
        case MappedValue::Kind::json:
          w.RawValue(v.text.data(), v.text.size(), rapidjson::kObjectType);
          break;
        case MappedValue::Kind::ref: {
          w.StartObject();
          str("ref");
          const auto target = static_cast<std::size_t>(v.integer);
          str(target < ids.size() ? std::string_view(ids[target]) : std::string_view("?"));
          w.EndObject();
          break;
        }
        default:
          str(v.text);
          break;
      }
    }
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

}  // namespace

std::string to_json(const MappedMessage& message, bool pretty) {
  rapidjson::StringBuffer buffer;
  if (pretty) {
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buffer);
    w.SetIndent(' ', 2);
    write_rows(w, message);
  } else {
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    write_rows(w, message);
  }
  return std::string(buffer.GetString(), buffer.GetSize());
}

const std::string& Mapping::name() const { return program_->name; }
const std::string& Mapping::file() const { return program_->file; }

std::vector<MappingTarget> Mapping::targets() const {
  std::vector<MappingTarget> out;
  out.reserve(program_->entities.size());
  for (const mapping_detail::Entity& en : program_->entities) {
    if (en.group) continue;  // writes nothing
    MappingTarget& t = out.emplace_back();
    t.as = en.as;
    t.table = en.table;
    t.rule = en.rule;
    t.key = en.key;
    for (const mapping_detail::Expr& column : en.columns) t.columns.push_back(column.name);
  }
  return out;
}

bool Mapping::accepts(std::string_view message_code, std::string_view trigger_event) const {
  return std::any_of(
      program_->messages.begin(), program_->messages.end(),
      [&](const MessagePattern& p) { return p.matches(message_code, trigger_event); });
}

Result<MappedMessage> Mapping::apply(const hl7v2::MessageView& message) const {
  return mapping_detail::apply_program(program_, message);
}

Error MappingLoad::to_error() const {
  if (errors.empty()) return Error(MappingErrc::bad_mapping, "", "no problem");
  const ConfigError& first = errors.front();
  std::string where = first.where.file;
  if (first.where.line > 0) where.append(":").append(std::to_string(first.where.line));
  if (first.where.column > 0) where.append(":").append(std::to_string(first.where.column));
  if (!first.key.empty()) where.append(" ").append(first.key);
  std::string detail = first.detail;
  for (std::size_t i = 1; i < errors.size(); ++i) detail.append("\n").append(errors[i].to_string());
  return Error(MappingErrc::bad_mapping, std::move(where), std::move(detail));
}

}  // namespace hims::engine

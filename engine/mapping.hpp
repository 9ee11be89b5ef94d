// The mapping language's interpreter (HL7 v2 -> canonical rows): a YAML mapping file compiled once
// into an immutable Mapping (every load problem collected with file:line:column and key path),
// then applied to parsed messages. A Mapping is immutable and cheap to copy (shared); apply() is
// const and safe to call from many threads at once. The language: docs/mappings.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/config.hpp"
#include "engine/result.hpp"
#include "hl7v2/message.hpp"

namespace hims::engine {

// Why applying a mapping to a message failed (the message goes to `errored` with the text).
enum class MappingErrc : std::uint8_t {
  missing_value,  // a required column is absent (or refers to an entity that made no row)
  bad_value,      // a value does not fit the column's type (date, timestamp, int, decimal, bool)
  unknown_code,   // a code a strict code table does not have
  bad_mapping,    // load_mapping(): the file has problems (each one in the detail)
};
constexpr ErrorDomain error_domain(MappingErrc) { return ErrorDomain::engine; }
std::string_view to_string(MappingErrc code);

// One column value of a canonical row.
struct MappedValue {
  enum class Kind : std::uint8_t {
    null,       // SQL NULL (HL7's explicit null "", or a literal/default null)
    text,       // text
    integer,    // integer
    decimal,    // text: the number exactly as sent ("5.50", "-0.1")
    boolean,    // integer: 0 or 1
    date,       // text: "YYYY-MM-DD"
    timestamp,  // text: "YYYY-MM-DDTHH:MM:SS[.ffffff]Z", UTC
    json,       // text: a JSON object
    ref,        // integer: the index in MappedMessage::rows of the row referred to
  };
  Kind kind = Kind::null;
  std::string text;
  std::int64_t integer = 0;

  static MappedValue null_value() { return {}; }
  static MappedValue of(Kind kind, std::string text) { return {kind, std::move(text), 0}; }
  static MappedValue of_integer(std::int64_t v) { return {Kind::integer, {}, v}; }
  static MappedValue of_bool(bool v) { return {Kind::boolean, {}, v ? 1 : 0}; }
  static MappedValue of_ref(std::size_t row) {
    return {Kind::ref, {}, static_cast<std::int64_t>(row)};
  }
  bool operator==(const MappedValue&) const = default;
};
std::string_view to_string(MappedValue::Kind kind);

// One canonical row. The names (as, table, key, column names, rule) are views into the Mapping,
// which the MappedMessage holding this row keeps alive.
struct MappedRow {
  std::string_view as;     // the entity's instance name ("patient")
  std::string_view table;  // "patients"
  // The natural key columns: a stored row with the same values in all of them is this row; with
  // key_any (`key: {any: [a, [b, c]]}`), a stored row equal in every column of the first
  // alternative whose columns are all present is (key then lists every column once).
  std::span<const std::string> key;
  bool key_any = false;
  std::span<const std::vector<std::string>> key_alternatives;
  std::vector<std::pair<std::string_view, MappedValue>> columns;  // absent columns left out
  // Columns whose value is their `insert_default`: written when the row is new, never over a
  // stored value.
  std::vector<std::string_view> insert_only;
  std::string_view rule;  // where the entity is: "mappings/x.yaml:12"

  // The column's value, or nullptr when it is absent.
  const MappedValue* find(std::string_view column) const;
};

// The rows one message maps to. A row referred to comes before every row referring to it.
struct MappedMessage {
  std::string_view mapping;  // the mapping's name
  std::vector<MappedRow> rows;
  std::shared_ptr<const void> owner;  // the mapping's compiled program: keeps the views valid
};

// The canonical timestamp text of a UTC time: YYYY-MM-DDTHH:MM:SS[.ffffff]Z (six fraction digits
// when asked). Mapped timestamps and the canonical writer's own times are written with it.
std::string utc_timestamp_text(std::chrono::sys_time<std::chrono::microseconds> t,
                               bool with_fraction);

// JSON for `hims-engine map`: {"mapping": ..., "rows": [{"id": "patient#0", "table", "as",
// "key", "rule", "columns": {...}}]}; a ref is {"ref": "<as>#<n>"} (the n-th row of that as,
// from 0), decimals, dates and timestamps are strings, json columns are objects.
std::string to_json(const MappedMessage& message, bool pretty = true);

// What one entity of a mapping writes (Mapping::targets): checked against the store's tables.
struct MappingTarget {
  std::string_view as;
  std::string_view table;
  std::string_view rule;  // "file:line" of the entity
  std::span<const std::string> key;
  std::vector<std::string_view> columns;
};

namespace mapping_detail {
struct Program;
}

class Mapping {
 public:
  const std::string& name() const;
  const std::string& file() const;
  // Whether MSH-9.1 / MSH-9.2 match one of the `messages` patterns (ADT^A0*, *).
  bool accepts(std::string_view message_code, std::string_view trigger_event) const;
  bool accepts(const hl7v2::MessageView& message) const {
    return accepts(message.message_code(), message.trigger_event());
  }
  // Every entity, in file order (views into this Mapping).
  std::vector<MappingTarget> targets() const;
  // The canonical rows of one message. Errors name the rule (file:line, entity, column) and the
  // message position ("OBX[3]-5"), never a field's value.
  Result<MappedMessage> apply(const hl7v2::MessageView& message) const;

 private:
  friend class MappingCompiler;
  explicit Mapping(std::shared_ptr<const mapping_detail::Program> program)
      : program_(std::move(program)) {}
  std::shared_ptr<const mapping_detail::Program> program_;
};

// A mapping and every problem found loading it; `mapping` is set only when `errors` is empty.
struct MappingLoad {
  std::optional<Mapping> mapping;
  std::vector<ConfigError> errors;  // in file order; an included table file names itself
  bool ok() const { return errors.empty(); }
  // One Error (MappingErrc::bad_mapping) whose detail lists every problem, one per line.
  Error to_error() const;
};

// Parses mapping YAML; `file` names it in errors and is where `include:` paths start from.
MappingLoad parse_mapping(std::string_view yaml, const std::string& file);
MappingLoad read_mapping(const std::filesystem::path& file);

[[nodiscard]] Result<Mapping> load_mapping(const std::filesystem::path& file);
[[nodiscard]] Result<Mapping> load_mapping_text(std::string_view yaml, const std::string& name);

}  // namespace hims::engine

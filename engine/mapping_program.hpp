// Internal to the mapping interpreter (mapping_load.cpp builds it, mapping_apply.cpp runs it):
// a mapping file compiled to paths, literals and entity trees resolved at load, so that apply()
// only walks the message. Immutable once built; shared by every copy of a Mapping.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/mapping.hpp"
#include "engine/router.hpp"
#include "hl7v2/path.hpp"

namespace hims::engine::mapping_detail {

inline constexpr std::size_t kMaxLoopDepth = 8;  // nested for_each levels

enum class ValueType : std::uint8_t { text, integer, decimal, boolean, date, timestamp, json };
enum class Transform : std::uint8_t { trim, upper, lower };

// A path resolved against the loops around it.
struct PathExpr {
  enum class Anchor : std::uint8_t {
    message,     // the whole message: the segment's first occurrence (or the one indexed)
    segment,     // loop frame `frame`'s current segment (the loop's own segment id)
    repetition,  // loop frame `frame`'s current repetition (".1", ".4.1")
  };
  Anchor anchor = Anchor::message;
  std::uint8_t frame = 0;
  hl7v2::Path path;   // for `repetition`: only component and sub-component are set
  std::string text;   // as written, for errors
  bool many = false;  // [*]: only with join, or as a for_each
  // A message-anchored path inside segment loops: the segment is looked up in the group of loop
  // frame `frame` (its current segment up to its next occurrence), then of the enclosing segment
  // loops, then in the whole message.
  bool scoped = false;
};

struct CodeTable {
  struct Entry {
    std::string code;
    std::string value;  // as written
    bool null = false;  // `~` / null
  };
  std::string name;
  std::vector<Entry> entries;     // sorted by code
  std::optional<Entry> fallback;  // `default:`
  bool strict = false;
};

struct Condition {
  enum class Op : std::uint8_t {
    equals,
    not_equals,
    in,
    exists,
    not_exists,
    matches,
    all,
    any,
    not_
  };
  Op op = Op::exists;
  PathExpr path;
  std::vector<std::string> values;  // equals, not_equals (one), in
  GlobPattern pattern;              // matches
  std::vector<Condition> children;  // all, any, not
};

// A value: a column, a json member or a concat part.
struct Expr {
  enum class Source : std::uint8_t { path, literal, concat, first, json, ref };
  Source source = Source::path;
  std::string name;                      // "date_of_birth", "address.city": for errors
  std::string rule;                      // "file:line" of the spec
  PathExpr path;                         // path
  std::optional<std::string> join;       // path with [*]: the separator
  MappedValue literal;                   // literal (typed at load)
  std::vector<Expr> parts;               // concat and first parts, json members
  std::vector<std::string> member_keys;  // json: "\"key\":" escaped
  std::uint32_t ref = 0;                 // ref: the entity id
  ValueType type = ValueType::text;
  std::vector<Transform> transforms;
  const CodeTable* table = nullptr;
  std::vector<MappedValue> code_values;        // aligned with table->entries, typed
  std::optional<MappedValue> code_default;     // the table's default, typed
  std::optional<MappedValue> fallback;         // `default:` (typed)
  std::optional<MappedValue> insert_fallback;  // `insert_default:` (typed): only for a new row
  bool required = false;
  std::optional<Condition> when;
};

struct Entity {
  enum class Loop : std::uint8_t { none, segments, repetitions };
  std::string as;
  std::string table;
  std::vector<std::string> key;
  bool group = false;    // no table, key or columns: a loop that makes no row
  bool key_any = false;  // `key: {any: [...]}`: alternative keys
  std::vector<std::vector<std::string>> key_alternatives;  // key_any: each alternative's columns
  std::string rule;                                        // "file:line"
  Loop loop = Loop::none;
  std::string loop_segment;  // segments
  PathExpr loop_path;        // repetitions: SEG-F[*]
  std::uint8_t frame = 0;    // the frame this loop fills
  std::optional<Condition> when;
  std::vector<Expr> columns;
  std::vector<std::uint32_t> children;  // nested entities, in evaluation order
  std::uint32_t parent = 0xFFFFFFFFu;
};

struct Program {
  std::string name;
  std::string file;
  int default_offset_minutes = 0;
  std::vector<MessagePattern> messages;
  std::vector<std::unique_ptr<CodeTable>> tables;  // stable addresses
  std::vector<Entity> entities;
  std::vector<std::uint32_t> roots;  // top-level entities, in evaluation order
};

// Runs a compiled program (mapping_apply.cpp).
Result<MappedMessage> apply_program(const std::shared_ptr<const Program>& program,
                                    const hl7v2::MessageView& message);

// Converts text to `type` (int, decimal, bool, date, timestamp; text as is); "" when it fits,
// else what is expected. Used for literals at load and values at apply.
std::string convert(std::string_view text, ValueType type, int default_offset_minutes,
                    MappedValue& out);

}  // namespace hims::engine::mapping_detail

// The canonical writer (DESIGN.md 5.2 and 6): puts the rows a mapping made of one message into the
// canonical HIMS tables, inside the caller's open transaction, so they commit together with the
// message's journal state change.
//
// Each row is an idempotent upsert on its natural key (MappedRow::key): inserted when no stored
// row has the key, else its present columns are updated, and only when one of them differs.
// Absent columns are never written. Every row created, changed or merged gets a domain_events
// row (event_type created / updated / merged, entity_type = the table, correlation_id = the
// journal id, causation_id = the event of the row it refers to, when that one changed too), so a
// replay of the same message writes nothing and emits nothing. A patients row carrying
// merged_into_id (ADT A40) is marked merged (is_active false, merged_at) and the rows referring
// to it move to the survivor. docs/canonical-writer.md has the rules.
//
// One writer per Store (it is used on that store's thread); not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/mapping.hpp"
#include "engine/result.hpp"
#include "engine/store.hpp"

namespace hims::engine {

enum class CanonicalErrc : std::uint8_t {
  no_key,        // a row has no value in any of its natural key columns
  conflict,      // the row collides with a stored row on a unique column that is not its key
  write_failed,  // the database refused a row (NOT NULL, CHECK, foreign key, type)
  bad_mapping,   // the mapping names tables or columns the schema does not have
};
constexpr ErrorDomain error_domain(CanonicalErrc) { return ErrorDomain::engine; }
std::string_view to_string(CanonicalErrc code);

// What one write did, row by row.
struct CanonicalWriteStats {
  std::uint32_t created = 0;
  std::uint32_t updated = 0;
  std::uint32_t unchanged = 0;
  std::uint32_t merged = 0;  // patients marked merged
  std::uint32_t moved = 0;   // rows moved to a surviving patient
  std::uint32_t kept = 0;    // rows left on the merged patient (the survivor had the same key)
  std::uint32_t events = 0;  // domain_events rows

  CanonicalWriteStats& operator+=(const CanonicalWriteStats& o) {
    created += o.created;
    updated += o.updated;
    unchanged += o.unchanged;
    merged += o.merged;
    moved += o.moved;
    kept += o.kept;
    events += o.events;
    return *this;
  }
};

class CanonicalWriter {
 public:
  // Reads the store's catalog: the columns of every table and the references to patients.
  static Result<CanonicalWriter> open(store::Store& store);

  // The problems of a mapping against this schema, one line each ("rule entity: problem"):
  // unknown tables and columns, the columns the writer sets itself (id, created_at, updated_at,
  // source_message_id, merged_at) and generated columns. Empty: it can be written.
  std::vector<std::string> check(const Mapping& mapping) const;
  // check() as one error (CanonicalErrc::bad_mapping), or ok.
  Status check_error(const Mapping& mapping) const;

  // Writes the rows in the store's open transaction, under a savepoint: on an error nothing of
  // this message stays and the transaction can go on (the caller records the message errored
  // with the error's text, which names the rule and the table, never a value). `journal_id` is
  // the rows' source_message_id and the events' correlation_id; 0: none (NULL).
  Result<CanonicalWriteStats> write(store::Store& store, const MappedMessage& message,
                                    store::JournalId journal_id, store::TimePoint at);

 private:
  struct Table {
    std::set<std::string, std::less<>> columns;
    std::set<std::string, std::less<>> generated;
    std::set<std::string, std::less<>> required;  // NOT NULL without a default
    bool has_source_message_id = false;
    bool has_updated_at = false;
  };
  CanonicalWriter() = default;

  std::map<std::string, Table, std::less<>> tables_;
  // (table, column) of every reference to patients(id) that moves on a merge (audit trails stay).
  std::vector<std::pair<std::string, std::string>> patient_refs_;
  // The ids of new rows and events (next_id: uuid version 7, ascending).
  std::string next_id();
  std::mt19937_64 random_{std::random_device{}()};
  std::uint64_t last_ms_ = 0;
  std::uint32_t counter_ = 0;

  friend class CanonicalWrite;
};

}  // namespace hims::engine

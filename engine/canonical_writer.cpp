#include "engine/canonical_writer.hpp"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdio>
#include <deque>
#include <optional>

#include "engine/log.hpp"
#include "engine/store_driver.hpp"

namespace hims::engine {

std::string_view to_string(CanonicalErrc code) {
  switch (code) {
    case CanonicalErrc::no_key:
      return "no_key";
    case CanonicalErrc::conflict:
      return "conflict";
    case CanonicalErrc::write_failed:
      return "write_failed";
    case CanonicalErrc::bad_mapping:
      return "bad_mapping";
  }
  return "unknown";
}

namespace {

using store::Dialect;
using store::Param;

// Columns the writer fills itself; a mapping may not name them.
constexpr std::string_view kOwnColumns[] = {"id", "created_at", "updated_at", "source_message_id",
                                            "merged_at"};
// Audit trails record what happened to the record as it was: a merge does not rewrite them.
constexpr std::string_view kAuditTables[] = {"audit_log", "data_access_logs"};

void quote(std::string& sql, std::string_view name) {
  sql.push_back('"');
  sql.append(name);
  sql.push_back('"');
}

void placeholder(std::string& sql, std::size_t n) {
  sql.push_back('$');
  sql.append(std::to_string(n));
}

// A store error that running the transaction again may cure: a lock wait given up, a deadlock or
// a serialization failure (StoreErrc::busy), a lost connection. It is passed on as it is, so the
// processor fails the batch and tries it again, instead of making the message `errored`.
bool transient(const Error& e) {
  return e.is(store::StoreErrc::busy) || e.is(store::StoreErrc::cannot_open);
}

// A mapped timestamp ("...SS[.f+]Z") with exactly six fraction digits.
std::string six_digit_fraction(std::string_view ts) {
  std::string out(ts.substr(0, 19));
  std::string digits;
  if (ts.size() > 20 && ts[19] == '.') {
    for (std::size_t i = 20; i < ts.size() && ts[i] != 'Z'; ++i) digits.push_back(ts[i]);
  }
  digits.resize(6, '0');
  out.append(".").append(digits).append("Z");
  return out;
}

}  // namespace

// A version 7 uuid (RFC 9562): the Unix time in milliseconds, then a 12-bit counter that keeps
// the ids of one writer ascending within a millisecond, then 62 random bits. Ascending ids go
// to the right edge of the primary key indexes (few pages touched per commit, on both stores),
// where random ones would dirty a random page of every table's index for each row.
std::string CanonicalWriter::next_id() {
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  std::uint64_t ms = static_cast<std::uint64_t>(now);
  if (ms <= last_ms_) {  // same millisecond (or the clock went back): count on
    ms = last_ms_;
    if (++counter_ > 0xFFF) {
      ++ms;
      counter_ = 0;
    }
  } else {
    counter_ = 0;
  }
  last_ms_ = ms;
  const std::uint64_t high = (ms << 16) | 0x7000u | counter_;
  const std::uint64_t low = (random_() & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(high >> 32),
                static_cast<unsigned>((high >> 16) & 0xFFFF), static_cast<unsigned>(high & 0xFFFF),
                static_cast<unsigned>(low >> 48),
                static_cast<unsigned long long>(low & 0xFFFFFFFFFFFFull));
  return buf;
}

// One message's write: the rows' ids and events, the parameters' text storage.
class CanonicalWrite {
 public:
  CanonicalWrite(CanonicalWriter& writer, store::Store& store, const MappedMessage& message,
                 store::JournalId journal_id, store::TimePoint at)
      : w_(writer),
        store_(store),
        message_(message),
        journal_id_(journal_id),
        dialect_(store.dialect()),
        // Six fraction digits always: on SQLite, text order is time order.
        at_(utc_timestamp_text(std::chrono::floor<std::chrono::microseconds>(at), true)) {}

  Result<CanonicalWriteStats> run() {
    const std::size_t n = message_.rows.size();
    ids_.assign(n, {});
    events_.assign(n, {});
    find_rewritten();
    prepared_.assign(n, {});
    for (std::size_t i = 0; i < n; ++i) {
      if (Status s = prepare(i, prepared_[i]); !s.ok()) return s.take_error();
    }
    for (std::size_t i = 0; i < n;) {
      const std::size_t end = run_end(i);  // rows of one shape share an INSERT
      Status s = end - i > 1 ? insert(i, end) : row(i);
      if (!s.ok()) return s.take_error();
      i = end;
    }
    if (Status s = insert_events(); !s.ok()) return s.take_error();
    return stats_;
  }

 private:
  struct Event {
    std::string id;
    std::string type;
    std::string_view table;
    std::string entity_id;
    std::string causation;
    std::string payload;
  };

  std::string where(const MappedRow& r) const {
    return std::string(r.rule) + " " + std::string(r.as) + " (" + std::string(r.table) + ")";
  }

  // A store error while writing the message's rows (`what`: "row", "events" at `place`): passed
  // on as it is when it is transient, else the message's refusal.
  static Error refused(std::string place, std::string_view what, const Error& e) {
    if (transient(e)) return e;
    return Error(CanonicalErrc::write_failed, std::move(place),
                 "the store refused the " + std::string(what) + ": " + e.detail());
  }
  Error refused(const MappedRow& r, const Error& e) const { return refused(where(r), "row", e); }

  // The parameter of a value (a text it makes lives in texts_ until the message is written).
  Param param(const MappedValue& v) {
    switch (v.kind) {
      case MappedValue::Kind::null:
        return Param::null();
      case MappedValue::Kind::integer:
        return Param::of(v.integer);
      case MappedValue::Kind::boolean:
        if (dialect_ == Dialect::sqlite) return Param::of(v.integer);
        return Param::text(v.integer != 0 ? "true" : "false");
      case MappedValue::Kind::timestamp:
        if (dialect_ == Dialect::sqlite) {
          return Param::text(texts_.emplace_back(six_digit_fraction(v.text)));
        }
        return Param::text(v.text);
      case MappedValue::Kind::ref:
        return Param::text(ids_[static_cast<std::size_t>(v.integer)]);
      default:
        return Param::text(v.text);
    }
  }

  using Column = std::pair<std::string_view, MappedValue>;
  using Columns = std::vector<const Column*>;

  // Whether every column of `key` has a value among `present`.
  static bool complete_in(const std::vector<std::string>& key, const Columns& present) {
    return std::all_of(key.begin(), key.end(), [&](const std::string& k) {
      return std::any_of(present.begin(), present.end(),
                         [&](const Column* c) { return c->first == k; });
    });
  }

  static bool is_null(const MappedValue& v) { return v.kind == MappedValue::Kind::null; }

  // source_message_id and correlation_id: NULL without a journal entry (`map --store`).
  Param journal_param() const { return journal_id_ > 0 ? Param::of(journal_id_) : Param::null(); }

  // What writing row `index` needs, checked before anything of the message is written: its
  // table, the columns it writes, its key values (no_key when it has none).
  struct Prepared {
    const CanonicalWriter::Table* table = nullptr;
    const MappedValue* merged_into = nullptr;  // a patient merged into another (ADT A40)
    Columns columns;                           // every present one, merged_into_id aside
    Columns key_present;                       // key values present and not null, in key order
    bool complete = false;  // every NOT NULL column without a default is there (insert first)
  };

  Status prepare(std::size_t index, Prepared& p) const {
    const MappedRow& r = message_.rows[index];
    auto table_it = w_.tables_.find(r.table);
    if (table_it == w_.tables_.end()) {
      return Error(CanonicalErrc::bad_mapping, where(r), "the store has no such table");
    }
    p.table = &table_it->second;
    if (r.table == "patients") {
      p.merged_into = r.find("merged_into_id");
      if (p.merged_into != nullptr && p.merged_into->kind != MappedValue::Kind::ref) {
        p.merged_into = nullptr;
      }
    }
    for (const auto& c : r.columns) {
      if (p.merged_into != nullptr && c.first == "merged_into_id") continue;
      p.columns.push_back(&c);
    }
    for (const std::string& k : r.key) {
      for (const auto* c : p.columns) {
        if (c->first == k && !is_null(c->second)) p.key_present.push_back(c);
      }
    }
    const bool keyed =
        r.key_any ? std::any_of(r.key_alternatives.begin(), r.key_alternatives.end(),
                                [&](const auto& alt) { return complete_in(alt, p.key_present); })
                  : !p.key_present.empty();
    if (!keyed) {
      std::string names;
      for (const std::string& k : r.key) names.append(names.empty() ? "" : ", ").append(k);
      return Error(CanonicalErrc::no_key, where(r),
                   std::string(r.key_any ? "no alternative key of the row is complete ("
                                         : "the row has no value in its natural key (") +
                       names + ")");
    }
    p.complete = std::all_of(
        p.table->required.begin(), p.table->required.end(), [&](const std::string& needed) {
          return std::any_of(p.columns.begin(), p.columns.end(),
                             [&](const auto* c) { return c->first == needed; });
        });
    return {};
  }

  // Rows from `begin` on that one multi-row INSERT can take: the same table and columns (in the
  // same order), each complete, not a merge, not written again later in the message, and none
  // referring to a row of the run. Returns the end of the run.
  std::size_t run_end(std::size_t begin) const {
    const auto batchable = [&](std::size_t k) {
      return prepared_[k].complete && prepared_[k].merged_into == nullptr && rewritten_[k].empty();
    };
    if (!batchable(begin)) return begin + 1;
    const MappedRow& first = message_.rows[begin];
    std::size_t end = begin + 1;
    for (; end < message_.rows.size() && batchable(end); ++end) {
      const MappedRow& r = message_.rows[end];
      if (r.table != first.table || r.columns.size() != first.columns.size()) break;
      bool same = true;
      for (std::size_t c = 0; same && c < r.columns.size(); ++c) {
        same = r.columns[c].first == first.columns[c].first &&
               !(r.columns[c].second.kind == MappedValue::Kind::ref &&
                 static_cast<std::size_t>(r.columns[c].second.integer) >= begin);
      }
      if (!same) break;
    }
    return end;
  }

  // A row that looks up first (it lacks a column an insert needs: a reference to a record other
  // messages create, carrying only its key), else a run of one.
  Status row(std::size_t index) {
    const Prepared& p = prepared_[index];
    if (!p.complete) {
      if (Status s = find(index); !s.ok()) return s;
      if (!ids_[index].empty()) return update(index);
    }
    return insert(index, index + 1);
  }

  // Rows [begin, end): one row, or a run of rows of one shape (run_end). One INSERT ... ON
  // CONFLICT DO NOTHING per chunk of a power of two rows, up to 64 (18 rows: 16 and 2), so each
  // shape has at most 7 statement texts. (Padding a run to a power of two by repeating its last
  // row cost the constraint checks of every repeated row.) A row inserted (inserted_ids) is new;
  // the others are stored already (or collide on another unique column) and take the look-up.
  Status insert(std::size_t begin, std::size_t end) {
    const MappedRow& first = message_.rows[begin];
    const Prepared& shape = prepared_[begin];
    const CanonicalWriter::Table& table = *shape.table;
    const std::size_t width = 1 + shape.columns.size() + (table.has_source_message_id ? 1 : 0);
    const std::size_t per_statement =
        std::max<std::size_t>(1, std::min<std::size_t>(64, 30000 / width));
    std::string head = "INSERT INTO ";
    quote(head, first.table);
    head.append(" (\"id\"");
    for (const auto* c : shape.columns) {
      head.append(", ");
      quote(head, c->first);
    }
    if (table.has_source_message_id) head.append(", \"source_message_id\"");
    head.append(") VALUES ");
    std::vector<std::string> new_ids;
    std::vector<Param> params;
    for (std::size_t at = begin, real = 0; at < end; at += real) {
      real = std::bit_floor(std::min(per_statement, end - at));
      new_ids.clear();
      for (std::size_t k = 0; k < real; ++k) new_ids.push_back(w_.next_id());
      params.clear();
      std::string sql = head;
      for (std::size_t row = 0; row < real; ++row) {
        sql.append(row == 0 ? "(" : ", (");
        params.push_back(Param::text(new_ids[row]));
        placeholder(sql, params.size());
        for (const auto* c : prepared_[at + row].columns) {
          params.push_back(param(c->second));
          sql.append(", ");
          placeholder(sql, params.size());
        }
        if (table.has_source_message_id) {
          params.push_back(journal_param());
          sql.append(", ");
          placeholder(sql, params.size());
        }
        sql.push_back(')');
      }
      sql.append(" ON CONFLICT DO NOTHING");
      auto inserted = inserted_ids(first.table, std::move(sql), params, new_ids);
      if (!inserted.ok()) return refused(message_.rows[at], inserted.error());
      for (std::size_t k = 0; k < real; ++k) {
        const std::size_t index = at + k;
        const bool created =
            std::find(inserted->begin(), inserted->end(), new_ids[k]) != inserted->end();
        if (!created) {
          if (Status s = stored(index); !s.ok()) return s;
          continue;
        }
        ids_[index] = new_ids[k];
        ++stats_.created;
        add_event(index, "created", {});
        if (const MappedValue* into = prepared_[index].merged_into; into != nullptr) {
          if (Status s = merge_patient(index, *into); !s.ok()) return s;
        }
      }
    }
    return {};
  }

  // Runs `sql` (an INSERT or UPDATE without RETURNING) and returns how many rows it changed.
  // SQLite's RETURNING costs about as much as the write itself (its rows go through a temporary
  // table), so there the count comes from changes(); PostgreSQL returns a 1 per row.
  Result<std::size_t> changed_rows(std::string sql, std::span<const Param> params) {
    if (dialect_ != Dialect::sqlite) {
      sql.append(" RETURNING 1");
      auto rows = store_.execute(sql, params);
      if (!rows.ok()) return rows.take_error();
      return rows->size();
    }
    if (auto done = store_.execute(sql, params); !done.ok()) return done.take_error();
    auto changes = store_.execute("SELECT changes()", {});
    if (!changes.ok()) return changes.take_error();
    if (changes->empty() || !(*changes)[0][0]) return std::size_t{0};
    return static_cast<std::size_t>(std::stoull(*(*changes)[0][0]));
  }

  // Runs `insert` (an INSERT ... ON CONFLICT DO NOTHING of the rows with `ids` into `table`) and
  // returns the ids it inserted: all (the usual case), none, or, for a mix, the ids stored now.
  Result<std::vector<std::string>> inserted_ids(std::string_view table, std::string insert,
                                                std::span<const Param> params,
                                                const std::vector<std::string>& ids) {
    auto count = changed_rows(std::move(insert), params);
    if (!count.ok()) return count.take_error();
    if (*count == ids.size()) return ids;
    std::vector<std::string> out;
    if (*count == 0) return out;
    std::string select = "SELECT \"id\" FROM ";
    quote(select, table);
    select.append(" WHERE \"id\" IN (");
    std::vector<Param> id_params;
    for (const std::string& id : ids) {
      id_params.push_back(Param::text(id));
      select.append(id_params.size() == 1 ? "" : ", ");
      placeholder(select, id_params.size());
    }
    select.push_back(')');
    auto rows = store_.execute(select, id_params);
    if (!rows.ok()) return rows.take_error();
    for (auto& row : *rows) {
      if (row[0]) out.push_back(std::move(*row[0]));
    }
    return out;
  }

  // Row `index`, which the insert did not take: the stored row it is (else a conflict on another
  // unique column), updated.
  Status stored(std::size_t index) {
    if (Status s = find(index); !s.ok()) return s;
    if (ids_[index].empty()) {
      return Error(CanonicalErrc::conflict, where(message_.rows[index]),
                   "no stored row has this natural key, yet the insert collided with a stored "
                   "row on another unique column");
    }
    return update(index);
  }

  // A message may map one record twice (the same table and key values), with different values:
  // an update leaves out the columns a later row of the same record writes, so the message's
  // last value is the one stored and a replay changes nothing (no update back and forth).
  void find_rewritten() {
    const auto& rows = message_.rows;
    rewritten_.assign(rows.size(), {});
    for (std::size_t i = 0; i < rows.size(); ++i) {
      for (std::size_t j = i + 1; j < rows.size(); ++j) {
        if (rows[j].table != rows[i].table || rows[j].key.size() != rows[i].key.size()) continue;
        const bool same = std::all_of(rows[i].key.begin(), rows[i].key.end(), [&](const auto& k) {
          const MappedValue* a = rows[i].find(k);
          const MappedValue* b = rows[j].find(k);
          return a == nullptr ? b == nullptr : b != nullptr && *a == *b;
        });
        if (!same) continue;
        for (const auto& [name, v] : rows[j].columns) rewritten_[i].push_back(name);
      }
    }
  }

  // The stored row of row `index`: by its whole key (absent parts matching NULL), or by the first
  // alternative key whose columns all have values and that finds one. Sets ids_[index] (empty:
  // none) and used_ (the key columns it was found by).
  Status find(std::size_t index) {
    const MappedRow& r = message_.rows[index];
    const Columns& present = prepared_[index].key_present;
    auto value_of = [&](const std::string& k) -> const Column* {
      const auto c = std::find_if(present.begin(), present.end(),
                                  [&](const Column* kc) { return kc->first == k; });
      return c == present.end() ? nullptr : *c;
    };
    // One look-up by the columns of `key`; false when it found nothing.
    auto look_up = [&](const std::vector<std::string>& key) -> Result<bool> {
      std::string select = "SELECT \"id\" FROM ";
      quote(select, r.table);
      select.append(" WHERE ");
      std::vector<Param> params;
      std::vector<std::string> used;
      for (std::size_t k = 0; k < key.size(); ++k) {
        if (k > 0) select.append(" AND ");
        quote(select, key[k]);
        const Column* c = value_of(key[k]);
        if (c == nullptr) {
          select.append(" IS NULL");
          continue;
        }
        params.push_back(param(c->second));
        select.append(" = ");
        placeholder(select, params.size());
        used.push_back(key[k]);
      }
      auto found = store_.execute(select, params);
      if (!found.ok()) return refused(r, found.error());
      if (found->empty() || !(*found)[0][0]) return false;
      ids_[index] = *(*found)[0][0];
      used_ = std::move(used);
      return true;
    };
    used_.clear();
    if (!r.key_any) {
      auto found = look_up({r.key.begin(), r.key.end()});
      if (!found.ok()) return found.take_error();
      return {};
    }
    for (const std::vector<std::string>& alternative : r.key_alternatives) {
      if (!complete_in(alternative, present)) continue;
      auto found = look_up(alternative);
      if (!found.ok()) return found.take_error();
      if (*found) break;
    }
    return {};
  }

  // Row `index` is stored (ids_[index]): its present columns that differ are updated, except the
  // key columns it was found by (equal), those only for a new row and those a later row of the
  // same record writes; then a merge (patients) is recorded.
  Status update(std::size_t index) {
    const MappedRow& r = message_.rows[index];
    const Prepared& p = prepared_[index];
    const auto& later = rewritten_[index];
    auto left_out = [&](std::string_view name) {
      const auto in = [&](const auto& list) {
        return std::find(list.begin(), list.end(), name) != list.end();
      };
      return in(used_) || in(r.insert_only) || in(later);
    };
    std::string set;
    std::string differs;
    std::vector<Param> params;
    for (const auto* c : p.columns) {
      if (left_out(c->first)) continue;
      params.push_back(param(c->second));
      if (!set.empty()) set.append(", ");
      quote(set, c->first);
      set.append(" = ");
      placeholder(set, params.size());
      if (!differs.empty()) differs.append(" OR ");
      quote(differs, c->first);
      differs.append(" IS DISTINCT FROM ");
      placeholder(differs, params.size());
    }
    if (set.empty()) {
      ++stats_.unchanged;
    } else {
      std::string sql = "UPDATE ";
      quote(sql, r.table);
      sql.append(" SET ").append(set);
      if (p.table->has_source_message_id) {
        params.push_back(journal_param());
        sql.append(", \"source_message_id\" = ");
        placeholder(sql, params.size());
      }
      if (p.table->has_updated_at) {
        params.push_back(Param::text(at_));
        sql.append(", \"updated_at\" = ");
        placeholder(sql, params.size());
      }
      params.push_back(Param::text(ids_[index]));
      sql.append(" WHERE \"id\" = ");
      placeholder(sql, params.size());
      sql.append(" AND (").append(differs).append(")");
      auto updated = changed_rows(std::move(sql), params);
      if (!updated.ok()) return refused(r, updated.error());
      if (*updated == 0) {
        ++stats_.unchanged;
      } else {
        ++stats_.updated;
        add_event(index, "updated", {});
      }
    }
    if (p.merged_into != nullptr) return merge_patient(index, *p.merged_into);
    return {};
  }

  // The patient of row `index` merged into the row `into` refers to (ADT A40): marked, and the
  // rows referring to it moved. Nothing when it is merged into that patient already.
  Status merge_patient(std::size_t index, const MappedValue& into) {
    const MappedRow& r = message_.rows[index];
    const std::string& survivor = ids_[static_cast<std::size_t>(into.integer)];
    const std::string& merged = ids_[index];
    if (survivor == merged) {
      return Error(CanonicalErrc::write_failed, where(r),
                   "the patient to merge is the surviving patient");
    }
    std::string sql =
        "UPDATE \"patients\" SET \"merged_into_id\" = $1, \"merged_at\" = $2, \"is_active\" = ";
    sql.append(dialect_ == Dialect::sqlite ? "0" : "false");
    sql.append(
        ", \"updated_at\" = $2, \"source_message_id\" = $3 WHERE \"id\" = $4 AND "
        "\"merged_into_id\" IS DISTINCT FROM $5");
    const Param p[] = {Param::text(survivor), Param::text(at_), journal_param(),
                       Param::text(merged), Param::text(survivor)};
    auto updated = changed_rows(std::move(sql), p);
    if (!updated.ok()) return refused(r, updated.error());
    if (*updated == 0) return {};  // merged already (a replay)
    ++stats_.merged;
    std::uint32_t moved = 0;
    std::uint32_t kept = 0;
    for (const auto& [table, column] : w_.patient_refs_) {
      if (Status s = move_rows(r, table, column, survivor, merged, moved, kept); !s.ok()) return s;
    }
    stats_.moved += moved;
    stats_.kept += kept;
    std::string payload = "{\"into\":\"" + survivor + "\",\"moved\":" + std::to_string(moved) +
                          ",\"kept\":" + std::to_string(kept) + "}";
    const std::size_t survivor_row = static_cast<std::size_t>(into.integer);
    add_event(index, "merged", events_[survivor_row].empty() ? "" : events_[survivor_row].back(),
              std::move(payload));
    return {};
  }

  // Moves the rows of `table` whose `column` is the merged patient to the survivor: all at once,
  // or, when that collides with a unique key the survivor has already, one by one, keeping the
  // colliding ones on the merged patient (still reachable through merged_into_id).
  Status move_rows(const MappedRow& r, const std::string& table, const std::string& column,
                   const std::string& survivor, const std::string& merged, std::uint32_t& moved,
                   std::uint32_t& kept) {
    std::string update = "UPDATE ";
    quote(update, table);
    update.append(" SET ");
    quote(update, column);
    update.append(" = $1 WHERE ");
    quote(update, column);
    update.append(" = $2");
    const Param all[] = {Param::text(survivor), Param::text(merged)};
    auto whole = store_.under_savepoint("hims_move", [&]() -> Status {
      auto updated = changed_rows(update, all);
      if (!updated.ok()) return updated.take_error();
      moved += static_cast<std::uint32_t>(*updated);
      return {};
    });
    if (!whole.ok()) return refused(r, whole.error());
    if (whole->ok()) return {};
    if (transient(whole->error())) return whole->error();  // not a collision
    std::string select = "SELECT \"id\" FROM ";
    quote(select, table);
    select.append(" WHERE ");
    quote(select, column);
    select.append(" = $1 ORDER BY \"id\"");
    const Param one[] = {Param::text(merged)};
    auto rows = store_.execute(select, one);
    if (!rows.ok()) return refused(r, rows.error());
    std::string by_id = "UPDATE ";
    quote(by_id, table);
    by_id.append(" SET ");
    quote(by_id, column);
    by_id.append(" = $1 WHERE \"id\" = $2");
    for (const auto& row : *rows) {
      if (!row[0]) continue;
      const Param p[] = {Param::text(survivor), Param::text(*row[0])};
      auto one_row = store_.under_savepoint("hims_move_row", [&]() -> Status {
        auto updated = store_.execute(by_id, p);
        if (!updated.ok()) return updated.take_error();
        return {};
      });
      if (!one_row.ok()) return refused(r, one_row.error());
      if (!one_row->ok() && transient(one_row->error())) return one_row->error();
      ++(one_row->ok() ? moved : kept);
    }
    return {};
  }

  // A domain event for row `index`; its cause is the event of the first row it refers to that
  // has one (unless `causation` is given).
  void add_event(std::size_t index, const char* type, std::string causation,
                 std::string payload = {}) {
    const MappedRow& r = message_.rows[index];
    if (causation.empty()) {
      for (const auto& [name, v] : r.columns) {
        if (v.kind != MappedValue::Kind::ref) continue;
        const auto& cause = events_[static_cast<std::size_t>(v.integer)];
        if (!cause.empty()) {
          causation = cause.front();
          break;
        }
      }
    }
    Event e;
    e.id = w_.next_id();
    e.type = type;
    e.table = r.table;
    e.entity_id = ids_[index];
    e.causation = std::move(causation);
    if (payload.empty()) {
      payload = "{\"mapping\":";
      log::append_json_string(payload, message_.mapping);
      payload.append(",\"as\":");
      log::append_json_string(payload, r.as);
      payload.append(",\"rule\":");
      log::append_json_string(payload, r.rule);
      payload.push_back('}');
    }
    e.payload = std::move(payload);
    events_[index].push_back(e.id);
    pending_.push_back(std::move(e));
  }

  // Every event of the message, in row order, in statements of up to 64 rows.
  Status insert_events() {
    constexpr std::size_t kPerStatement = 64;
    for (std::size_t offset = 0; offset < pending_.size(); offset += kPerStatement) {
      const std::size_t n = std::min(kPerStatement, pending_.size() - offset);
      std::string sql =
          "INSERT INTO \"domain_events\" (\"id\", \"event_type\", \"entity_type\", "
          "\"entity_id\", \"correlation_id\", \"causation_id\", \"payload\", \"occurred_at\") "
          "VALUES ";
      std::vector<Param> params;
      params.reserve(n * 8);
      for (std::size_t k = 0; k < n; ++k) {
        const Event& e = pending_[offset + k];
        if (k > 0) sql.append(", ");
        sql.push_back('(');
        for (std::size_t c = 1; c <= 8; ++c) {
          if (c > 1) sql.append(", ");
          placeholder(sql, k * 8 + c);
        }
        sql.push_back(')');
        params.push_back(Param::text(e.id));
        params.push_back(Param::text(e.type));
        params.push_back(Param::text(e.table));
        params.push_back(Param::text(e.entity_id));
        params.push_back(journal_param());
        params.push_back(e.causation.empty() ? Param::null() : Param::text(e.causation));
        params.push_back(Param::text(e.payload));
        params.push_back(Param::text(at_));
      }
      auto done = store_.execute(sql, params);
      if (!done.ok()) return refused("domain_events", "events", done.error());
    }
    stats_.events += static_cast<std::uint32_t>(pending_.size());
    return {};
  }

  CanonicalWriter& w_;
  store::Store& store_;
  const MappedMessage& message_;
  store::JournalId journal_id_;
  Dialect dialect_;
  std::string at_;
  std::vector<std::string> ids_;                  // per row: its stored id
  std::vector<std::vector<std::string>> events_;  // per row: the ids of its events
  std::vector<std::string> used_;                 // the key columns find() matched on
  std::vector<Prepared> prepared_;                // per row
  // Per row: the columns a later row of the same record writes (find_rewritten).
  std::vector<std::vector<std::string_view>> rewritten_;
  std::vector<Event> pending_;
  std::deque<std::string> texts_;  // the texts param() made: stable while statements use them
  CanonicalWriteStats stats_;
};

Result<CanonicalWriter> CanonicalWriter::open(store::Store& store) {
  CanonicalWriter w;
  Status s = store.transact([&]() -> Status {
    const bool sqlite = store.dialect() == Dialect::sqlite;
    auto columns = store.execute(
        sqlite ? "SELECT m.name, p.name, p.hidden, p.\"notnull\" AND p.dflt_value IS NULL AND "
                 "NOT p.pk FROM sqlite_master m, pragma_table_xinfo(m.name) p WHERE m.type = "
                 "'table' ORDER BY m.name, p.cid"
               : "SELECT table_name::text, column_name::text, CASE WHEN is_generated = 'ALWAYS' "
                 "THEN '2' ELSE '0' END, CASE WHEN is_nullable = 'NO' AND column_default IS NULL "
                 "AND is_generated = 'NEVER' THEN '1' ELSE '0' END FROM "
                 "information_schema.columns WHERE table_schema = current_schema() ORDER BY "
                 "table_name, ordinal_position",
        {});
    if (!columns.ok()) return columns.take_error();
    for (const auto& row : *columns) {
      if (!row[0] || !row[1]) continue;
      Table& t = w.tables_[*row[0]];
      t.columns.insert(*row[1]);
      // SQLite's hidden: 2 and 3 are generated columns.
      if (row[2] && (*row[2] == "2" || *row[2] == "3")) t.generated.insert(*row[1]);
      // NOT NULL without a default (SQLite's INTEGER PRIMARY KEY aside): an insert needs it.
      if (row[3] && *row[3] == "1" && *row[1] != "id") t.required.insert(*row[1]);
      if (*row[1] == "source_message_id") t.has_source_message_id = true;
      if (*row[1] == "updated_at") t.has_updated_at = true;
    }
    auto refs = store.execute(
        sqlite
            ? "SELECT m.name, f.\"from\" FROM sqlite_master m, pragma_foreign_key_list(m.name) f "
              "WHERE m.type = 'table' AND f.\"table\" = 'patients' ORDER BY m.name, f.\"from\""
            : "SELECT cl.relname::text, a.attname::text FROM pg_constraint c JOIN pg_class cl "
              "ON cl.oid = c.conrelid JOIN pg_attribute a ON a.attrelid = c.conrelid AND "
              "a.attnum = ANY (c.conkey) WHERE c.contype = 'f' AND c.confrelid = "
              "to_regclass('patients') ORDER BY 1, 2",
        {});
    if (!refs.ok()) return refs.take_error();
    for (const auto& row : *refs) {
      if (!row[0] || !row[1]) continue;
      if (std::find(std::begin(kAuditTables), std::end(kAuditTables), *row[0]) !=
          std::end(kAuditTables)) {
        continue;
      }
      w.patient_refs_.emplace_back(*row[0], *row[1]);
    }
    return {};
  });
  if (!s.ok()) return s.take_error();
  return w;
}

std::vector<std::string> CanonicalWriter::check(const Mapping& mapping) const {
  std::vector<std::string> problems;
  for (const MappingTarget& t : mapping.targets()) {
    const std::string at = std::string(t.rule) + " " + std::string(t.as) + ": ";
    auto table = tables_.find(t.table);
    if (table == tables_.end() || t.table == "domain_events") {
      problems.push_back(at + "the canonical schema has no table `" + std::string(t.table) +
                         "` the writer may fill");
      continue;
    }
    for (std::string_view column : t.columns) {
      if (std::find(std::begin(kOwnColumns), std::end(kOwnColumns), column) !=
          std::end(kOwnColumns)) {
        problems.push_back(at + "`" + std::string(column) +
                           "` is set by the canonical writer; leave it out of the mapping");
      } else if (table->second.columns.count(column) == 0) {
        problems.push_back(at + "table `" + std::string(t.table) + "` has no column `" +
                           std::string(column) + "`");
      } else if (table->second.generated.count(column) != 0) {
        problems.push_back(at + "`" + std::string(t.table) + "." + std::string(column) +
                           "` is a generated column: it cannot be written");
      }
    }
  }
  return problems;
}

Status CanonicalWriter::check_error(const Mapping& mapping) const {
  const std::vector<std::string> problems = check(mapping);
  if (problems.empty()) return {};
  std::string detail;
  for (const std::string& p : problems) detail.append(detail.empty() ? "" : "\n").append(p);
  return Error(CanonicalErrc::bad_mapping, mapping.file(), detail);
}

Result<CanonicalWriteStats> CanonicalWriter::write(store::Store& store,
                                                   const MappedMessage& message,
                                                   store::JournalId journal_id,
                                                   store::TimePoint at) {
  CanonicalWriteStats stats;
  auto done = store.under_savepoint("hims_message", [&]() -> Status {
    auto written = CanonicalWrite(*this, store, message, journal_id, at).run();
    if (!written.ok()) return written.take_error();
    stats = *written;
    return {};
  });
  if (!done.ok()) return done.take_error();  // the transaction itself is broken
  if (!done->ok()) return done->error();
  return stats;
}

}  // namespace hims::engine

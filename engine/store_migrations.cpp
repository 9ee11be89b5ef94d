// The versioned migrations, in both dialects: 1-3 the engine's own tables (journal, history,
// queues), 4 the canonical HIMS schema (DESIGN.md 6), 5 SQLite's CHECK lists as OR chains, 6
// SQLite's partial journal state indexes, 7 SQLite's engine tables without AUTOINCREMENT and the
// journal without its received-time index, 8 PostgreSQL's stats index led by the state, 9
// PostgreSQL's one state index with the source included. Append new steps; never edit an applied
// one. In the engine's tables, times are microseconds since the Unix epoch (UTC) in BIGINT columns
// named *_us, identical in both dialects.
#include <array>
#include <string>

#include "engine/store_driver.hpp"

namespace hims::store {

// Migration 4's text per dialect: mappings/schema/{sqlite,postgresql}/0004_canonical.sql, and
// migration 5's (SQLite only): mappings/schema/sqlite/0005_check_lists.sql, embedded at build time
// (cmake/HimsEmbedSql.cmake writes canonical_schema_sql.cpp into the build tree).
extern const std::string_view kCanonicalSchemaSqlite;
extern const std::string_view kCanonicalSchemaPostgres;
extern const std::string_view kCheckListsSqlite;

namespace {

// Migrations are written once in the SQL both dialects share; two placeholders stand for what
// differs: {{id}} (an auto-assigned BIGINT key) and {{bytes}} (raw bytes: BLOB / BYTEA).
constexpr std::string_view kV1 = R"sql(
CREATE TABLE journal (
  id {{id}},
  source TEXT NOT NULL,
  peer TEXT NOT NULL,
  received_at_us BIGINT NOT NULL,
  message_type TEXT NOT NULL,
  trigger_event TEXT NOT NULL,
  control_id TEXT NOT NULL,
  sending_application TEXT NOT NULL,
  sending_facility TEXT NOT NULL,
  size BIGINT NOT NULL,
  content_hash TEXT NOT NULL,
  state TEXT NOT NULL
    CHECK (state IN ('received', 'processed', 'filtered', 'errored', 'rejected')),
  error TEXT NOT NULL DEFAULT '',
  updated_at_us BIGINT NOT NULL,
  raw {{bytes}} NOT NULL
);
CREATE INDEX journal_state_idx ON journal (state, id);
CREATE INDEX journal_duplicate_idx ON journal (source, control_id, received_at_us);
CREATE INDEX journal_received_idx ON journal (received_at_us);
CREATE TABLE journal_history (
  id {{id}},
  journal_id BIGINT NOT NULL REFERENCES journal (id),
  from_state TEXT,
  to_state TEXT NOT NULL,
  at_us BIGINT NOT NULL,
  detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX journal_history_journal_idx ON journal_history (journal_id, id);
CREATE TABLE queue_items (
  id {{id}},
  destination TEXT NOT NULL,
  journal_id BIGINT REFERENCES journal (id),
  payload {{bytes}} NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts INTEGER NOT NULL DEFAULT 0,
  enqueued_at_us BIGINT NOT NULL,
  not_before_us BIGINT NOT NULL,
  last_error TEXT NOT NULL DEFAULT '',
  lease_owner TEXT,
  lease_until_us BIGINT,
  delivered_at_us BIGINT,
  dead_at_us BIGINT
);
CREATE INDEX queue_items_pending_idx ON queue_items (destination, id) WHERE status = 'pending';
CREATE INDEX queue_items_dead_idx ON queue_items (destination, id) WHERE status = 'dead';
CREATE INDEX queue_items_journal_idx ON queue_items (journal_id);
)sql";

// The route and source of a queue item (a ZeroMQ topic, a file name); indexes for the stats queries
// (journal_counts and queue_summary read only these indexes, not the rows with their raw bytes).
constexpr std::string_view kV2 = R"sql(
ALTER TABLE queue_items ADD COLUMN route TEXT NOT NULL DEFAULT '';
ALTER TABLE queue_items ADD COLUMN source TEXT NOT NULL DEFAULT '';
CREATE INDEX journal_source_state_idx ON journal (source, state);
CREATE INDEX queue_items_summary_idx ON queue_items (destination, status, enqueued_at_us);
)sql";

// SQLite: duplicate detection looks in memory (Store keeps the recent entries of the window, the
// database file has one engine), so the index on (source, control id, time), whose random keys
// dirtied one leaf page per message of a group commit, goes. PostgreSQL keeps it: several nodes
// share the journal there (DESIGN.md 9). PostgreSQL: messages up to 8 KiB stay in the row as
// they are instead of being compressed on the writer's path (TOAST starts near 2 KiB).
constexpr std::string_view kV3Sqlite = R"sql(
DROP INDEX journal_duplicate_idx;
)sql";
constexpr std::string_view kV3Postgres = R"sql(
ALTER TABLE journal SET (toast_tuple_target = 8160);
ALTER TABLE queue_items SET (toast_tuple_target = 8160);
)sql";

// SQLite: the index on (state, id) becomes one partial index per state that is looked for by
// state (received: what processing has yet to do; errored and rejected: what an operator
// replays or inspects). Entries journaled processed or filtered, nearly all of them, then touch
// no state index in their group commit: one b-tree page fewer per commit. list() names the
// state as a literal so SQLite can pick these. PostgreSQL keeps (state, id).
constexpr std::string_view kV6Sqlite = R"sql(
DROP INDEX journal_state_idx;
CREATE INDEX journal_state_received_idx ON journal (id) WHERE state = 'received';
CREATE INDEX journal_state_errored_idx ON journal (id) WHERE state = 'errored';
CREATE INDEX journal_state_rejected_idx ON journal (id) WHERE state = 'rejected';
)sql";

// SQLite: the engine's three tables are rebuilt without AUTOINCREMENT, and the journal loses its
// index on received_at_us. Each was one more 16 KiB page in every group commit's WAL (the
// sqlite_sequence row the commit bumps, the index's right-most leaf), 2 of the 11 frames a
// 32-message commit wrote: 64 connections went from about 47,000 to 54,000 messages/s
// (docs/benchmarks.md). An INTEGER PRIMARY KEY alone is still the rowid, given as the highest id
// + 1, so ids stay unique and ascending as long as the newest row of a table is never deleted
// (nothing deletes engine rows; pruning by age must keep the newest). Received-time look-ups
// (duplicate memory at start) read the journal newest first by id, which follows commit order.
// The rebuild follows sqlite.org/lang_altertable.html#otheralter: new table, copy, drop, rename,
// indexes again, with foreign keys off (MigrationStep::sqlite_rebuilds_tables) and checked before
// the commit. Column order, CHECKs and the other indexes are those of migrations 1, 2, 5 and 6.
constexpr std::string_view kV7Sqlite = R"sql(
CREATE TABLE journal_v7 (
  id INTEGER PRIMARY KEY,
  source TEXT NOT NULL,
  peer TEXT NOT NULL,
  received_at_us BIGINT NOT NULL,
  message_type TEXT NOT NULL,
  trigger_event TEXT NOT NULL,
  control_id TEXT NOT NULL,
  sending_application TEXT NOT NULL,
  sending_facility TEXT NOT NULL,
  size BIGINT NOT NULL,
  content_hash TEXT NOT NULL,
  state TEXT NOT NULL
    CHECK ((state = 'received' OR state = 'processed' OR state = 'filtered' OR state = 'errored' OR state = 'rejected')),
  error TEXT NOT NULL DEFAULT '',
  updated_at_us BIGINT NOT NULL,
  raw BLOB NOT NULL
);
INSERT INTO journal_v7 SELECT id, source, peer, received_at_us, message_type, trigger_event,
  control_id, sending_application, sending_facility, size, content_hash, state, error,
  updated_at_us, raw FROM journal ORDER BY id;
DROP TABLE journal;
ALTER TABLE journal_v7 RENAME TO journal;
CREATE INDEX journal_source_state_idx ON journal (source, state);
CREATE INDEX journal_state_received_idx ON journal (id) WHERE state = 'received';
CREATE INDEX journal_state_errored_idx ON journal (id) WHERE state = 'errored';
CREATE INDEX journal_state_rejected_idx ON journal (id) WHERE state = 'rejected';

CREATE TABLE journal_history_v7 (
  id INTEGER PRIMARY KEY,
  journal_id BIGINT NOT NULL REFERENCES journal (id),
  from_state TEXT,
  to_state TEXT NOT NULL,
  at_us BIGINT NOT NULL,
  detail TEXT NOT NULL DEFAULT ''
);
INSERT INTO journal_history_v7 SELECT id, journal_id, from_state, to_state, at_us, detail
  FROM journal_history ORDER BY id;
DROP TABLE journal_history;
ALTER TABLE journal_history_v7 RENAME TO journal_history;
CREATE INDEX journal_history_journal_idx ON journal_history (journal_id, id);

CREATE TABLE queue_items_v7 (
  id INTEGER PRIMARY KEY,
  destination TEXT NOT NULL,
  journal_id BIGINT REFERENCES journal (id),
  payload BLOB NOT NULL,
  status TEXT NOT NULL CHECK ((status = 'pending' OR status = 'delivered' OR status = 'dead')),
  attempts INTEGER NOT NULL DEFAULT 0,
  enqueued_at_us BIGINT NOT NULL,
  not_before_us BIGINT NOT NULL,
  last_error TEXT NOT NULL DEFAULT '',
  lease_owner TEXT,
  lease_until_us BIGINT,
  delivered_at_us BIGINT,
  dead_at_us BIGINT,
  route TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT ''
);
INSERT INTO queue_items_v7 SELECT id, destination, journal_id, payload, status, attempts,
  enqueued_at_us, not_before_us, last_error, lease_owner, lease_until_us, delivered_at_us,
  dead_at_us, route, source FROM queue_items ORDER BY id;
DROP TABLE queue_items;
ALTER TABLE queue_items_v7 RENAME TO queue_items;
CREATE INDEX queue_items_pending_idx ON queue_items (destination, id) WHERE status = 'pending';
CREATE INDEX queue_items_dead_idx ON queue_items (destination, id) WHERE status = 'dead';
CREATE INDEX queue_items_journal_idx ON queue_items (journal_id);
CREATE INDEX queue_items_summary_idx ON queue_items (destination, status, enqueued_at_us);
)sql";

// PostgreSQL: the stats index (source, state) becomes (state, source). Its leading `source` made
// it a candidate for the duplicate look-up (source = $ AND control_id = $ ...), and on a journal
// without statistics yet (a new database, until autoanalyze) the generic plan of that prepared
// statement took it over journal_duplicate_idx (a smaller index, the same estimate): each look-up
// then read every entry of its source, and 8 connections fell from about 7,500 to 1,000
// messages/s within seconds, until autoanalyze replanned it. journal_counts reads the new index
// the same way (an index-only scan). SQLite answers duplicates from memory and keeps its index.
constexpr std::string_view kV8Postgres = R"sql(
CREATE INDEX journal_state_source_idx ON journal (state, source);
DROP INDEX journal_source_state_idx;
)sql";

// PostgreSQL: the journal's two state indexes become one, `journal_state_idx (state, id)
// INCLUDE (source)`. journal_counts reads it alone (an index-only scan, grouped by a hash), and
// every look-up by state and ids finds both in its key: no index is left that has `state`
// without `id`, which a plan chosen without statistics could take to read every entry of a state
// (Store::list, the processing statements; docs/storage.md, Query plans). One index fewer to
// update per appended entry.
constexpr std::string_view kV9Postgres = R"sql(
CREATE INDEX journal_state_v9_idx ON journal (state, id) INCLUDE (source);
DROP INDEX journal_state_idx;
DROP INDEX journal_state_source_idx;
ALTER INDEX journal_state_v9_idx RENAME TO journal_state_idx;
)sql";

}  // namespace

std::span<const MigrationStep> migration_steps() {
  // Built on first use, not constexpr: migration 4's texts are defined in the generated source
  // (constant-initialized there, so they are set before any call).
  static const std::array kSteps{
      MigrationStep{1, "journal and destination queues", kV1},
      MigrationStep{2, "queue item route and source, stats indexes", kV2},
      MigrationStep{3, "duplicate look-up in memory on SQLite, rows kept whole on PostgreSQL", "",
                    kV3Sqlite, kV3Postgres},
      MigrationStep{4, "canonical HIMS schema", "", kCanonicalSchemaSqlite,
                    kCanonicalSchemaPostgres},
      MigrationStep{5, "CHECK value lists as comparisons on SQLite", "", kCheckListsSqlite, ""},
      MigrationStep{6, "partial journal state indexes on SQLite", "", kV6Sqlite, ""},
      MigrationStep{7, "engine tables without AUTOINCREMENT, no received-time index on SQLite", "",
                    kV7Sqlite, "", true},
      MigrationStep{8, "stats index as (state, source) on PostgreSQL", "", "", kV8Postgres},
      MigrationStep{9, "one state index with the source included on PostgreSQL", "", "",
                    kV9Postgres},
  };
  return kSteps;
}

std::string migration_sql(const MigrationStep& step, Dialect dialect) {
  const bool sqlite = dialect == Dialect::sqlite;
  const std::string_view id = sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT"
                                     : "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY";
  const std::string_view bytes = sqlite ? "BLOB" : "BYTEA";
  std::string text(step.sql);
  text.append(sqlite ? step.sqlite_sql : step.postgres_sql);
  std::string out;
  out.reserve(text.size() + 256);
  for (std::size_t i = 0; i < text.size();) {
    if (text.compare(i, 6, "{{id}}") == 0) {
      out.append(id);
      i += 6;
    } else if (text.compare(i, 9, "{{bytes}}") == 0) {
      out.append(bytes);
      i += 9;
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

std::string_view migrations_table_sql(Dialect dialect) {
  if (dialect == Dialect::sqlite) {
    return "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
           "name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)";
  }
  return "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
         "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())";
}

}  // namespace hims::store

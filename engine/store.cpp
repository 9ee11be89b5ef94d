// The Store's logic, written once over the Driver (same SQL text in both dialects, $n params),
// plus open_store() and the SHA-256 content hash.
#include "engine/store.hpp"

#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <charconv>
#include <initializer_list>
#include <limits>
#include <unordered_map>
#include <utility>

#include "engine/store_driver.hpp"
#include "engine/store_recent.hpp"

namespace hims::store {

std::string_view to_string(StoreErrc code) {
  switch (code) {
    case StoreErrc::bad_url:
      return "bad_url";
    case StoreErrc::cannot_open:
      return "cannot_open";
    case StoreErrc::query_failed:
      return "query_failed";
    case StoreErrc::busy:
      return "busy";
    case StoreErrc::not_found:
      return "not_found";
    case StoreErrc::lease_lost:
      return "lease_lost";
    case StoreErrc::migration_failed:
      return "migration_failed";
    case StoreErrc::bad_argument:
      return "bad_argument";
  }
  return "unknown";
}

std::string_view to_string(MessageState state) {
  switch (state) {
    case MessageState::received:
      return "received";
    case MessageState::processed:
      return "processed";
    case MessageState::filtered:
      return "filtered";
    case MessageState::errored:
      return "errored";
    case MessageState::rejected:
      return "rejected";
  }
  return "unknown";
}

std::optional<MessageState> parse_message_state(std::string_view text) {
  for (auto s : {MessageState::received, MessageState::processed, MessageState::filtered,
                 MessageState::errored, MessageState::rejected}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

std::string_view to_string(QueueItemStatus status) {
  switch (status) {
    case QueueItemStatus::pending:
      return "pending";
    case QueueItemStatus::delivered:
      return "delivered";
    case QueueItemStatus::dead:
      return "dead";
  }
  return "unknown";
}

std::string sha256_hex(std::string_view bytes) {
  // The algorithm is fetched once and each thread keeps its context: OpenSSL 3's EVP_Digest with
  // EVP_sha256() looks the implementation up and allocates a context on every call.
  struct Md {
    Md() : md(EVP_MD_fetch(nullptr, "SHA256", nullptr)) {}
    ~Md() { EVP_MD_free(md); }
    EVP_MD* md;
  };
  struct Ctx {
    Ctx() : ctx(EVP_MD_CTX_new()) {}
    ~Ctx() { EVP_MD_CTX_free(ctx); }
    EVP_MD_CTX* ctx;
  };
  static const Md sha256;
  thread_local const Ctx context;
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (sha256.md == nullptr || context.ctx == nullptr ||
      EVP_DigestInit_ex2(context.ctx, sha256.md, nullptr) != 1 ||
      EVP_DigestUpdate(context.ctx, bytes.data(), bytes.size()) != 1 ||
      EVP_DigestFinal_ex(context.ctx, digest.data(), &length) != 1) {
    length = 0;
    EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xF]);
  }
  return out;
}

namespace {

std::int64_t to_us(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
TimePoint from_us(std::int64_t us) {
  return TimePoint(std::chrono::duration_cast<Clock::duration>(std::chrono::microseconds(us)));
}

Error bad_data(std::string_view what) {
  return Error(StoreErrc::query_failed, "store", "unexpected value in column " + std::string(what));
}

std::int64_t to_int(const Cell& cell) {
  std::int64_t v = 0;
  if (cell) std::from_chars(cell->data(), cell->data() + cell->size(), v);
  return v;
}
std::string to_str(Cell& cell) { return cell ? std::move(*cell) : std::string(); }

Result<Rows> run(Driver& driver, std::string_view sql, std::initializer_list<Param> params) {
  return driver.query(sql, std::span<const Param>(params.begin(), params.size()));
}

// Driver::query_unprepared: planned for the tables as they are at each run (PostgreSQL).
Result<Rows> run_unprepared(Driver& driver, std::string_view sql,
                            std::initializer_list<Param> params) {
  return driver.query_unprepared(sql, std::span<const Param>(params.begin(), params.size()));
}

constexpr std::string_view kJournalColumns =
    "id, source, peer, received_at_us, message_type, trigger_event, control_id, "
    "sending_application, sending_facility, size, content_hash, state, error, updated_at_us";

Result<JournalEntry> journal_from_row(Row& row, bool with_raw) {
  JournalEntry e;
  e.id = to_int(row[0]);
  e.source = to_str(row[1]);
  e.peer = to_str(row[2]);
  e.received_at = from_us(to_int(row[3]));
  e.message_type = to_str(row[4]);
  e.trigger_event = to_str(row[5]);
  e.control_id = to_str(row[6]);
  e.sending_application = to_str(row[7]);
  e.sending_facility = to_str(row[8]);
  e.size = to_int(row[9]);
  e.content_hash = to_str(row[10]);
  auto state = parse_message_state(row[11] ? *row[11] : "");
  if (!state) return bad_data("journal.state");
  e.state = *state;
  e.error = to_str(row[12]);
  e.updated_at = from_us(to_int(row[13]));
  if (with_raw) e.raw = to_str(row[14]);
  return e;
}

constexpr std::string_view kQueueColumns =
    "id, destination, journal_id, payload, status, attempts, enqueued_at_us, not_before_us, "
    "last_error, lease_owner, lease_until_us, route, source";
// The same columns with NULL for the payload (listings that do not need it).
constexpr std::string_view kQueueColumnsNoPayload =
    "id, destination, journal_id, NULL, status, attempts, enqueued_at_us, not_before_us, "
    "last_error, lease_owner, lease_until_us, route, source";

std::optional<QueueItemStatus> parse_queue_status(std::string_view text) {
  for (auto s : {QueueItemStatus::pending, QueueItemStatus::delivered, QueueItemStatus::dead}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

Result<QueueItem> queue_from_row(Row& row) {
  QueueItem q;
  q.id = to_int(row[0]);
  q.destination = to_str(row[1]);
  q.journal_id = to_int(row[2]);
  q.payload = to_str(row[3]);
  auto status = parse_queue_status(row[4] ? *row[4] : "");
  if (!status) return bad_data("queue_items.status");
  q.status = *status;
  q.attempts = static_cast<int>(to_int(row[5]));
  q.enqueued_at = from_us(to_int(row[6]));
  q.not_before = from_us(to_int(row[7]));
  q.last_error = to_str(row[8]);
  q.lease_owner = to_str(row[9]);
  q.lease_until = from_us(to_int(row[10]));
  q.route = to_str(row[11]);
  q.source = to_str(row[12]);
  return q;
}

Result<std::vector<QueueItem>> queue_items_from_rows(Rows& rows) {
  std::vector<QueueItem> out;
  out.reserve(rows.size());
  for (auto& row : rows) {
    auto item = queue_from_row(row);
    if (!item.ok()) return item.take_error();
    out.push_back(std::move(*item));
  }
  return out;
}

// Multi-row statements (one round trip, one statement execution for many rows) are cut into
// chunks of kMaxRows rows, and a shorter rest into power-of-two chunks, so that each driver
// prepares at most a handful of SQL texts per statement (7 for kMaxRows = 64). 64 rows of the
// widest statement (13 parameters) stay below SQLite's historical 999-parameter limit.
constexpr std::size_t kMaxRows = 64;

// PostgreSQL: every statement is a round trip to the server (the backend woken, the client waiting
// for its answer), so a rest shorter than kMaxRows goes in one statement, padded up to a power of
// two: a batch of 29 is one round trip instead of four (16 + 8 + 4 + 1). The padding rows are all
// NULL, and the statements run padded skip them (InsertStatements::padded, duplicates_select).
// SQLite runs in the process: a statement costs no round trip, and no padding is built and
// filtered.
std::size_t chunk_rows(std::size_t remaining, Dialect dialect) {
  if (remaining >= kMaxRows) return kMaxRows;
  return dialect == Dialect::sqlite ? std::bit_floor(remaining) : std::bit_ceil(remaining);
}

// The SQL text of one multi-row statement for 1, 2, 4 ... kMaxRows rows, built once: `head`, then
// `row` once per row joined by ", ", then `tail`. In `row`, $k is the row's k-th parameter: it
// becomes $(leading + r * per_row + k) for row r; $k with k <= leading (parameters shared by every
// row) go in head/tail as written.
class RowsStatement {
 public:
  RowsStatement(std::string_view head, std::string_view row, std::size_t leading,
                std::size_t per_row, std::string_view tail) {
    for (std::size_t i = 0; i < texts_.size(); ++i) {
      const std::size_t rows = std::size_t{1} << i;
      std::string& sql = texts_[i];
      sql.append(head);
      for (std::size_t r = 0; r < rows; ++r) {
        if (r > 0) sql.append(", ");
        for (std::size_t c = 0; c < row.size();) {
          if (row[c] != '$') {
            sql.push_back(row[c++]);
            continue;
          }
          std::size_t k = 0;
          const auto [end, ec] = std::from_chars(row.data() + c + 1, row.data() + row.size(), k);
          (void)ec;
          sql.push_back('$');
          sql.append(std::to_string(leading + r * per_row + k));
          c = static_cast<std::size_t>(end - row.data());
        }
      }
      sql.append(tail);
    }
  }
  // `rows` must be a power of two no larger than kMaxRows.
  const std::string& sql(std::size_t rows) const {
    return texts_[static_cast<std::size_t>(std::countr_zero(rows))];
  }

 private:
  std::array<std::string, std::countr_zero(kMaxRows) + 1> texts_;
};

// A multi-row INSERT in two forms: SQLite's `INSERT INTO <into> VALUES <row>, ...`, and
// PostgreSQL's for padded chunks (chunk_rows), `INSERT INTO <into> SELECT <select> FROM (VALUES
// <typed_row>, ...) AS v (<columns>) WHERE v.<first column> IS NOT NULL`: padding rows are all
// NULL and inserted nowhere. `typed_row` casts the parameters of non-text columns (VALUES columns
// of parameters are text otherwise); the SELECT runs in VALUES order, so identities are drawn in
// that order as with plain VALUES.
struct InsertStatements {
  InsertStatements(std::string_view into, std::string_view row, std::size_t per_row,
                   std::string_view select, std::string_view columns, std::string_view typed_row,
                   std::string_view postgres_tail = "")
      : values("INSERT INTO " + std::string(into) + " VALUES ", row, 0, per_row, ""),
        padded("INSERT INTO " + std::string(into) + " SELECT " + std::string(select) +
                   " FROM (VALUES ",
               typed_row, 0, per_row,
               ") AS v (" + std::string(columns) + ") WHERE v." +
                   std::string(columns.substr(0, columns.find(','))) + " IS NOT NULL" +
                   std::string(postgres_tail)) {}
  RowsStatement values;  // either dialect, no padding rows
  RowsStatement padded;  // PostgreSQL's
};

// The texts of a statement in `dialect`: one text for both, or an INSERT's two forms.
const RowsStatement& in_dialect(const RowsStatement& statement, Dialect) { return statement; }
const RowsStatement& in_dialect(const InsertStatements& statements, Dialect dialect) {
  return dialect == Dialect::sqlite ? statements.values : statements.padded;
}

// Runs `statement` (in_dialect) over `count` rows in chunks (chunk_rows), `add_row(params, i)`
// appending row i's `per_row` parameters; PostgreSQL's padding rows get NULLs.
// `on_chunk(first, rows, result)` sees each chunk's result.
template <class Statement, class AddRow, class OnChunk>
Status run_in_chunks(Driver& driver, const Statement& statement, std::size_t count,
                     std::size_t per_row, AddRow&& add_row, OnChunk&& on_chunk) {
  const Dialect dialect = driver.dialect();
  const RowsStatement& texts = in_dialect(statement, dialect);
  std::vector<Param> params;
  params.reserve(kMaxRows * per_row);
  for (std::size_t offset = 0; offset < count;) {
    const std::size_t padded = chunk_rows(count - offset, dialect);
    const std::size_t rows = std::min(padded, count - offset);
    params.clear();
    for (std::size_t i = 0; i < rows; ++i) add_row(params, offset + i);
    params.resize(padded * per_row, Param::null());
    auto result = driver.query(texts.sql(padded), params);
    if (!result.ok()) return result.take_error();
    if (Status s = on_chunk(offset, rows, *result); !s.ok()) return s;
    offset += rows;
  }
  return {};
}

// The same for statements whose results are not read (INSERTs without RETURNING).
template <class Statement, class AddRow>
Status run_in_chunks(Driver& driver, const Statement& statement, std::size_t count,
                     std::size_t per_row, AddRow&& add_row) {
  return run_in_chunks(driver, statement, count, per_row, std::forward<AddRow>(add_row),
                       [](std::size_t, std::size_t, const Rows&) { return Status{}; });
}

// PostgreSQL returns the new ids; SQLite gives the rows of one INSERT consecutive ids under the
// write lock (each the highest id + 1), so the last one tells them all, without RETURNING's
// temporary table.
const InsertStatements& journal_insert() {
  static const InsertStatements statements(
      "journal (source, peer, received_at_us, message_type, trigger_event, control_id, "
      "sending_application, sending_facility, size, content_hash, state, error, updated_at_us, "
      "raw)",
      "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $3, $13)", 13,
      "source, peer, received_at_us, message_type, trigger_event, control_id, "
      "sending_application, sending_facility, size, content_hash, state, error, received_at_us, "
      "raw",
      "source, peer, received_at_us, message_type, trigger_event, control_id, "
      "sending_application, sending_facility, size, content_hash, state, error, raw",
      "($1, $2, CAST($3 AS BIGINT), $4, $5, $6, $7, $8, CAST($9 AS BIGINT), $10, $11, $12, "
      "CAST($13 AS BYTEA))",
      " RETURNING id");
  return statements;
}

// (journal_id, from_state or NULL, to_state, at_us, detail) per row.
const InsertStatements& history_insert() {
  static const InsertStatements statements(
      "journal_history (journal_id, from_state, to_state, at_us, detail)", "($1, $2, $3, $4, $5)",
      5, "journal_id, from_state, to_state, at_us, detail",
      "journal_id, from_state, to_state, at_us, detail",
      "(CAST($1 AS BIGINT), $2, $3, CAST($4 AS BIGINT), $5)");
  return statements;
}

// An entry's history starts with its append (from_state NULL), but that first row is written only
// when the entry first changes state: the journal row holds the same facts until then (state,
// received_at_us, error), and Store::history reads them from there. This keeps two b-trees
// (journal_history and its index) off the group commit of every inbound message.
// The first history row of the entries $1.. that have none; `to_state_and_detail` selects its
// to_state and detail from their journal row `j`. Run with the rows locked (insert_first_history).
RowsStatement first_history_insert(std::string_view to_state_and_detail) {
  const std::string head =
      "INSERT INTO journal_history (journal_id, from_state, at_us, to_state, detail) SELECT j.id, "
      "NULL, j.received_at_us, " +
      std::string(to_state_and_detail) +
      " FROM journal j WHERE NOT EXISTS (SELECT 1 FROM journal_history h WHERE h.journal_id = "
      "j.id) AND j.id IN (";
  return RowsStatement(head, "$1", 0, 1, ") ORDER BY j.id");
}
// Before a change (set_state, reprocess; PostgreSQL: after SELECT ... FOR UPDATE): the journal
// row as it is, unchanged since the append.
const RowsStatement& first_history_before_change() {
  static const RowsStatement statement = first_history_insert("j.state, j.error");
  return statement;
}
// After processing_update moved entries out of `received` (it holds their row locks): they were
// appended `received`, with no error.
const RowsStatement& first_history_of_processed() {
  static const RowsStatement statement = first_history_insert("'received', ''");
  return statement;
}

// One row per query: (n, the lowest matching id or NULL). The CASTs give PostgreSQL the types of
// the VALUES columns; SQLite names them column1..column6 like PostgreSQL does. Padding rows
// (chunk_rows) are all NULL and give no row.
const RowsStatement& duplicates_select() {
  static const RowsStatement statement(
      "SELECT q.column1, (SELECT MIN(j.id) FROM journal j WHERE j.source = q.column2 AND "
      "j.control_id = q.column3 AND j.content_hash = q.column4 AND j.received_at_us >= "
      "q.column5 AND (q.column6 = 0 OR j.id < q.column6)) FROM (VALUES ",
      "(CAST($1 AS BIGINT), $2, $3, $4, CAST($5 AS BIGINT), CAST($6 AS BIGINT))", 0, 6,
      ") AS q WHERE q.column2 IS NOT NULL ORDER BY q.column1");
  return statement;
}

// The statements below end in an IN list of ids, one per row: run them with for_id_chunks.
const RowsStatement& lease_update() {
  static const RowsStatement statement(
      "UPDATE queue_items SET lease_owner = $1, lease_until_us = $2 WHERE id IN (", "$1", 2, 1,
      ")");
  return statement;
}

// commit_processing: the entries still `received` among $4.. go to state $1 with error $2 at $3.
const RowsStatement& processing_update() {
  static const RowsStatement statement(
      "UPDATE journal SET state = $1, error = $2, updated_at_us = $3 WHERE state = 'received' "
      "AND id IN (",
      "$1", 3, 1, ") RETURNING id");
  return statement;
}

// 7 parameters per row (queue_item_params). The rows of one INSERT get ascending ids in VALUES
// order (see append).
const InsertStatements& queue_insert() {
  static const InsertStatements statements(
      "queue_items (destination, journal_id, payload, status, attempts, enqueued_at_us, "
      "not_before_us, last_error, route, source)",
      "($1, $2, $3, 'pending', 0, $4, $5, '', $6, $7)", 7,
      "destination, journal_id, payload, 'pending', 0, enqueued_at_us, not_before_us, '', route, "
      "source",
      "destination, journal_id, payload, enqueued_at_us, not_before_us, route, source",
      "($1, CAST($2 AS BIGINT), CAST($3 AS BYTEA), CAST($4 AS BIGINT), CAST($5 AS BIGINT), $6, "
      "$7)");
  return statements;
}

const RowsStatement& journal_ids_select() {
  static const RowsStatement statement("SELECT id FROM journal WHERE id IN (", "$1", 0, 1, ")");
  return statement;
}

const RowsStatement& received_ids_select(Dialect dialect) {
  static const RowsStatement sqlite("SELECT id FROM journal WHERE state = 'received' AND id IN (",
                                    "$1", 0, 1, ")");
  static const RowsStatement postgres("SELECT id FROM journal WHERE state = 'received' AND id IN (",
                                      "$1", 0, 1, ") FOR UPDATE");
  return dialect == Dialect::sqlite ? sqlite : postgres;
}

// "Pending and leased by $2" as one CASE, which no index can answer: the ids are then the only
// condition an index can look up. As `status = 'pending' AND lease_owner = $2` it made
// queue_items_pending_idx (partial, on pending) a candidate, and without statistics (a new
// queue, before ANALYZE) PostgreSQL took that index, or queue_items_summary_idx for a
// destination, as the cheaper way and read every pending item to find the batch's few.
constexpr std::string_view kLeasedBy = "CASE WHEN status = 'pending' THEN lease_owner END = $2";

const RowsStatement& delivered_update() {
  static const RowsStatement statement(
      "UPDATE queue_items SET status = 'delivered', delivered_at_us = $1, last_error = '', "
      "lease_owner = NULL, lease_until_us = NULL WHERE " +
          std::string(kLeasedBy) + " AND id IN (",
      "$1", 2, 1, ") RETURNING id");
  return statement;
}

// Runs `statement` (its rows: one id each, after the `shared` parameters) over `ids` in chunks of
// up to kMaxRows, each padded to a power of two by repeating its last id (harmless in an IN list),
// and hands each chunk's ids and result to `on_chunk`, which returns a Status. Unprepared: these
// run once per batch, and the id list must be looked up by ids whatever the tables' sizes were
// when a generic plan would have been chosen (Driver::query_unprepared).
template <class OnChunk>
Status for_id_chunks(Driver& driver, const RowsStatement& statement,
                     std::initializer_list<Param> shared, std::span<const std::int64_t> ids,
                     OnChunk&& on_chunk) {
  std::vector<Param> params;
  params.reserve(shared.size() + kMaxRows);
  for (std::size_t offset = 0; offset < ids.size();) {
    const std::size_t real = std::min(kMaxRows, ids.size() - offset);
    const std::size_t rows = std::bit_ceil(real);
    params.assign(shared);
    for (std::size_t k = 0; k < rows; ++k) {
      params.push_back(Param::of(ids[offset + std::min(k, real - 1)]));
    }
    auto result = driver.query_unprepared(statement.sql(rows), params);
    if (!result.ok()) return result.take_error();
    if (Status s = on_chunk(ids.subspan(offset, real), *result); !s.ok()) return s;
    offset += real;
  }
  return {};
}

// Runs one of the first_history_* statements over `ids`.
Status insert_first_history(Driver& driver, const RowsStatement& statement,
                            std::span<const std::int64_t> ids) {
  return for_id_chunks(driver, statement, {}, ids,
                       [](std::span<const std::int64_t>, const Rows&) { return Status{}; });
}

// The first of `ids` that no row names (in its first column).
std::optional<std::int64_t> first_missing(std::span<const std::int64_t> ids, const Rows& rows) {
  for (const std::int64_t id : ids) {
    if (std::none_of(rows.begin(), rows.end(),
                     [&](const Row& row) { return to_int(row[0]) == id; })) {
      return id;
    }
  }
  return std::nullopt;
}

// Appends one queue_insert row's parameters (journal_id 0: none).
void queue_item_params(std::vector<Param>& params, JournalId journal_id, const NewQueueItem& item,
                       std::int64_t at_us) {
  params.insert(
      params.end(),
      {Param::text(item.destination), journal_id > 0 ? Param::of(journal_id) : Param::null(),
       Param::blob(item.payload), Param::of(at_us), Param::of(to_us(item.not_before)),
       Param::text(item.route), Param::text(item.source)});
}

// One entry of a processing commit, as commit_processing and commit_processing_batch get it.
struct CommitView {
  JournalId id = 0;
  MessageState to = MessageState::processed;
  std::string_view detail;
  std::span<const NewQueueItem> items;
};

Status insert_queue_items(Driver& driver,
                          std::span<const std::pair<JournalId, const NewQueueItem*>> items,
                          std::int64_t at_us);

// The body of commit_processing(_batch), inside the caller's transaction: which entries were
// applied, in input order.
Result<std::vector<bool>> commit_views(Driver& driver, std::span<const CommitView> batch,
                                       TimePoint at) {
  for (const CommitView& c : batch) {
    for (const NewQueueItem& item : c.items) {
      if (item.destination.empty()) {
        return Error(StoreErrc::bad_argument, "commit_processing", "empty destination");
      }
    }
  }
  const std::int64_t at_us = to_us(at);
  std::vector<bool> applied(batch.size(), false);
  // The first listing of each id goes to the UPDATE; a later one stays false, as a second
  // commit_processing of the same entry would.
  std::unordered_map<JournalId, std::size_t> first;
  first.reserve(batch.size());
  std::vector<std::size_t> listed;
  listed.reserve(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (first.emplace(batch[i].id, i).second) listed.push_back(i);
  }
  // The state check and the change are one statement: of two workers committing the same entry
  // (PostgreSQL: the row lock orders them), only the first finds it still `received`. One UPDATE
  // per (state, error) group and 64 ids: a batch of routed entries is one group.
  auto error_of = [&](std::size_t i) {
    const CommitView& c = batch[i];
    const bool is_error = c.to == MessageState::errored || c.to == MessageState::rejected;
    return is_error ? c.detail : std::string_view();
  };
  std::vector<bool> grouped(batch.size(), false);
  std::vector<JournalId> group;
  group.reserve(listed.size());
  for (std::size_t g = 0; g < listed.size(); ++g) {
    const std::size_t lead = listed[g];
    if (grouped[lead]) continue;
    group.clear();
    for (std::size_t k = g; k < listed.size(); ++k) {
      const std::size_t i = listed[k];
      if (!grouped[i] && batch[i].to == batch[lead].to && error_of(i) == error_of(lead)) {
        grouped[i] = true;
        group.push_back(batch[i].id);
      }
    }
    Status s = for_id_chunks(
        driver, processing_update(),
        {Param::text(to_string(batch[lead].to)), Param::text(error_of(lead)), Param::of(at_us)},
        group, [&](std::span<const JournalId>, const Rows& updated) -> Status {
          for (const Row& row : updated) {
            const auto it = first.find(to_int(row[0]));
            if (it == first.end()) return bad_data("journal.id");
            applied[it->second] = true;
          }
          return {};
        });
    if (!s.ok()) return s.take_error();
  }
  // Entries not applied: in another state, or no entry at all (not_found, like set_state).
  std::vector<JournalId> unapplied;
  for (const std::size_t i : listed) {
    if (!applied[i]) unapplied.push_back(batch[i].id);
  }
  Status exist = for_id_chunks(driver, journal_ids_select(), {}, unapplied,
                               [](std::span<const JournalId> ids, const Rows& found) -> Status {
                                 if (auto id = first_missing(ids, found)) {
                                   return Error(StoreErrc::not_found,
                                                "journal " + std::to_string(*id), "no such entry");
                                 }
                                 return {};
                               });
  if (!exist.ok()) return exist.take_error();
  std::vector<std::size_t> done;
  done.reserve(listed.size());
  std::vector<JournalId> done_ids;
  done_ids.reserve(listed.size());
  for (const std::size_t i : listed) {
    if (!applied[i]) continue;
    done.push_back(i);
    done_ids.push_back(batch[i].id);
  }
  if (Status s = insert_first_history(driver, first_history_of_processed(), done_ids); !s.ok()) {
    return s.take_error();
  }
  Status hist = run_in_chunks(
      driver, history_insert(), done.size(), 5, [&](std::vector<Param>& params, std::size_t k) {
        const CommitView& c = batch[done[k]];
        params.insert(params.end(),
                      {Param::of(c.id), Param::text(to_string(MessageState::received)),
                       Param::text(to_string(c.to)), Param::of(at_us), Param::text(c.detail)});
      });
  if (!hist.ok()) return hist.take_error();
  // Queue items in batch order (entry, then item): their ids ascend in that order.
  std::vector<std::pair<JournalId, const NewQueueItem*>> items;
  for (const std::size_t i : done) {
    for (const NewQueueItem& item : batch[i].items) items.emplace_back(batch[i].id, &item);
  }
  if (Status s = insert_queue_items(driver, items, at_us); !s.ok()) return s.take_error();
  return applied;
}

// Inserts queue items in the given order (their ids ascend in it), one multi-row INSERT per
// chunk, inside the caller's transaction.
Status insert_queue_items(Driver& driver,
                          std::span<const std::pair<JournalId, const NewQueueItem*>> items,
                          std::int64_t at_us) {
  return run_in_chunks(driver, queue_insert(), items.size(), 7,
                       [&](std::vector<Param>& params, std::size_t k) {
                         queue_item_params(params, items[k].first, *items[k].second, at_us);
                       });
}

std::string default_lease_owner() {
  static std::atomic<int> counter{0};
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  return std::string(host.data()) + ":" + std::to_string(getpid()) + ":" +
         std::to_string(counter.fetch_add(1) + 1);
}

}  // namespace

const std::string& duplicates_select_sql(std::size_t rows) { return duplicates_select().sql(rows); }

Store::Store(std::unique_ptr<Driver> driver, std::string lease_owner)
    : driver_(std::move(driver)), lease_owner_(std::move(lease_owner)) {}

Store::~Store() {
  if (depth_ > 0) driver_->rollback();
}

std::string_view Store::backend() const {
  return driver_->dialect() == Dialect::sqlite ? "sqlite" : "postgresql";
}

Dialect Store::dialect() const { return driver_->dialect(); }

Result<Rows> Store::execute(std::string_view sql, std::span<const Param> params) {
  if (depth_ == 0) return Error(StoreErrc::bad_argument, "execute", "not inside a transaction");
  return driver_->query(sql, params);
}

Status Store::execute(std::string_view sql) {
  if (depth_ == 0) return Error(StoreErrc::bad_argument, "execute", "not inside a transaction");
  // SQLite prepares SAVEPOINT and RELEASE once (the driver's statement cache); PostgreSQL cannot
  // prepare them.
  if (driver_->dialect() == Dialect::sqlite) {
    auto rows = driver_->query(sql, {});
    if (!rows.ok()) return rows.take_error();
    return {};
  }
  return driver_->script(sql);
}

Result<Status> Store::under_savepoint(std::string_view name, const std::function<Status()>& body) {
  const std::string savepoint(name);
  if (Status s = execute("SAVEPOINT " + savepoint); !s.ok()) return s.take_error();
  Status result = body();
  if (!result.ok()) {
    if (Status s = execute("ROLLBACK TO SAVEPOINT " + savepoint); !s.ok()) return s.take_error();
  }
  if (Status s = execute("RELEASE SAVEPOINT " + savepoint); !s.ok()) return s.take_error();
  return result;
}

template <class T, class F>
Result<T> Store::in_tx(F&& body) {
  if (depth_ > 0) {  // join the caller's transaction
    if (failed_) return *failed_;
    Result<T> r = body();
    if (!r.ok()) failed_ = r.error();
    return r;
  }
  if (auto s = driver_->begin(); !s.ok()) return s.take_error();
  depth_ = 1;
  failed_.reset();
  Result<T> r = body();
  depth_ = 0;
  if (!r.ok() || failed_) {  // a failed call inside fails the whole transaction
    driver_->rollback();
    end_transaction(false);
    if (!r.ok()) return r;
    return *std::exchange(failed_, std::nullopt);
  }
  if (auto s = driver_->commit(); !s.ok()) {
    driver_->rollback();
    end_transaction(false);
    return s.take_error();
  }
  end_transaction(true);
  return r;
}

Status Store::transact(const std::function<Status()>& body) {
  if (depth_ > 0) {
    Status s = body();
    if (!s.ok() && !failed_) failed_ = s.error();
    return s;
  }
  if (auto s = driver_->begin(); !s.ok()) return s;
  depth_ = 1;
  failed_.reset();
  Status s = body();
  depth_ = 0;
  if (!s.ok() || failed_) {
    driver_->rollback();
    end_transaction(false);
    if (!s.ok()) return s;
    return *std::exchange(failed_, std::nullopt);
  }
  if (auto c = driver_->commit(); !c.ok()) {
    driver_->rollback();
    end_transaction(false);
    return c;
  }
  end_transaction(true);
  return {};
}

void Store::end_transaction(bool committed) {
  if (!recent_) return;
  if (committed) {
    recent_->commit();
  } else {
    recent_->rollback();
  }
}

std::vector<Migration> Store::known_migrations() {
  std::vector<Migration> out;
  for (const auto& step : migration_steps()) out.push_back({step.version, std::string(step.name)});
  return out;
}

Status Store::migrate() {
  if (depth_ > 0) return Error(StoreErrc::bad_argument, "migrate", "not inside a transaction");
  const Dialect dialect = driver_->dialect();
  for (const auto& step : migration_steps()) {
    const bool keys_off = dialect == Dialect::sqlite && step.sqlite_rebuilds_tables;
    if (keys_off) {
      if (Status s = driver_->script("PRAGMA foreign_keys=OFF"); !s.ok()) return s;
    }
    Status s = in_tx<void>([&]() -> Status {
      if (dialect == Dialect::postgres) {
        // Nodes starting together: one migrates, the others wait and then see it applied.
        if (auto r = run(*driver_, "SELECT pg_advisory_xact_lock(4242001)", {}); !r.ok()) {
          return r.take_error();
        }
      }
      if (auto s2 = driver_->script(migrations_table_sql(dialect)); !s2.ok()) return s2;
      auto done = run(*driver_, "SELECT 1 FROM schema_migrations WHERE version = $1",
                      {Param::of(step.version)});
      if (!done.ok()) return done.take_error();
      if (!done->empty()) return {};
      const std::string sql = migration_sql(step, dialect);
      if (auto s2 = driver_->script(sql); !s2.ok()) {
        return Error(StoreErrc::migration_failed, "migration " + std::to_string(step.version),
                     s2.error().message());
      }
      if (keys_off) {
        auto broken = run(*driver_, "PRAGMA foreign_key_check", {});
        if (!broken.ok()) return broken.take_error();
        if (!broken->empty()) {
          return Error(
              StoreErrc::migration_failed, "migration " + std::to_string(step.version),
              "the rebuilt tables break a foreign key (table " + to_str((*broken)[0][0]) + ")");
        }
      }
      auto ins = run(*driver_, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                     {Param::of(step.version), Param::text(step.name)});
      if (!ins.ok()) return ins.take_error();
      return {};
    });
    if (keys_off) {
      Status on = driver_->script("PRAGMA foreign_keys=ON");
      if (s.ok() && !on.ok()) s = on;
    }
    if (!s.ok()) return s;
  }
  return {};
}

Result<std::vector<Migration>> Store::applied_migrations() {
  return in_tx<std::vector<Migration>>([&]() -> Result<std::vector<Migration>> {
    // A new, empty database has no table yet: nothing applied (and the table exists afterwards).
    if (Status s = driver_->script(migrations_table_sql(driver_->dialect())); !s.ok())
      return s.take_error();
    auto rows = run(*driver_, "SELECT version, name FROM schema_migrations ORDER BY version", {});
    if (!rows.ok()) return rows.take_error();
    std::vector<Migration> out;
    for (auto& row : *rows) out.push_back({static_cast<int>(to_int(row[0])), to_str(row[1])});
    return out;
  });
}

Result<std::vector<JournalId>> Store::append(std::span<const NewJournalEntry> batch) {
  if (batch.empty()) return std::vector<JournalId>{};
  return in_tx<std::vector<JournalId>>([&]() -> Result<std::vector<JournalId>> {
    std::vector<JournalId> ids;
    ids.reserve(batch.size());
    std::vector<std::string> hashes(batch.size());  // computed here when not given
    auto hash_of = [&](std::size_t i) -> const std::string& {
      return batch[i].content_hash.empty() ? hashes[i] : batch[i].content_hash;
    };
    const Dialect dialect = driver_->dialect();
    Status s = run_in_chunks(
        *driver_, journal_insert(), batch.size(), 13,
        [&](std::vector<Param>& params, std::size_t i) {
          const NewJournalEntry& e = batch[i];
          if (e.content_hash.empty()) hashes[i] = sha256_hex(e.raw);
          params.insert(
              params.end(),
              {Param::text(e.source), Param::text(e.peer), Param::of(to_us(e.received_at)),
               Param::text(e.message_type), Param::text(e.trigger_event), Param::text(e.control_id),
               Param::text(e.sending_application), Param::text(e.sending_facility),
               Param::of(static_cast<std::int64_t>(e.raw.size())), Param::text(hash_of(i)),
               Param::text(to_string(e.state)), Param::text(e.error), Param::blob(e.raw)});
        },
        [&](std::size_t first, std::size_t rows, const Rows& inserted) -> Status {
          // The rows of one INSERT get ascending ids in VALUES order. SQLite: consecutive under
          // the write lock, so the last one gives them all. PostgreSQL: the identity is drawn row
          // by row, and RETURNING's order is not promised, so sort.
          if (dialect == Dialect::sqlite) {
            auto last = driver_->query("SELECT last_insert_rowid()", {});
            if (!last.ok()) return last.take_error();
            if (last->size() != 1) return bad_data("journal.id");
            const std::int64_t last_id = to_int((*last)[0][0]);
            for (std::size_t i = 0; i < rows; ++i) {
              ids.push_back(last_id - static_cast<std::int64_t>(rows - 1 - i));
            }
          } else {
            if (inserted.size() != rows) return bad_data("journal.id");
            for (const auto& row : inserted) ids.push_back(to_int(row[0]));
            std::sort(ids.begin() + static_cast<std::ptrdiff_t>(first), ids.end());
          }
          // No history row: the first is written at the entry's first change
          // (insert_first_history).
          if (recent_) {
            for (std::size_t i = first; i < first + rows; ++i) {
              const NewJournalEntry& e = batch[i];
              if (e.control_id.empty()) continue;  // never a duplicate candidate
              recent_->stage(detail::RecentEntries::fingerprint(e.source, e.control_id, hash_of(i)),
                             ids[i], to_us(e.received_at));
            }
          }
          return {};
        });
    if (!s.ok()) return s.take_error();
    return ids;
  });
}

Result<std::optional<JournalEntry>> Store::get(JournalId id) {
  return in_tx<std::optional<JournalEntry>>([&]() -> Result<std::optional<JournalEntry>> {
    auto rows =
        run(*driver_, "SELECT " + std::string(kJournalColumns) + ", raw FROM journal WHERE id = $1",
            {Param::of(id)});
    if (!rows.ok()) return rows.take_error();
    if (rows->empty()) return std::optional<JournalEntry>{};
    auto e = journal_from_row((*rows)[0], true);
    if (!e.ok()) return e.take_error();
    return std::optional<JournalEntry>(std::move(*e));
  });
}

Result<std::optional<JournalId>> Store::find_duplicate(const DuplicateQuery& query) {
  auto found = find_duplicates(std::span(&query, 1));
  if (!found.ok()) return found.take_error();
  return found->front();
}

Result<std::vector<std::optional<JournalId>>> Store::find_duplicates(
    std::span<const DuplicateQuery> queries) {
  using Found = std::vector<std::optional<JournalId>>;
  if (queries.empty()) return Found{};
  return in_tx<Found>([&]() -> Result<Found> {
    Found found(queries.size());
    // SQLite with remember_recent: look-ups inside the window from memory, the rest from SQL.
    std::vector<std::size_t> to_read;  // index of each query the journal answers
    if (recent_) {
      recent_->advance(to_us(Clock::now()));
      std::optional<Error> failed;
      for (std::size_t k = 0; k < queries.size() && !failed; ++k) {
        const DuplicateQuery& q = queries[k];
        const std::int64_t since = to_us(q.since);
        if (since < recent_->horizon_from_us()) {
          to_read.push_back(k);
          continue;
        }
        const std::uint64_t fp =
            detail::RecentEntries::fingerprint(q.source, q.control_id, q.content_hash);
        // A fingerprint match is confirmed against the row (64-bit hashes may collide).
        auto confirm = [&](JournalId id) {
          if (failed) return false;
          auto row = run(*driver_,
                         "SELECT 1 FROM journal WHERE id = $1 AND source = $2 AND control_id = $3 "
                         "AND content_hash = $4",
                         {Param::of(id), Param::text(q.source), Param::text(q.control_id),
                          Param::text(q.content_hash)});
          if (!row.ok()) failed = row.error();
          return row.ok() && !row->empty();
        };
        found[k] = recent_->find(fp, since, q.before_id, confirm);
      }
      if (failed) return *failed;
    } else {
      to_read.resize(queries.size());
      for (std::size_t k = 0; k < queries.size(); ++k) to_read[k] = k;
    }
    // Each VALUES row carries its index in to_read, which its result row names.
    Status s = run_in_chunks(
        *driver_, duplicates_select(), to_read.size(), 6,
        [&](std::vector<Param>& params, std::size_t k) {
          const DuplicateQuery& q = queries[to_read[k]];
          params.insert(params.end(), {Param::of(static_cast<std::int64_t>(k)),
                                       Param::text(q.source), Param::text(q.control_id),
                                       Param::text(q.content_hash), Param::of(to_us(q.since)),
                                       Param::of(std::max<JournalId>(q.before_id, 0))});
        },
        [&](std::size_t first, std::size_t rows, const Rows& result) -> Status {
          if (result.size() != rows) return bad_data("duplicates");
          for (const Row& row : result) {
            const std::int64_t k = to_int(row[0]);
            if (k < static_cast<std::int64_t>(first) ||
                k >= static_cast<std::int64_t>(first + rows)) {
              return bad_data("duplicates");
            }
            if (row[1]) found[to_read[static_cast<std::size_t>(k)]] = to_int(row[1]);
          }
          return {};
        });
    if (!s.ok()) return s.take_error();
    return found;
  });
}

Status Store::remember_recent(std::chrono::seconds horizon, std::size_t limit) {
  if (driver_->dialect() != Dialect::sqlite || horizon.count() <= 0) return {};
  if (depth_ > 0)
    return Error(StoreErrc::bad_argument, "remember_recent", "not inside a transaction");
  // A minute more than asked: the caller's `since` is computed from its own clock reading, a
  // little before this store's, and must not fall just outside.
  const auto kept =
      std::chrono::duration_cast<std::chrono::microseconds>(horizon) + std::chrono::minutes(1);
  auto recent =
      std::make_unique<detail::RecentEntries>(kept.count(), std::max<std::size_t>(limit, 1));
  recent->advance(to_us(Clock::now()));
  // The journal has no index on received_at_us (migration 7): ids follow commit order, which
  // follows the receiving closely, so the window is read newest first by id, a page at a time,
  // until a whole page is older than the window by more than a minute (an entry committed late,
  // or a clock set back, does not end the read early) or the memory's limit is reached.
  constexpr std::int64_t kPage = 4096;
  const std::int64_t stop_before_us =
      recent->horizon_from_us() -
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::minutes(1)).count();
  Rows newest_first;
  Status read = in_tx<void>([&]() -> Status {
    std::int64_t below = std::numeric_limits<std::int64_t>::max();
    for (;;) {
      auto page = run(*driver_,
                      "SELECT id, source, control_id, content_hash, received_at_us FROM journal "
                      "WHERE id < $1 ORDER BY id DESC LIMIT $2",
                      {Param::of(below), Param::of(kPage)});
      if (!page.ok()) return page.take_error();
      if (!page->empty()) below = to_int(page->back()[0]);  // read before rows move out
      bool inside = false;
      for (Row& row : *page) {
        const std::int64_t at_us = to_int(row[4]);
        inside = inside || at_us >= stop_before_us;
        if (at_us >= recent->horizon_from_us() && row[2] && !row[2]->empty()) {
          newest_first.push_back(std::move(row));
        }
      }
      if (page->size() < static_cast<std::size_t>(kPage) || !inside ||
          newest_first.size() >= limit) {
        return {};
      }
    }
  });
  if (!read.ok()) return read;
  for (auto row = newest_first.rbegin(); row != newest_first.rend(); ++row) {
    recent->add(
        detail::RecentEntries::fingerprint(to_str((*row)[1]), to_str((*row)[2]), to_str((*row)[3])),
        to_int((*row)[0]), to_int((*row)[4]));
  }
  recent_ = std::move(recent);
  return {};
}

DuplicateMemory Store::duplicate_memory() const {
  if (!recent_) return {};
  return DuplicateMemory{true, recent_->size(), recent_->evicted()};
}

WalCheckpoints Store::wal_checkpoints() const { return driver_->wal_checkpoints(); }

Status Store::set_state(JournalId id, MessageState to, std::string_view detail, TimePoint at) {
  return in_tx<void>([&]() -> Status {
    const bool pg = driver_->dialect() == Dialect::postgres;
    auto rows = run(*driver_,
                    pg ? "SELECT state FROM journal WHERE id = $1 FOR UPDATE"
                       : "SELECT state FROM journal WHERE id = $1",
                    {Param::of(id)});
    if (!rows.ok()) return rows.take_error();
    if (rows->empty()) {
      return Error(StoreErrc::not_found, "journal " + std::to_string(id), "no such entry");
    }
    const std::string from = to_str((*rows)[0][0]);
    if (Status s = insert_first_history(*driver_, first_history_before_change(), std::array{id});
        !s.ok())
      return s;
    const bool is_error = to == MessageState::errored || to == MessageState::rejected;
    const std::int64_t at_us = to_us(at);
    auto upd =
        run(*driver_, "UPDATE journal SET state = $2, error = $3, updated_at_us = $4 WHERE id = $1",
            {Param::of(id), Param::text(to_string(to)),
             Param::text(is_error ? detail : std::string_view()), Param::of(at_us)});
    if (!upd.ok()) return upd.take_error();
    auto hist = run(*driver_, history_insert().values.sql(1),
                    {Param::of(id), Param::text(from), Param::text(to_string(to)), Param::of(at_us),
                     Param::text(detail)});
    if (!hist.ok()) return hist.take_error();
    return {};
  });
}

Result<std::vector<StateChange>> Store::history(JournalId id) {
  return in_tx<std::vector<StateChange>>([&]() -> Result<std::vector<StateChange>> {
    auto rows = run(*driver_,
                    "SELECT journal_id, from_state, to_state, at_us, detail FROM journal_history "
                    "WHERE journal_id = $1 ORDER BY id",
                    {Param::of(id)});
    if (!rows.ok()) return rows.take_error();
    std::vector<StateChange> out;
    if (rows->empty()) {  // never changed: the append, from the journal row
      rows =
          run(*driver_, "SELECT id, NULL, state, received_at_us, error FROM journal WHERE id = $1",
              {Param::of(id)});
      if (!rows.ok()) return rows.take_error();
    }
    for (auto& row : *rows) {
      StateChange c;
      c.journal_id = to_int(row[0]);
      if (row[1]) {
        c.from = parse_message_state(*row[1]);
        if (!c.from) return bad_data("journal_history.from_state");
      }
      auto to = parse_message_state(row[2] ? *row[2] : "");
      if (!to) return bad_data("journal_history.to_state");
      c.to = *to;
      c.at = from_us(to_int(row[3]));
      c.detail = to_str(row[4]);
      out.push_back(std::move(c));
    }
    return out;
  });
}

Result<std::int64_t> Store::reprocess(JournalId id, TimePoint at, std::string_view detail) {
  return in_tx<std::int64_t>([&]() -> Result<std::int64_t> {
    const bool pg = driver_->dialect() == Dialect::postgres;
    auto rows = run(*driver_,
                    pg ? "SELECT state FROM journal WHERE id = $1 FOR UPDATE"
                       : "SELECT state FROM journal WHERE id = $1",
                    {Param::of(id)});
    if (!rows.ok()) return rows.take_error();
    if (rows->empty()) {
      return Error(StoreErrc::not_found, "journal " + std::to_string(id), "no such entry");
    }
    const std::string from = to_str((*rows)[0][0]);
    if (from != to_string(MessageState::errored) && from != to_string(MessageState::filtered)) {
      return std::int64_t{0};
    }
    if (Status s = insert_first_history(*driver_, first_history_before_change(), std::array{id});
        !s.ok()) {
      return s.take_error();
    }
    const std::int64_t at_us = to_us(at);
    auto upd = run(*driver_,
                   "UPDATE journal SET state = 'received', error = '', updated_at_us = $2 "
                   "WHERE id = $1 AND state = $3 RETURNING id",
                   {Param::of(id), Param::of(at_us), Param::text(from)});
    if (!upd.ok()) return upd.take_error();
    if (upd->empty()) return std::int64_t{0};
    auto hist =
        run(*driver_, history_insert().values.sql(1),
            {Param::of(id), Param::text(from), Param::text(to_string(MessageState::received)),
             Param::of(at_us), Param::text(detail)});
    if (!hist.ok()) return hist.take_error();
    return std::int64_t{1};
  });
}

Result<std::vector<bool>> Store::still_received(std::span<const JournalId> ids) {
  return in_tx<std::vector<bool>>([&]() -> Result<std::vector<bool>> {
    std::vector<bool> out(ids.size(), false);
    Status s = for_id_chunks(*driver_, received_ids_select(driver_->dialect()), {}, ids,
                             [&](std::span<const std::int64_t>, const Rows& rows) -> Status {
                               for (const Row& row : rows) {
                                 const std::int64_t id = to_int(row[0]);
                                 for (std::size_t i = 0; i < ids.size(); ++i) {
                                   if (ids[i] == id) out[i] = true;
                                 }
                               }
                               return {};
                             });
    if (!s.ok()) return s.take_error();
    return out;
  });
}

Result<std::vector<StateCount>> Store::journal_counts() {
  return in_tx<std::vector<StateCount>>([&]() -> Result<std::vector<StateCount>> {
    auto rows = run(*driver_,
                    "SELECT source, state, COUNT(*) FROM journal GROUP BY source, state "
                    "ORDER BY source, state",
                    {});
    if (!rows.ok()) return rows.take_error();
    std::vector<StateCount> out;
    out.reserve(rows->size());
    for (auto& row : *rows) {
      auto state = parse_message_state(row[1] ? *row[1] : "");
      if (!state) return bad_data("journal.state");
      out.push_back({to_str(row[0]), *state, to_int(row[2])});
    }
    return out;
  });
}

Result<std::vector<JournalEntry>> Store::unprocessed(std::size_t limit) {
  JournalFilter filter;
  filter.state = MessageState::received;
  filter.limit = limit;
  filter.with_raw = true;
  return list(filter);
}

Result<std::vector<JournalEntry>> Store::list(const JournalFilter& filter) {
  return in_tx<std::vector<JournalEntry>>([&]() -> Result<std::vector<JournalEntry>> {
    std::string sql = "SELECT " + std::string(kJournalColumns);
    if (filter.with_raw) sql += ", raw";
    sql += " FROM journal WHERE id > $1";
    std::vector<Param> params{Param::of(filter.after_id)};
    auto add = [&](std::string_view condition, Param p) {
      params.push_back(p);
      sql += " AND ";
      sql += condition;
      sql += " $" + std::to_string(params.size());
    };
    // The state as a literal (one of five names): SQLite uses a partial index only when the
    // query names its value (migration 6).
    if (filter.state) sql.append(" AND state = '").append(to_string(*filter.state)).append("'");
    if (filter.source) add("source =", Param::text(*filter.source));
    if (filter.control_id) add("control_id =", Param::text(*filter.control_id));
    if (filter.received_from) add("received_at_us >=", Param::of(to_us(*filter.received_from)));
    if (filter.received_until) add("received_at_us <", Param::of(to_us(*filter.received_until)));
    params.push_back(Param::of(static_cast<std::int64_t>(filter.limit)));
    sql += " ORDER BY id LIMIT $" + std::to_string(params.size());
    // Unprepared: the processor's scan for `received` entries must follow journal_state_idx
    // (state, id) from the last id on, and a generic plan chosen on a new journal may instead
    // read every entry in that state (through the primary key or, before migration 9, the
    // separate stats index) and sort them.
    auto rows = driver_->query_unprepared(sql, params);
    if (!rows.ok()) return rows.take_error();
    std::vector<JournalEntry> out;
    out.reserve(rows->size());
    for (auto& row : *rows) {
      auto e = journal_from_row(row, filter.with_raw);
      if (!e.ok()) return e.take_error();
      out.push_back(std::move(*e));
    }
    return out;
  });
}

Result<QueueItemId> Store::enqueue(const NewQueueItem& item, JournalId journal_id, TimePoint now) {
  if (item.destination.empty()) {
    return Error(StoreErrc::bad_argument, "enqueue", "empty destination");
  }
  return in_tx<QueueItemId>([&]() -> Result<QueueItemId> {
    static const std::string sql = queue_insert().values.sql(1) + " RETURNING id";
    std::vector<Param> params;
    queue_item_params(params, journal_id, item, to_us(now));
    auto rows = driver_->query(sql, params);
    if (!rows.ok()) return rows.take_error();
    if (rows->size() != 1) return bad_data("queue_items.id");
    return to_int((*rows)[0][0]);
  });
}

Result<bool> Store::commit_processing(JournalId id, MessageState to, std::string_view detail,
                                      TimePoint at, std::span<const NewQueueItem> items) {
  return in_tx<bool>([&]() -> Result<bool> {
    const CommitView view{id, to, detail, items};
    auto applied = commit_views(*driver_, std::span(&view, 1), at);
    if (!applied.ok()) return applied.take_error();
    return bool{(*applied)[0]};
  });
}

Result<std::vector<bool>> Store::commit_processing_batch(std::span<const ProcessingCommit> batch,
                                                         TimePoint at) {
  if (batch.empty()) return std::vector<bool>{};
  return in_tx<std::vector<bool>>([&]() -> Result<std::vector<bool>> {
    std::vector<CommitView> views;
    views.reserve(batch.size());
    for (const ProcessingCommit& c : batch) views.push_back({c.id, c.to, c.detail, c.items});
    return commit_views(*driver_, views, at);
  });
}

Status Store::enqueue_batch(std::span<const JournalQueueItems> batch, TimePoint now) {
  std::vector<std::pair<JournalId, const NewQueueItem*>> items;
  for (const JournalQueueItems& b : batch) {
    for (const NewQueueItem& item : b.items) {
      if (item.destination.empty()) {
        return Error(StoreErrc::bad_argument, "enqueue", "empty destination");
      }
      items.emplace_back(b.journal_id, &item);
    }
  }
  if (items.empty()) return {};
  return in_tx<void>([&]() -> Status { return insert_queue_items(*driver_, items, to_us(now)); });
}

Result<std::vector<QueueItem>> Store::next_due_batch(std::string_view destination, TimePoint now,
                                                     std::chrono::milliseconds lease,
                                                     std::size_t max) {
  if (max == 0) return std::vector<QueueItem>{};
  return in_tx<std::vector<QueueItem>>([&]() -> Result<std::vector<QueueItem>> {
    const std::int64_t now_us = to_us(now);
    auto claimable = [&](const QueueItem& q) {
      return q.status == QueueItemStatus::pending && to_us(q.not_before) <= now_us &&
             (q.lease_owner.empty() || q.lease_owner == lease_owner_ ||
              to_us(q.lease_until) <= now_us);
    };
    // The destination's head: its lowest pending ids, in order. (Unprepared, like the statements
    // of for_id_chunks: queue_items_pending_idx gives them in order at any size of the queue.)
    const std::int64_t limit =
        static_cast<std::int64_t>(std::min<std::size_t>(max, std::numeric_limits<int>::max()));
    auto head =
        run_unprepared(*driver_,
                       "SELECT " + std::string(kQueueColumns) +
                           " FROM queue_items WHERE destination = $1 AND status = 'pending' "
                           "ORDER BY id LIMIT $2",
                       {Param::text(destination), Param::of(limit)});
    if (!head.ok()) return head.take_error();
    auto items = queue_items_from_rows(*head);
    if (!items.ok()) return items.take_error();
    std::size_t n = 0;  // the claimable prefix: the first item that is not ends the batch
    while (n < items->size() && claimable((*items)[n])) ++n;
    items->resize(n);
    if (n == 0) return std::move(*items);
    if (driver_->dialect() == Dialect::postgres) {
      // Lock what was read. A row another claimer holds is skipped rather than waited for, and a
      // row changed since the read comes back as it is now (or not at all): the batch ends at the
      // first row that is not exactly the next head item and still claimable.
      auto locked = run_unprepared(
          *driver_,
          "SELECT " + std::string(kQueueColumns) +
              " FROM queue_items WHERE destination = $1 AND status = 'pending' "
              "AND id >= $2 AND id <= $3 ORDER BY id FOR UPDATE SKIP LOCKED",
          {Param::text(destination), Param::of(items->front().id), Param::of(items->back().id)});
      if (!locked.ok()) return locked.take_error();
      auto fresh = queue_items_from_rows(*locked);
      if (!fresh.ok()) return fresh.take_error();
      std::size_t k = 0;
      while (k < n && k < fresh->size() && (*fresh)[k].id == (*items)[k].id &&
             claimable((*fresh)[k])) {
        ++k;
      }
      fresh->resize(k);
      *items = std::move(*fresh);
      if (items->empty()) return std::move(*items);
    }
    const std::int64_t until_us =
        now_us + std::chrono::duration_cast<std::chrono::microseconds>(lease).count();
    std::vector<QueueItemId> ids;
    ids.reserve(items->size());
    for (const QueueItem& item : *items) ids.push_back(item.id);
    Status leased =
        for_id_chunks(*driver_, lease_update(), {Param::text(lease_owner_), Param::of(until_us)},
                      ids, [](std::span<const QueueItemId>, const Rows&) { return Status{}; });
    if (!leased.ok()) return leased.take_error();
    for (auto& item : *items) {
      item.lease_owner = lease_owner_;
      item.lease_until = from_us(until_us);
    }
    return std::move(*items);
  });
}

Result<std::optional<QueueItem>> Store::next_due(std::string_view destination, TimePoint now,
                                                 std::chrono::milliseconds lease) {
  auto batch = next_due_batch(destination, now, lease, 1);
  if (!batch.ok()) return batch.take_error();
  if (batch->empty()) return std::optional<QueueItem>{};
  return std::optional<QueueItem>(std::move(batch->front()));
}

namespace {

// Runs an UPDATE ... WHERE id = $1 AND <pending and leased by $2> RETURNING id and turns "no
// row" into lease_lost. The id is the only condition an index can answer (kLeasedBy), and the
// statement is planned at each run like those of for_id_chunks.
Status leased_update(Driver& driver, const QueueItem& item, const std::string& owner,
                     std::string_view set_clause, Param p3, Param p4) {
  const std::string sql = "UPDATE queue_items SET " + std::string(set_clause) +
                          ", lease_owner = NULL, lease_until_us = NULL WHERE id = $1 AND " +
                          std::string(kLeasedBy) + " RETURNING id";
  auto rows = run_unprepared(driver, sql, {Param::of(item.id), Param::text(owner), p3, p4});
  if (!rows.ok()) return rows.take_error();
  if (rows->empty()) {
    return Error(StoreErrc::lease_lost, "queue item " + std::to_string(item.id),
                 "not pending or not leased by this store");
  }
  return {};
}

}  // namespace

Status Store::mark_delivered(const QueueItem& item, TimePoint at) {
  return mark_delivered_batch(std::span(&item, 1), at);
}

Status Store::mark_delivered_batch(std::span<const QueueItem> items, TimePoint at) {
  if (items.empty()) return {};
  return in_tx<void>([&]() -> Status {
    // Ascending ids: two stores never lock the same rows in opposite orders.
    std::vector<QueueItemId> ids;
    ids.reserve(items.size());
    for (const QueueItem& item : items) ids.push_back(item.id);
    std::sort(ids.begin(), ids.end());
    if (auto twice = std::adjacent_find(ids.begin(), ids.end()); twice != ids.end()) {
      return Error(StoreErrc::lease_lost, "queue item " + std::to_string(*twice),
                   "listed twice in one mark_delivered_batch");
    }
    return for_id_chunks(
        *driver_, delivered_update(), {Param::of(to_us(at)), Param::text(lease_owner_)}, ids,
        [](std::span<const QueueItemId> chunk, const Rows& updated) -> Status {
          if (updated.size() == chunk.size()) return {};
          // Name the first that was not updated; the caller's transaction rolls the rest back.
          const QueueItemId lost = first_missing(chunk, updated).value_or(chunk.front());
          return Error(StoreErrc::lease_lost, "queue item " + std::to_string(lost),
                       "not pending or not leased by this store");
        });
  });
}

Status Store::mark_retry(const QueueItem& item, TimePoint next_at, std::string_view error) {
  return in_tx<void>([&]() -> Status {
    return leased_update(*driver_, item, lease_owner_,
                         "attempts = attempts + 1, not_before_us = $3, last_error = $4",
                         Param::of(to_us(next_at)), Param::text(error));
  });
}

Status Store::mark_dead(const QueueItem& item, std::string_view error, TimePoint at) {
  return in_tx<void>([&]() -> Status {
    return leased_update(*driver_, item, lease_owner_,
                         "status = 'dead', attempts = attempts + 1, dead_at_us = $3, "
                         "last_error = $4",
                         Param::of(to_us(at)), Param::text(error));
  });
}

Result<std::int64_t> Store::requeue_dead(const DeadLetterFilter& filter, TimePoint now) {
  return in_tx<std::int64_t>([&]() -> Result<std::int64_t> {
    std::string sql =
        "UPDATE queue_items SET status = 'pending', attempts = 0, not_before_us = $1, "
        "dead_at_us = NULL WHERE status = 'dead'";
    std::vector<Param> params{Param::of(to_us(now))};
    if (filter.destination) {
      params.push_back(Param::text(*filter.destination));
      sql += " AND destination = $" + std::to_string(params.size());
    }
    if (filter.id) {
      params.push_back(Param::of(*filter.id));
      sql += " AND id = $" + std::to_string(params.size());
    }
    if (filter.journal_id) {
      params.push_back(Param::of(*filter.journal_id));
      sql += " AND journal_id = $" + std::to_string(params.size());
    }
    sql += " RETURNING id";
    auto rows = driver_->query(sql, params);
    if (!rows.ok()) return rows.take_error();
    return static_cast<std::int64_t>(rows->size());
  });
}

Result<QueueStats> Store::queue_stats(std::string_view destination, TimePoint now) {
  return in_tx<QueueStats>([&]() -> Result<QueueStats> {
    // Each part reads only its own status's range of queue_items_summary_idx (destination,
    // status, enqueued_at_us), never the delivered items; the oldest is that range's first
    // entry. The counts still read every pending or dead item: Delivery spaces its calls by
    // how long they take.
    auto rows = run_unprepared(
        *driver_,
        "SELECT (SELECT COUNT(*) FROM queue_items WHERE destination = $1 AND status = 'pending'), "
        "(SELECT MIN(enqueued_at_us) FROM queue_items WHERE destination = $1 AND status = "
        "'pending'), (SELECT COUNT(*) FROM queue_items WHERE destination = $1 AND status = 'dead')",
        {Param::text(destination)});
    if (!rows.ok()) return rows.take_error();
    QueueStats stats;
    if (rows->empty()) return stats;
    auto& row = (*rows)[0];
    stats.depth = to_int(row[0]);
    if (row[1]) stats.oldest_age = std::chrono::microseconds(to_us(now) - to_int(row[1]));
    stats.dead = to_int(row[2]);
    return stats;
  });
}

Result<std::optional<QueueItem>> Store::get_queue_item(QueueItemId id) {
  return in_tx<std::optional<QueueItem>>([&]() -> Result<std::optional<QueueItem>> {
    auto rows =
        run(*driver_, "SELECT " + std::string(kQueueColumns) + " FROM queue_items WHERE id = $1",
            {Param::of(id)});
    if (!rows.ok()) return rows.take_error();
    if (rows->empty()) return std::optional<QueueItem>{};
    auto item = queue_from_row((*rows)[0]);
    if (!item.ok()) return item.take_error();
    return std::optional<QueueItem>(std::move(*item));
  });
}

Result<std::vector<QueueItem>> Store::list_queue(const QueueFilter& filter) {
  return in_tx<std::vector<QueueItem>>([&]() -> Result<std::vector<QueueItem>> {
    std::string sql = "SELECT ";
    sql += filter.with_payload ? kQueueColumns : kQueueColumnsNoPayload;
    sql += " FROM queue_items WHERE id > $1";
    std::vector<Param> params{Param::of(filter.after_id)};
    auto add = [&](std::string_view condition, Param p) {
      params.push_back(p);
      sql += " AND ";
      sql += condition;
      sql += " $" + std::to_string(params.size());
    };
    if (filter.destination) add("destination =", Param::text(*filter.destination));
    if (filter.status) add("status =", Param::text(to_string(*filter.status)));
    if (filter.id) add("id =", Param::of(*filter.id));
    if (filter.journal_id) add("journal_id =", Param::of(*filter.journal_id));
    const std::int64_t limit = static_cast<std::int64_t>(
        std::min<std::size_t>(filter.limit, std::numeric_limits<std::int64_t>::max()));
    params.push_back(Param::of(limit));
    sql += " ORDER BY id LIMIT $" + std::to_string(params.size());
    auto rows = driver_->query(sql, params);
    if (!rows.ok()) return rows.take_error();
    return queue_items_from_rows(*rows);
  });
}

Result<std::vector<DestinationStats>> Store::queue_summary(TimePoint now) {
  return in_tx<std::vector<DestinationStats>>([&]() -> Result<std::vector<DestinationStats>> {
    // Reads only queue_items_summary_idx (destination, status, enqueued_at_us).
    auto rows = run(*driver_,
                    "SELECT destination, status, COUNT(*), MIN(enqueued_at_us) FROM queue_items "
                    "GROUP BY destination, status ORDER BY destination",
                    {});
    if (!rows.ok()) return rows.take_error();
    std::vector<DestinationStats> out;
    const std::int64_t now_us = to_us(now);
    for (auto& row : *rows) {
      std::string destination = to_str(row[0]);
      if (out.empty() || out.back().destination != destination) {
        out.push_back(DestinationStats{std::move(destination), 0, 0, 0, std::nullopt});
      }
      DestinationStats& stats = out.back();
      auto status = parse_queue_status(row[1] ? *row[1] : "");
      if (!status) return bad_data("queue_items.status");
      const std::int64_t count = to_int(row[2]);
      switch (*status) {
        case QueueItemStatus::pending:
          stats.pending = count;
          if (row[3]) stats.oldest_pending_age = std::chrono::microseconds(now_us - to_int(row[3]));
          break;
        case QueueItemStatus::delivered:
          stats.delivered = count;
          break;
        case QueueItemStatus::dead:
          stats.dead = count;
          break;
      }
    }
    return out;
  });
}

Result<std::unique_ptr<Store>> open_store(std::string_view url, const OpenOptions& options) {
  Result<std::unique_ptr<Driver>> driver = Error(StoreErrc::bad_url, "store", "");
  if (url.starts_with("sqlite:")) {
    driver = open_sqlite_driver(url.substr(7), options);
  } else if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    driver = open_postgres_driver(url, options);
  } else {
    return Error(StoreErrc::bad_url, "store",
                 "expected sqlite:PATH or postgresql://USER@HOST:PORT/DB");
  }
  if (!driver.ok()) return driver.take_error();
  auto store = std::make_unique<Store>(std::move(*driver), options.lease_owner.empty()
                                                               ? default_lease_owner()
                                                               : options.lease_owner);
  if (options.migrate) {
    if (auto s = store->migrate(); !s.ok()) return s.take_error();
  }
  if (options.duplicate_horizon.count() > 0) {
    if (auto s = store->remember_recent(options.duplicate_horizon, options.duplicate_memory_limit);
        !s.ok()) {
      return s.take_error();
    }
  }
  return store;
}

}  // namespace hims::store

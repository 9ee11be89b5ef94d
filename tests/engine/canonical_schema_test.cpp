// The canonical HIMS schema (migration 4: mappings/schema/{sqlite,postgresql}/0004_canonical.sql)
// on both backends: it applies on a new database and on one at version 3; both dialects have the
// same catalog (tables, columns in order, NOT NULLs, CHECK literals, unique keys, foreign keys);
// CHECKs and foreign keys reject bad rows; every natural key is unique; ON CONFLICT upserts work.
// Migration 5 (SQLite: CHECK value lists as OR chains) on a new database and on one at version 4.
// PostgreSQL cases need HIMS_TEST_POSTGRES_URL (scripts/pg-throwaway.sh) and are skipped without.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "engine/store.hpp"
#include "engine/store_driver.hpp"
#include "tests/support/test_store.hpp"

namespace hims::store {
namespace {

using test::Backend;

constexpr int kCanonicalVersion = 4;
constexpr int kCheckListsVersion = 5;

const std::vector<std::string> kCanonicalTables = {"appointments",
                                                   "audit_log",
                                                   "billing_records",
                                                   "claim_items",
                                                   "claims",
                                                   "consultations",
                                                   "data_access_logs",
                                                   "domain_events",
                                                   "eligibility_requests",
                                                   "healthcare_providers",
                                                   "insurance_providers",
                                                   "lab_orders",
                                                   "lab_results",
                                                   "medical_conditions",
                                                   "medical_records",
                                                   "notifications",
                                                   "organizations",
                                                   "patient_identifiers",
                                                   "patient_insurance",
                                                   "patients",
                                                   "payment_allocations",
                                                   "payments",
                                                   "prescriptions",
                                                   "system_config",
                                                   "users",
                                                   "vitals"};

bool is_canonical(const std::string& table) {
  return std::find(kCanonicalTables.begin(), kCanonicalTables.end(), table) !=
         kCanonicalTables.end();
}

// A lower-case canonical UUID, distinct per n.
std::string uuid(int n) {
  char text[40];
  std::snprintf(text, sizeof text, "00000000-0000-4000-8000-%012d", n);
  return text;
}

// The rows every test starts from (their ids are fixed).
const std::string kUser = uuid(1);
const std::string kPatient = uuid(2);
const std::string kPatient2 = uuid(3);
const std::string kProvider = uuid(4);
const std::string kOrganization = uuid(5);
const std::string kInsurer = uuid(6);
const std::string kCoverage = uuid(7);
const std::string kLabOrder = uuid(8);
const std::string kLabResult = uuid(9);
const std::string kAppointment = uuid(10);
const std::string kClaim = uuid(11);
const std::string kPayment = uuid(12);
const std::string kAllocation = uuid(13);

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string cell(const Cell& c) { return c.value_or("NULL"); }

// One statement in its own transaction (PostgreSQL aborts a transaction at its first error).
Result<Rows> exec(Driver& driver, std::string_view sql, const std::vector<Param>& params = {}) {
  if (auto s = driver.begin(); !s.ok()) return s.take_error();
  auto rows = driver.query(sql, params);
  if (!rows.ok()) {
    driver.rollback();
    return rows;
  }
  if (auto s = driver.commit(); !s.ok()) return s.take_error();
  return rows;
}

std::vector<Param> texts(const std::vector<std::string>& values) {
  std::vector<Param> params;
  for (const auto& v : values) params.push_back(Param::text(v));
  return params;
}

// A SQL connection straight to a throwaway database (the Store opens its own).
std::unique_ptr<Driver> open_driver(const test::ThrowawayStore& db) {
  auto driver = db.backend() == Backend::sqlite ? open_sqlite_driver(db.sqlite_path().string(), {})
                                                : open_postgres_driver(db.url(), {});
  EXPECT_TRUE(driver.ok()) << driver.error().message();
  return driver.ok() ? std::move(*driver) : nullptr;
}

// --- the catalog, read the same way from both dialects ---

struct Catalog {
  std::map<std::string, std::vector<std::string>> columns;  // table -> "name" or "name NOT NULL"
  std::map<std::string, std::vector<std::string>> unique_keys;     // table -> "(a, b)" sorted
  std::map<std::string, std::vector<std::string>> foreign_keys;    // table -> "col -> t (id) ..."
  std::map<std::string, std::vector<std::string>> check_literals;  // table -> literals, sorted
};

// The quoted literals inside every CHECK (...) of `sql` (a CREATE TABLE text or constraint
// definitions), except 'array' (the JSON shape checks, which the dialects place differently).
void add_check_literals(std::string_view sql, std::vector<std::string>& out) {
  for (std::size_t at = sql.find("CHECK ("); at != std::string_view::npos;
       at = sql.find("CHECK (", at + 1)) {
    int depth = 0;
    for (std::size_t i = at + 6; i < sql.size(); ++i) {
      if (sql[i] == '\'') {
        std::string literal;
        for (++i; i < sql.size(); ++i) {
          if (sql[i] == '\'' && i + 1 < sql.size() && sql[i + 1] == '\'') {
            literal.push_back('\'');
            ++i;
          } else if (sql[i] == '\'') {
            break;
          } else {
            literal.push_back(sql[i]);
          }
        }
        if (literal != "array") out.push_back(literal);
      } else if (sql[i] == '(') {
        ++depth;
      } else if (sql[i] == ')' && --depth == 0) {
        break;
      }
    }
  }
}

// Rows of a catalog query (none, and a test failure, when it fails).
Rows catalog_rows(Driver& driver, std::string_view sql) {
  auto rows = exec(driver, sql);
  EXPECT_TRUE(rows.ok()) << sql << "\n" << rows.error().message();
  return rows.ok() ? std::move(*rows) : Rows{};
}

Catalog read_catalog(Driver& driver) {
  Catalog catalog;
  const bool sqlite = driver.dialect() == Dialect::sqlite;
  const Rows columns = catalog_rows(
      driver,
      sqlite ? "SELECT m.name, p.name, p.\"notnull\" OR p.pk > 0 FROM sqlite_master AS m "
               "JOIN pragma_table_xinfo(m.name) AS p WHERE m.type = 'table' ORDER BY m.name, p.cid"
             : "SELECT table_name, column_name, CASE is_nullable WHEN 'NO' THEN 1 ELSE 0 END "
               "FROM information_schema.columns WHERE table_schema = current_schema() "
               "ORDER BY table_name, ordinal_position");
  for (const auto& r : columns) {
    if (!is_canonical(cell(r[0]))) continue;
    catalog.columns[cell(r[0])].push_back(cell(r[1]) + (cell(r[2]) == "1" ? " NOT NULL" : ""));
  }

  const Rows keys = catalog_rows(
      driver,
      sqlite ? "SELECT m.name, il.name, il.partial, ii.name FROM sqlite_master AS m "
               "JOIN pragma_index_list(m.name) AS il JOIN pragma_index_info(il.name) AS ii "
               "WHERE m.type = 'table' AND il.\"unique\" = 1 ORDER BY m.name, il.name, ii.seqno"
             : "SELECT t.relname, ic.relname, (i.indpred IS NOT NULL)::int, "
               "pg_get_indexdef(i.indexrelid, k.n, true) FROM pg_index AS i "
               "JOIN pg_class AS t ON t.oid = i.indrelid JOIN pg_class AS ic ON ic.oid = "
               "i.indexrelid CROSS JOIN LATERAL generate_series(1, i.indnkeyatts) AS k(n) "
               "WHERE t.relnamespace = current_schema()::regnamespace AND i.indisunique "
               "ORDER BY 1, 2, k.n");
  std::map<std::pair<std::string, std::string>, std::string> by_index;
  for (const auto& r : keys) {
    if (!is_canonical(cell(r[0]))) continue;
    std::string& key = by_index[{cell(r[0]), cell(r[1])}];
    if (key.empty()) key = cell(r[2]) == "1" ? "partial " : "";
    key += (key.empty() || key.back() == ' ' ? "" : ", ") + cell(r[3]);
  }
  for (const auto& [table_index, key] : by_index) {
    catalog.unique_keys[table_index.first].push_back(key);
  }

  const Rows fks = catalog_rows(
      driver, sqlite
                  ? "SELECT m.name, f.\"from\", f.\"table\", f.\"to\", f.on_delete "
                    "FROM sqlite_master AS m JOIN pragma_foreign_key_list(m.name) AS f "
                    "WHERE m.type = 'table'"
                  : "SELECT cl.relname, a.attname, rc.relname, ra.attname, CASE c.confdeltype "
                    "WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE' "
                    "WHEN 'n' THEN 'SET NULL' ELSE 'SET DEFAULT' END FROM pg_constraint AS c "
                    "JOIN pg_class AS cl ON cl.oid = c.conrelid JOIN pg_class AS rc ON rc.oid = "
                    "c.confrelid JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = "
                    "c.conkey[1] JOIN pg_attribute AS ra ON ra.attrelid = c.confrelid AND "
                    "ra.attnum = c.confkey[1] WHERE c.contype = 'f' AND "
                    "c.connamespace = current_schema()::regnamespace");
  for (const auto& r : fks) {
    if (!is_canonical(cell(r[0]))) continue;
    catalog.foreign_keys[cell(r[0])].push_back(cell(r[1]) + " -> " + cell(r[2]) + " (" +
                                               cell(r[3]) + ") ON DELETE " + cell(r[4]));
  }

  const Rows checks = catalog_rows(
      driver, sqlite ? "SELECT name, sql FROM sqlite_master WHERE type = 'table'"
                     : "SELECT cl.relname, pg_get_constraintdef(c.oid) FROM pg_constraint AS c "
                       "JOIN pg_class AS cl ON cl.oid = c.conrelid WHERE c.contype = 'c' AND "
                       "c.connamespace = current_schema()::regnamespace");
  for (const auto& r : checks) {
    if (!is_canonical(cell(r[0]))) continue;
    add_check_literals(cell(r[1]), catalog.check_literals[cell(r[0])]);
  }

  for (auto* part : {&catalog.unique_keys, &catalog.foreign_keys, &catalog.check_literals}) {
    for (auto& [table, entries] : *part) std::sort(entries.begin(), entries.end());
  }
  return catalog;
}

// A table's entries in one part of a catalog (none when the table has none).
std::vector<std::string> entries(const std::map<std::string, std::vector<std::string>>& part,
                                 const std::string& table) {
  const auto it = part.find(table);
  return it == part.end() ? std::vector<std::string>{} : it->second;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const MigrationStep& canonical_step() {
  const auto steps = migration_steps();
  const auto it = std::find_if(steps.begin(), steps.end(), [](const MigrationStep& s) {
    return s.version == kCanonicalVersion;
  });
  if (it != steps.end()) return *it;
  ADD_FAILURE() << "no migration " << kCanonicalVersion;
  static const MigrationStep kNone{0, "", ""};
  return kNone;
}

// --- tests without a database ---

TEST(CanonicalSchemaMigration, IsStepFourAfterTheEngineTables) {
  const auto known = Store::known_migrations();
  ASSERT_GE(known.size(), 4u);
  EXPECT_EQ(known[3].version, kCanonicalVersion);
  EXPECT_EQ(known[3].name, "canonical HIMS schema");
  const MigrationStep& step = canonical_step();
  EXPECT_TRUE(step.sql.empty()) << "the dialects share no text";
  EXPECT_FALSE(step.sqlite_sql.empty());
  EXPECT_FALSE(step.postgres_sql.empty());
}

TEST(CanonicalSchemaMigration, EmbedsTheSqlFilesUnchanged) {
  const std::string root = std::string(HIMS_SOURCE_DIR) + "/mappings/schema/";
  const std::string sqlite = read_file(root + "sqlite/0004_canonical.sql");
  const std::string postgres = read_file(root + "postgresql/0004_canonical.sql");
  ASSERT_GT(sqlite.size(), 10000u);
  ASSERT_GT(postgres.size(), 10000u);
  const MigrationStep& step = canonical_step();
  EXPECT_EQ(step.sqlite_sql, sqlite);
  EXPECT_EQ(step.postgres_sql, postgres);
  // No {{id}} / {{bytes}} placeholders: the text runs as written.
  EXPECT_EQ(migration_sql(step, Dialect::sqlite), sqlite);
  EXPECT_EQ(migration_sql(step, Dialect::postgres), postgres);
}

TEST(CheckListsMigration, IsStepFiveForSqliteOnly) {
  const auto steps = migration_steps();
  ASSERT_GE(steps.size(), 5u);
  const MigrationStep& step = steps[4];
  EXPECT_EQ(step.version, kCheckListsVersion);
  EXPECT_TRUE(step.sql.empty());
  EXPECT_TRUE(step.postgres_sql.empty()) << "PostgreSQL compares IN lists without a scratch index";
  const std::string file =
      read_file(std::string(HIMS_SOURCE_DIR) + "/mappings/schema/sqlite/0005_check_lists.sql");
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(step.sqlite_sql, file);
}

// --- both dialects side by side ---

TEST(CanonicalSchemaCatalog, BothDialectsHaveTheSameTablesColumnsChecksAndKeys) {
  test::ThrowawayStore pg_db(Backend::postgres, "hims_canonical_catalog");
  if (pg_db.skipped()) GTEST_SKIP() << test::kPostgresSkipped;
  test::ThrowawayStore sqlite_db(Backend::sqlite, "hims_canonical_catalog");
  for (const auto* db : {&pg_db, &sqlite_db}) {
    auto store = open_store(db->url());
    ASSERT_TRUE(store.ok()) << store.error().message();
  }
  auto pg_driver = open_driver(pg_db);
  auto sqlite_driver = open_driver(sqlite_db);
  ASSERT_NE(pg_driver, nullptr);
  ASSERT_NE(sqlite_driver, nullptr);
  const Catalog pg = read_catalog(*pg_driver);
  const Catalog sqlite = read_catalog(*sqlite_driver);

  ASSERT_EQ(pg.columns.size(), kCanonicalTables.size());
  ASSERT_EQ(sqlite.columns.size(), kCanonicalTables.size());
  for (const std::string& table : kCanonicalTables) {
    SCOPED_TRACE(table);
    EXPECT_FALSE(entries(pg.columns, table).empty());
    EXPECT_EQ(entries(sqlite.columns, table), entries(pg.columns, table));
    EXPECT_FALSE(entries(pg.unique_keys, table).empty()) << "at least the primary key";
    EXPECT_EQ(entries(sqlite.unique_keys, table), entries(pg.unique_keys, table));
    EXPECT_EQ(entries(sqlite.foreign_keys, table), entries(pg.foreign_keys, table));
    EXPECT_EQ(entries(sqlite.check_literals, table), entries(pg.check_literals, table));
  }
  // Spot checks that the catalog readers see what the files say.
  const auto has = [](const std::vector<std::string>& list, const std::string& entry) {
    return std::find(list.begin(), list.end(), entry) != list.end();
  };
  EXPECT_TRUE(has(entries(sqlite.foreign_keys, "lab_results"),
                  "lab_order_id -> lab_orders (id) ON DELETE CASCADE"));
  EXPECT_TRUE(has(entries(pg.check_literals, "patients"), "prefer_not_to_say"));
  EXPECT_EQ(entries(pg.columns, "patients").front(), "id NOT NULL");
  EXPECT_TRUE(has(entries(pg.unique_keys, "lab_results"), "lab_order_id, test_code, sub_id"));
  EXPECT_TRUE(has(entries(sqlite.unique_keys, "medical_conditions"),
                  "partial patient_id, icd_10_code, diagnosis_date"));
}

// --- per backend ---

class CanonicalSchemaTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    db_ = std::make_unique<test::ThrowawayStore>(GetParam(), "hims_canonical");
    if (db_->skipped()) GTEST_SKIP() << test::kPostgresSkipped;
    auto store = open_store(db_->url());  // migrates
    ASSERT_TRUE(store.ok()) << store.error().message();
    store_ = std::move(*store);
    driver_ = open_driver(*db_);
    ASSERT_NE(driver_, nullptr);
    insert_base_rows();
  }

  void TearDown() override {
    driver_.reset();
    store_.reset();
    db_.reset();
  }

  // A fresh id for each row a test inserts.
  std::string next_id() { return uuid(1000 + next_++); }

  void ok(std::string_view sql, const std::vector<std::string>& params = {}) {
    auto r = exec(*driver_, sql, texts(params));
    EXPECT_TRUE(r.ok()) << sql << "\n" << r.error().message();
  }

  // Runs a statement that must fail; returns its error message in lower case.
  std::string fails(std::string_view sql, const std::vector<std::string>& params = {}) {
    auto r = exec(*driver_, sql, texts(params));
    EXPECT_FALSE(r.ok()) << "accepted: " << sql;
    return r.ok() ? std::string() : lower(r.error().message());
  }

  Rows rows(std::string_view sql, const std::vector<Param>& params = {}) {
    auto r = exec(*driver_, sql, params);
    EXPECT_TRUE(r.ok()) << sql << "\n" << r.error().message();
    return r.ok() ? std::move(*r) : Rows{};
  }

  std::string scalar(std::string_view sql, const std::vector<Param>& params = {}) {
    Rows r = rows(sql, params);
    return r.size() == 1 && !r[0].empty() ? cell(r[0][0]) : "(no row)";
  }

  void insert_base_rows() {
    ok("INSERT INTO users (id, username, email, password_hash, role) VALUES ($1, 'dr.smith', "
       "'dr.smith@example.org', $2, 'doctor')",
       {kUser, std::string(60, 'h')});
    ok("INSERT INTO patients (id, mrn, first_name, last_name, date_of_birth, gender) VALUES "
       "($1, 'MRN001', 'John', 'Doe', '1980-05-15', 'male')",
       {kPatient});
    ok("INSERT INTO patients (id, mrn, first_name, last_name) VALUES ($1, 'MRN002', 'Jane', 'Roe')",
       {kPatient2});
    ok("INSERT INTO organizations (id, name, type, identifier_system, identifier_value) VALUES "
       "($1, 'Acme Lab', 'lab', 'ACME', 'LAB')",
       {kOrganization});
    ok("INSERT INTO healthcare_providers (id, name, type, npi, organization_id) VALUES "
       "($1, 'Dr. Ada Smith', 'INDIVIDUAL', '1234567893', $2)",
       {kProvider, kOrganization});
    ok("INSERT INTO insurance_providers (id, name, type, payer_id) VALUES "
       "($1, 'Blue Payer', 'PRIVATE', 'BLUE01')",
       {kInsurer});
    ok("INSERT INTO patient_insurance (id, patient_id, insurance_provider_id, policy_number) "
       "VALUES ($1, $2, $3, 'POL-1')",
       {kCoverage, kPatient, kInsurer});
    ok("INSERT INTO lab_orders (id, patient_id, test_type, ordering_provider_id, "
       "placer_order_number, filler_order_number) VALUES ($1, $2, 'Basic metabolic panel', $3, "
       "'ORD-1', 'FIL-1')",
       {kLabOrder, kPatient, kProvider});
    ok("INSERT INTO lab_results (id, patient_id, lab_order_id, test_name, test_code) VALUES "
       "($1, $2, $3, 'Sodium', '2951-2')",
       {kLabResult, kPatient, kLabOrder});
    ok("INSERT INTO appointments (id, patient_id, appointment_type, scheduled_time) VALUES "
       "($1, $2, 'checkup', '2030-01-02T09:00:00.000000Z')",
       {kAppointment, kPatient});
    ok("INSERT INTO claims (id, patient_id, claim_type, submitter_id, patient_control_number, "
       "total_charge) VALUES ($1, $2, 'professional', 'SUBMITTER1', 'PCN-1', 125.50)",
       {kClaim, kPatient});
    ok("INSERT INTO payments (id, trace_number, payer_identifier, amount) VALUES "
       "($1, 'EFT-1', '1999999999', 100)",
       {kPayment});
    ok("INSERT INTO payment_allocations (id, payment_id, line_number, allocation_type, claim_id, "
       "amount, adjustment_group_code, adjustment_reason_code) VALUES "
       "($1, $2, 1, 'adjustment', $3, 25.50, 'CO', '45')",
       {kAllocation, kPayment, kClaim});
  }

  std::unique_ptr<test::ThrowawayStore> db_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Driver> driver_;
  int next_ = 0;
};

TEST_P(CanonicalSchemaTest, NewDatabaseHasEveryCanonicalTableAndMigrationFour) {
  auto applied = store_->applied_migrations();
  ASSERT_TRUE(applied.ok()) << applied.error().message();
  ASSERT_EQ(applied->size(), Store::known_migrations().size());
  EXPECT_EQ(applied->at(3).version, kCanonicalVersion);
  EXPECT_EQ(applied->at(3).name, "canonical HIMS schema");
  const Catalog catalog = read_catalog(*driver_);
  std::vector<std::string> tables;
  for (const auto& [table, columns] : catalog.columns) tables.push_back(table);
  EXPECT_EQ(tables, kCanonicalTables);
  ASSERT_TRUE(store_->migrate().ok());  // applying again is a no-op
}

TEST_P(CanonicalSchemaTest, UpgradesADatabaseAtVersionThree) {
  driver_.reset();
  store_.reset();
  db_ = std::make_unique<test::ThrowawayStore>(GetParam(), "hims_canonical_v3");
  {
    auto driver = open_driver(*db_);
    ASSERT_NE(driver, nullptr);
    Driver& d = *driver;
    ASSERT_TRUE(d.begin().ok());
    ASSERT_TRUE(d.script(migrations_table_sql(d.dialect())).ok());
    for (const MigrationStep& step : migration_steps()) {
      if (step.version >= kCanonicalVersion) break;
      auto s = d.script(migration_sql(step, d.dialect()));
      ASSERT_TRUE(s.ok()) << s.error().message();
      auto r = d.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                       std::vector<Param>{Param::of(step.version), Param::text(step.name)});
      ASSERT_TRUE(r.ok()) << r.error().message();
    }
    ASSERT_TRUE(d.commit().ok());
    EXPECT_TRUE(read_catalog(d).columns.empty()) << "no canonical table before migration 4";
  }
  OpenOptions no_migrate;
  no_migrate.migrate = false;
  {
    auto old = open_store(db_->url(), no_migrate);
    ASSERT_TRUE(old.ok()) << old.error().message();
    auto applied = (*old)->applied_migrations();
    ASSERT_TRUE(applied.ok());
    ASSERT_EQ(applied->size(), 3u);
    auto ids = (*old)->append(std::vector<NewJournalEntry>{
        test::journal_entry("MSH|^~\\&|LAB|ACME", "C1", TimePoint{std::chrono::seconds(1)})});
    ASSERT_TRUE(ids.ok()) << ids.error().message();
  }

  auto store = open_store(db_->url());  // applies migration 4
  ASSERT_TRUE(store.ok()) << store.error().message();
  store_ = std::move(*store);
  auto applied = store_->applied_migrations();
  ASSERT_TRUE(applied.ok());
  ASSERT_EQ(applied->size(), Store::known_migrations().size());
  EXPECT_EQ(applied->at(3).version, kCanonicalVersion);
  auto entry = store_->get(1);
  ASSERT_TRUE(entry.ok() && entry->has_value()) << "the journal is untouched";

  driver_ = open_driver(*db_);
  ASSERT_NE(driver_, nullptr);
  const Catalog catalog = read_catalog(*driver_);
  EXPECT_EQ(catalog.columns.size(), kCanonicalTables.size());
  ok("INSERT INTO patients (id, mrn, first_name, last_name, source_message_id) VALUES "
     "($1, 'MRN-V3', 'Ann', 'Lee', 1)",
     {next_id()});
}

TEST_P(CanonicalSchemaTest, ChecksRejectValuesOutsideTheEnumerations) {
  struct Case {
    std::string table, column, id, bad, good;
  };
  const std::vector<Case> cases = {
      {"patients", "gender", kPatient, "x", "unknown"},
      {"users", "role", kUser, "janitor", "finance"},
      {"appointments", "status", kAppointment, "lost", "no_show"},
      {"lab_orders", "priority", kLabOrder, "whenever", "stat"},
      {"lab_orders", "result_status", kLabOrder, "Q", "F"},
      {"lab_results", "abnormal_flag", kLabResult, "very_high", "abnormal"},
      {"lab_results", "result_status", kLabResult, "Q", "C"},
      {"lab_results", "test_category", kLabResult, "astrology", "blood"},
      {"patient_insurance", "coverage_type", kCoverage, "quaternary", "secondary"},
      {"patient_insurance", "relationship_to_patient", kCoverage, "neighbour", "spouse"},
      {"healthcare_providers", "type", kProvider, "ROBOT", "FACILITY"},
      {"insurance_providers", "type", kInsurer, "MUTUAL", "MEDICARE"},
      {"claims", "claim_type", kClaim, "dental", "institutional"},
      {"claims", "status", kClaim, "lost", "partially_paid"},
      {"payments", "payment_method", kPayment, "barter", "check"},
      {"payment_allocations", "adjustment_group_code", kAllocation, "ZZ", "PR"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.table + "." + c.column);
    const std::string sql = "UPDATE " + c.table + " SET " + c.column + " = $1 WHERE id = $2";
    EXPECT_NE(fails(sql, {c.bad, c.id}).find("check"), std::string::npos);
    ok(sql, {c.good, c.id});
  }
  // JSON columns take JSON only (PostgreSQL: JSONB; SQLite: CHECK json_valid).
  fails("UPDATE patients SET address = $1 WHERE id = $2", {"{not json", kPatient});
  ok("UPDATE patients SET address = $1 WHERE id = $2", {"{\"city\": \"Springfield\"}", kPatient});
  // An allocation of type adjustment names its CAS group.
  EXPECT_NE(fails("UPDATE payment_allocations SET adjustment_group_code = NULL WHERE id = $1",
                  {kAllocation})
                .find("check"),
            std::string::npos);
}

TEST_P(CanonicalSchemaTest, MergedPatientPointsAtTheSurvivorAndIsInactive) {
  // A40: the merged record stays, inactive, pointing at the survivor; never at itself.
  EXPECT_NE(fails("UPDATE patients SET merged_into_id = $1 WHERE id = $2", {kPatient2, kPatient})
                .find("check"),
            std::string::npos)
      << "a merged record cannot stay active";
  EXPECT_NE(
      fails("UPDATE patients SET merged_into_id = id, is_active = false WHERE id = $1", {kPatient})
          .find("check"),
      std::string::npos);
  ok("UPDATE patients SET merged_into_id = $1, is_active = false, merged_at = "
     "'2025-02-03T04:05:06.000000Z' WHERE id = $2",
     {kPatient2, kPatient});
  ok("INSERT INTO patient_identifiers (id, patient_id, assigning_authority, identifier_type, "
     "value, identifier_use) VALUES ($1, $2, 'HOSP', 'MR', 'MRN001', 'old')",
     {next_id(), kPatient2});
  EXPECT_EQ(scalar("SELECT count(*) FROM patients"), "2");
  EXPECT_EQ(scalar("SELECT merged_into_id FROM patients WHERE id = $1", {Param::text(kPatient)}),
            kPatient2);
}

TEST_P(CanonicalSchemaTest, ForeignKeysRejectDanglingReferences) {
  if (GetParam() == Backend::sqlite) {
    EXPECT_EQ(scalar("PRAGMA foreign_keys"), "1") << "the SQLite driver turns foreign keys on";
  }
  const std::string nobody = uuid(999999);
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"INSERT INTO appointments (id, patient_id, appointment_type, scheduled_time) VALUES "
       "($1, $2, 'checkup', '2030-01-02T09:00:00.000000Z')",
       {next_id(), nobody}},
      {"INSERT INTO patient_identifiers (id, patient_id, assigning_authority, value) VALUES "
       "($1, $2, 'HOSP', 'X1')",
       {next_id(), nobody}},
      {"INSERT INTO lab_results (id, patient_id, lab_order_id, test_name, test_code) VALUES "
       "($1, $2, $3, 'Potassium', '2823-3')",
       {next_id(), kPatient, nobody}},
      {"UPDATE lab_orders SET ordering_provider_id = $1 WHERE id = $2", {nobody, kLabOrder}},
      {"UPDATE lab_orders SET doctor_id = $1 WHERE id = $2", {nobody, kLabOrder}},
      {"UPDATE patients SET merged_into_id = $1, is_active = false WHERE id = $2",
       {nobody, kPatient}},
      {"UPDATE claims SET insurance_provider_id = $1 WHERE id = $2", {nobody, kClaim}},
      {"UPDATE payment_allocations SET claim_item_id = $1 WHERE id = $2", {nobody, kAllocation}},
      {"INSERT INTO domain_events (id, event_type, entity_type, entity_id, causation_id, payload, "
       "occurred_at) VALUES ($1, 'patient.updated', 'patient', $2, $3, '{}', "
       "'2025-01-01T00:00:00.000000Z')",
       {next_id(), kPatient, nobody}},
      // A provider that orders is not deleted from under its orders.
      {"DELETE FROM healthcare_providers WHERE id = $1", {kProvider}},
  };
  for (const auto& [sql, params] : cases) {
    SCOPED_TRACE(sql);
    EXPECT_NE(fails(sql, params).find("foreign key"), std::string::npos);
  }
  // Inbound rows name practitioners, not users: no user is needed.
  ok("INSERT INTO lab_orders (id, patient_id, test_type, ordering_provider_id) VALUES "
     "($1, $2, 'CBC', $3)",
     {next_id(), kPatient, kProvider});
}

TEST_P(CanonicalSchemaTest, EveryNaturalKeyIsUnique) {
  // $1: a fresh id; $2: the key (the first value twice, then the second); $3 (when used): a fresh
  // id too, for another unique column of the row.
  struct Case {
    const char* name;
    std::string sql;
    std::string first, second;
  };
  const std::string p = "'" + kPatient + "'";
  const std::vector<Case> cases = {
      {"patients.mrn",
       "INSERT INTO patients (id, mrn, first_name, last_name) VALUES ($1, $2, 'Ann', 'Lee')",
       "MRN100", "MRN101"},
      {"patient_identifiers",
       "INSERT INTO patient_identifiers (id, patient_id, assigning_authority, identifier_type, "
       "value) VALUES ($1, " +
           p + ", 'HOSP', 'MR', $2)",
       "A1", "A2"},
      {"patient_identifiers type",
       "INSERT INTO patient_identifiers (id, patient_id, assigning_authority, identifier_type, "
       "value) VALUES ($1, " +
           p + ", 'HOSP', $2, 'B1')",
       "PI", "MB"},
      {"organizations.npi",
       "INSERT INTO organizations (id, name, type, npi) VALUES ($1, 'Org', 'prov', $2)",
       "1111111111", "2222222222"},
      {"organizations identifier",
       "INSERT INTO organizations (id, name, type, identifier_system, identifier_value) VALUES "
       "($1, 'Org', 'prov', 'urn:oid:1.2.3', $2)",
       "ORG1", "ORG2"},
      {"healthcare_providers.npi",
       "INSERT INTO healthcare_providers (id, name, type, npi) VALUES ($1, 'Dr X', 'INDIVIDUAL', "
       "$2)",
       "3333333333", "4444444444"},
      {"healthcare_providers identifier",
       "INSERT INTO healthcare_providers (id, name, type, identifier_system, identifier_value) "
       "VALUES ($1, 'Dr X', 'INDIVIDUAL', 'HOSP-STAFF', $2)",
       "D1", "D2"},
      {"consultations.visit_number",
       "INSERT INTO consultations (id, patient_id, visit_number) VALUES ($1, " + p + ", $2)", "V1",
       "V2"},
      {"lab_orders.placer_order_number",
       "INSERT INTO lab_orders (id, patient_id, test_type, placer_order_number) VALUES ($1, " + p +
           ", 'CBC', $2)",
       "PL1", "PL2"},
      {"lab_orders.filler_order_number",
       "INSERT INTO lab_orders (id, patient_id, test_type, filler_order_number) VALUES ($1, " + p +
           ", 'CBC', $2)",
       "FL1", "FL2"},
      {"lab_results (order, test code, sub id): code",
       "INSERT INTO lab_results (id, patient_id, lab_order_id, test_name, test_code) VALUES ($1, " +
           p + ", '" + kLabOrder + "', 'Result', $2)",
       "2823-3", "2075-0"},
      {"lab_results (order, test code, sub id): sub id",
       "INSERT INTO lab_results (id, patient_id, lab_order_id, test_name, test_code, sub_id) "
       "VALUES ($1, " +
           p + ", '" + kLabOrder + "', 'Organism', '600-7', $2)",
       "1", "2"},
      {"prescriptions.placer_order_number",
       "INSERT INTO prescriptions (id, patient_id, medications, placer_order_number) VALUES ($1, " +
           p + ", '[]', $2)",
       "RX1", "RX2"},
      {"prescriptions.filler_order_number",
       "INSERT INTO prescriptions (id, patient_id, medications, filler_order_number) VALUES ($1, " +
           p + ", '[]', $2)",
       "PH1", "PH2"},
      {"appointments.placer_appointment_id",
       "INSERT INTO appointments (id, patient_id, appointment_type, scheduled_time, "
       "placer_appointment_id) VALUES ($1, " +
           p + ", 'checkup', '2030-01-02T09:00:00.000000Z', $2)",
       "SCH1", "SCH2"},
      {"appointments.filler_appointment_id",
       "INSERT INTO appointments (id, patient_id, appointment_type, scheduled_time, "
       "filler_appointment_id) VALUES ($1, " +
           p + ", 'checkup', '2030-01-02T09:00:00.000000Z', $2)",
       "SCF1", "SCF2"},
      {"billing_records.transaction_id",
       "INSERT INTO billing_records (id, patient_id, charges, total_amount, transaction_id) VALUES "
       "($1, " +
           p + ", '[]', 10, $2)",
       "FT1", "FT2"},
      {"billing_records.invoice_number",
       "INSERT INTO billing_records (id, patient_id, charges, total_amount, invoice_number) VALUES "
       "($1, " +
           p + ", '[]', 10, $2)",
       "INV1", "INV2"},
      {"medical_records.document_number",
       "INSERT INTO medical_records (id, patient_id, record_type, data, document_number) VALUES "
       "($1, " +
           p + ", 'note', '{}', $2)",
       "DOC1", "DOC2"},
      {"medical_records (patient, type, external id)",
       "INSERT INTO medical_records (id, patient_id, record_type, data, external_id) VALUES ($1, " +
           p + ", 'allergy', '{}', $2)",
       "PCN", "LATEX"},
      {"medical_conditions (patient, code, onset)",
       "INSERT INTO medical_conditions (id, patient_id, condition_name, icd_10_code, "
       "diagnosis_date) VALUES ($1, " +
           p + ", 'Condition', $2, '2024-03-01')",
       "I10", "E11.9"},
      {"medical_conditions (patient, code) undated",
       "INSERT INTO medical_conditions (id, patient_id, condition_name, icd_10_code) VALUES ($1, " +
           p + ", 'Condition', $2)",
       "I10", "E11.9"},
      {"insurance_providers.payer_id",
       "INSERT INTO insurance_providers (id, name, type, payer_id) VALUES ($1, 'Payer', "
       "'PRIVATE', $2)",
       "PAYER1", "PAYER2"},
      {"patient_insurance (patient, priority)",
       "INSERT INTO patient_insurance (id, patient_id, policy_number, coverage_type) VALUES ($1, "
       "'" +
           kPatient2 + "', 'POL-2', $2)",
       "primary", "secondary"},
      {"vitals (patient, code, measured_at)",
       "INSERT INTO vitals (id, patient_id, code, measured_at, heart_rate) VALUES ($1, " + p +
           ", '85353-1', $2, 72)",
       "2025-01-02T03:04:05.000000Z", "2025-01-02T03:09:05.000000Z"},
      {"notifications.dedupe_key",
       "INSERT INTO notifications (id, notification_type, title, dedupe_key) VALUES ($1, "
       "'critical_lab_result', 'Critical potassium', $2)",
       "critical:1:F", "critical:1:C"},
      {"claims (submitter, patient control number)",
       "INSERT INTO claims (id, patient_id, claim_type, submitter_id, patient_control_number, "
       "total_charge) VALUES ($1, " +
           p + ", 'professional', 'SUBMITTER1', $2, 10)",
       "PCN-100", "PCN-101"},
      {"claim_items (claim, line)",
       "INSERT INTO claim_items (id, claim_id, line_number, procedure_code, charge_amount) VALUES "
       "($1, '" +
           kClaim + "', $2, '99213', 75)",
       "1", "2"},
      {"payments (payer, trace number)",
       "INSERT INTO payments (id, trace_number, payer_identifier, amount) VALUES ($1, $2, "
       "'1999999999', 100)",
       "EFT-100", "EFT-101"},
      {"payment_allocations (payment, line)",
       "INSERT INTO payment_allocations (id, payment_id, line_number, allocation_type, amount) "
       "VALUES ($1, '" +
           kPayment + "', $2, 'payment', 50)",
       "10", "11"},
      {"eligibility_requests.trace_number",
       "INSERT INTO eligibility_requests (id, ivr_number, insurance_provider, trace_number) VALUES "
       "($1, $3, 'Blue Payer', $2)",
       "TRN-1", "TRN-2"},
      {"eligibility_requests.ivr_number",
       "INSERT INTO eligibility_requests (id, ivr_number, insurance_provider) VALUES ($1, $2, "
       "'Blue Payer')",
       "IVR-1", "IVR-2"},
      {"users.username",
       "INSERT INTO users (id, username, email, password_hash, role) VALUES ($1, $2, $3, "
       "'" +
           std::string(60, 'h') + "', 'nurse')",
       "nurse.a", "nurse.b"},
      {"system_config.config_key",
       "INSERT INTO system_config (id, config_key, config_value) VALUES ($1, $2, '{}')", "k1",
       "k2"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto params = [&](const std::string& key) {
      std::vector<std::string> out{next_id(), key};
      if (c.sql.find("$3") != std::string::npos) out.push_back(next_id());
      return out;
    };
    ok(c.sql, params(c.first));
    EXPECT_NE(fails(c.sql, params(c.first)).find("unique"), std::string::npos);
    ok(c.sql, params(c.second));
  }
  // Keys with nullable parts: rows without the value do not collide.
  ok("INSERT INTO lab_orders (id, patient_id, test_type) VALUES ($1, $2, 'CBC')",
     {next_id(), kPatient});
  ok("INSERT INTO lab_orders (id, patient_id, test_type) VALUES ($1, $2, 'CBC')",
     {next_id(), kPatient});
}

TEST_P(CanonicalSchemaTest, UpsertOnThePatientMrnUpdatesTheRow) {
  const std::string sql =
      "INSERT INTO patients (id, mrn, first_name, last_name, date_of_birth, gender, "
      "source_message_id, updated_at) VALUES ($1, 'MRN500', $2, 'Doe', '1980-05-15', 'male', $3, "
      "$4) ON CONFLICT (mrn) DO UPDATE SET first_name = excluded.first_name, "
      "source_message_id = excluded.source_message_id, updated_at = excluded.updated_at "
      "RETURNING id, first_name, source_message_id";
  const std::string first = next_id();
  Rows a = rows(sql, {Param::text(first), Param::text("Jon"), Param::of(41),
                      Param::text("2025-01-02T03:04:05.000000Z")});
  Rows b = rows(sql, {Param::text(next_id()), Param::text("John"), Param::of(42),
                      Param::text("2025-01-02T03:04:06.000000Z")});
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(cell(b[0][0]), first) << "the existing row keeps its id";
  EXPECT_EQ(cell(b[0][1]), "John");
  EXPECT_EQ(cell(b[0][2]), "42");
  EXPECT_EQ(scalar("SELECT count(*) FROM patients WHERE mrn = 'MRN500'"), "1");
}

TEST_P(CanonicalSchemaTest, UpsertOnTheLabResultKeyCorrectsTheResult) {
  // A preliminary potassium, then the corrected critical value for the same OBX-3 / OBX-4.
  const std::string sql =
      "INSERT INTO lab_results (id, patient_id, lab_order_id, set_id, test_name, test_code, "
      "sub_id, value_type, result_value, result_unit, reference_range, abnormal_flag, "
      "abnormal_flag_code, result_status, status, observed_at, source_message_id) VALUES "
      "($1, $2, $3, 1, 'Potassium', '2823-3', '', 'NM', $4, 'mmol/L', '3.5-5.1', $5, $6, $7, $8, "
      "'2025-01-02T03:04:05.000000Z', $9) ON CONFLICT (lab_order_id, test_code, sub_id) DO UPDATE "
      "SET result_value = excluded.result_value, abnormal_flag = excluded.abnormal_flag, "
      "abnormal_flag_code = excluded.abnormal_flag_code, result_status = excluded.result_status, "
      "status = excluded.status, source_message_id = excluded.source_message_id RETURNING id";
  const std::string first = next_id();
  Rows a = rows(sql, {Param::text(first), Param::text(kPatient), Param::text(kLabOrder),
                      Param::text("5.9"), Param::text("high"), Param::text("H"), Param::text("P"),
                      Param::text("in_progress"), Param::of(7)});
  Rows b = rows(sql, {Param::text(next_id()), Param::text(kPatient), Param::text(kLabOrder),
                      Param::text("6.8"), Param::text("critical"), Param::text("HH"),
                      Param::text("C"), Param::text("completed"), Param::of(8)});
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(cell(b[0][0]), first);
  Rows got = rows(
      "SELECT result_value, abnormal_flag, abnormal_flag_code, result_status, source_message_id "
      "FROM lab_results WHERE lab_order_id = $1 AND test_code = '2823-3'",
      {Param::text(kLabOrder)});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(cell(got[0][0]), "6.8");
  EXPECT_EQ(cell(got[0][1]), "critical");
  EXPECT_EQ(cell(got[0][2]), "HH");
  EXPECT_EQ(cell(got[0][3]), "C");
  EXPECT_EQ(cell(got[0][4]), "8");
}

TEST_P(CanonicalSchemaTest, UpsertOnAPartialKeyNamesItsPredicate) {
  // medical_conditions has two partial unique indexes (dated / undated); ON CONFLICT names one.
  const std::string sql =
      "INSERT INTO medical_conditions (id, patient_id, condition_name, icd_10_code, "
      "diagnosis_date, status) VALUES ($1, $2, 'Essential hypertension', 'I10', '2024-03-01', $3) "
      "ON CONFLICT (patient_id, icd_10_code, diagnosis_date) WHERE diagnosis_date IS NOT NULL "
      "DO UPDATE SET status = excluded.status";
  ok(sql, {next_id(), kPatient, "active"});
  ok(sql, {next_id(), kPatient, "resolved"});
  EXPECT_EQ(scalar("SELECT status FROM medical_conditions WHERE patient_id = $1",
                   {Param::text(kPatient)}),
            "resolved");
}

TEST_P(CanonicalSchemaTest, BillingBalanceIsTotalMinusPaid) {
  ok("INSERT INTO billing_records (id, patient_id, charges, total_amount, paid_amount, "
     "transaction_id) VALUES ($1, $2, '[]', 100.10, 50.05, 'FT-BAL')",
     {next_id(), kPatient});
  EXPECT_DOUBLE_EQ(
      std::stod(scalar("SELECT balance FROM billing_records WHERE transaction_id = 'FT-BAL'")),
      50.05);
  ok("UPDATE billing_records SET paid_amount = 100.10 WHERE transaction_id = 'FT-BAL'");
  EXPECT_DOUBLE_EQ(
      std::stod(scalar("SELECT balance FROM billing_records WHERE transaction_id = 'FT-BAL'")),
      0.0);
}

TEST(CanonicalSchemaSqlite, KeepsUuidsInCanonicalForm) {
  // PostgreSQL stores UUIDs natively; SQLite's TEXT keys are checked: lower case, 36 characters.
  test::ThrowawayStore db(Backend::sqlite, "hims_canonical_uuid");
  auto store = open_store(db.url());
  ASSERT_TRUE(store.ok()) << store.error().message();
  auto driver = open_driver(db);
  ASSERT_NE(driver, nullptr);
  const std::string sql =
      "INSERT INTO patients (id, mrn, first_name, last_name) VALUES ($1, 'MRN-U', 'A', 'B')";
  for (const char* bad : {"00000000-0000-4000-8000-00000000ABCD", "x"}) {
    SCOPED_TRACE(bad);
    auto r = exec(*driver, sql, {Param::text(bad)});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(lower(r.error().message()).find("check"), std::string::npos);
  }
  EXPECT_FALSE(exec(*driver, sql, {Param::null()}).ok());
  EXPECT_TRUE(exec(*driver, sql, {Param::text("00000000-0000-4000-8000-00000000abcd")}).ok());
}

// The IN lists of more than two values in the CHECKs of `sql` (a CREATE TABLE text).
std::vector<std::string> long_in_lists(std::string_view sql) {
  std::vector<std::string> out;
  for (std::size_t at = sql.find(" IN ("); at != std::string_view::npos;
       at = sql.find(" IN (", at + 1)) {
    const std::size_t end = sql.find(')', at);
    const std::string_view list = sql.substr(at, end - at + 1);
    if (std::count(list.begin(), list.end(), ',') >= 2) out.emplace_back(list);
  }
  return out;
}

// SQLite builds a scratch index of an IN list of more than two values every time a statement
// runs, so a CHECK with one made each insert and update of its table several times dearer:
// after migration 5 no table of the store (the engine's nor the canonical ones) has one.
TEST(CheckListsSqlite, NoCheckOfANewStoreTestsAListOfMoreThanTwoValues) {
  test::ThrowawayStore db(Backend::sqlite, "hims_check_lists");
  auto store = open_store(db.url());
  ASSERT_TRUE(store.ok()) << store.error().message();
  auto driver = open_driver(db);
  ASSERT_NE(driver, nullptr);
  auto tables = driver->query("SELECT name, sql FROM sqlite_master WHERE type = 'table'", {});
  ASSERT_TRUE(tables.ok()) << tables.error().message();
  ASSERT_GT(tables->size(), kCanonicalTables.size());
  std::size_t or_chains = 0;
  for (const auto& row : *tables) {
    const std::string sql = row[1].value_or("");
    EXPECT_EQ(long_in_lists(sql), std::vector<std::string>{}) << row[0].value_or("");
    if (sql.find("status = 'pending' OR status = 'delivered'") != std::string::npos) ++or_chains;
    if (sql.find("(gender = 'male' OR gender = 'female'") != std::string::npos) ++or_chains;
  }
  EXPECT_EQ(or_chains, 2u) << "queue_items.status and patients.gender are OR chains";
  auto check = driver->query("PRAGMA integrity_check", {});
  ASSERT_TRUE(check.ok());
  ASSERT_EQ(check->size(), 1u);
  EXPECT_EQ((*check)[0][0].value_or(""), "ok");
}

// A store at version 4 (its CHECKs with IN lists) keeps its rows through migration 5; a
// connection that was open before it reloads the rewritten schema (the schema version moved on)
// and refuses and accepts the same values as before.
TEST(CheckListsSqlite, UpgradesAStoreAtVersionFourKeepingItsRows) {
  test::ThrowawayStore db(Backend::sqlite, "hims_check_lists_v4");
  {
    auto driver = open_driver(db);
    ASSERT_NE(driver, nullptr);
    Driver& d = *driver;
    ASSERT_TRUE(d.begin().ok());
    ASSERT_TRUE(d.script(migrations_table_sql(d.dialect())).ok());
    for (const MigrationStep& step : migration_steps()) {
      if (step.version >= kCheckListsVersion) break;
      auto s = d.script(migration_sql(step, d.dialect()));
      ASSERT_TRUE(s.ok()) << s.error().message();
      auto r = d.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                       std::vector<Param>{Param::of(step.version), Param::text(step.name)});
      ASSERT_TRUE(r.ok()) << r.error().message();
    }
    auto r = d.query(
        "INSERT INTO patients (id, mrn, first_name, last_name, gender) VALUES "
        "('00000000-0000-7000-8000-000000000001', 'MRN-V4', 'Ann', 'Lee', 'female')",
        {});
    ASSERT_TRUE(r.ok()) << r.error().message();
    ASSERT_TRUE(d.commit().ok());
  }
  auto before = open_driver(db);  // open across the migration
  ASSERT_NE(before, nullptr);
  const std::string insert =
      "INSERT INTO patients (id, mrn, first_name, last_name, gender) VALUES ($1, $2, 'B', 'C', $3)";
  auto refused =
      before->query(insert, std::vector<Param>{Param::text("00000000-0000-7000-8000-000000000002"),
                                               Param::text("MRN-X"), Param::text("nobody")});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("gender IN ("), std::string::npos)
      << refused.error().message();

  auto store = open_store(db.url());  // applies migration 5
  ASSERT_TRUE(store.ok()) << store.error().message();
  auto applied = (*store)->applied_migrations();
  ASSERT_TRUE(applied.ok());
  ASSERT_EQ(applied->size(), Store::known_migrations().size());
  EXPECT_TRUE(std::any_of(applied->begin(), applied->end(),
                          [](const auto& m) { return m.version == kCheckListsVersion; }));

  refused =
      before->query(insert, std::vector<Param>{Param::text("00000000-0000-7000-8000-000000000002"),
                                               Param::text("MRN-X"), Param::text("nobody")});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("gender = 'male' OR"), std::string::npos)
      << refused.error().message();
  auto accepted =
      before->query(insert, std::vector<Param>{Param::text("00000000-0000-7000-8000-000000000003"),
                                               Param::text("MRN-Y"), Param::null()});
  EXPECT_TRUE(accepted.ok()) << "NULL passes the OR chain as it passed the IN list";
  auto rows = before->query("SELECT mrn, gender FROM patients ORDER BY mrn", {});
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0][0].value_or(""), "MRN-V4");
  EXPECT_EQ((*rows)[0][1].value_or(""), "female");
  auto check = before->query("PRAGMA integrity_check", {});
  ASSERT_TRUE(check.ok());
  EXPECT_EQ((*check)[0][0].value_or(""), "ok");
}

INSTANTIATE_TEST_SUITE_P(Backends, CanonicalSchemaTest,
                         ::testing::Values(Backend::sqlite, Backend::postgres),
                         [](const ::testing::TestParamInfo<Backend>& param_info) {
                           return std::string(test::backend_name(param_info.param));
                         });

}  // namespace
}  // namespace hims::store

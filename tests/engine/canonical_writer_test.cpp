// The canonical writer on both backends: upserts on natural keys (composite, alternative, with
// NULL parts), only present columns written and only when they differ, domain events for what
// changed (none on a replay), a refused row undoing only its own message, patient merges, and the
// schema check of mappings. PostgreSQL cases need HIMS_TEST_POSTGRES_URL and are skipped without.
#include "engine/canonical_writer.hpp"

#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "engine/mapping.hpp"
#include "engine/store.hpp"
#include "engine/store_driver.hpp"
#include "hl7v2/message.hpp"
#include "tests/support/canonical_store.hpp"
#include "tests/support/test_store.hpp"

namespace hims::engine {
namespace {

using test::Backend;

const char* const kPatientMapping = R"(mapping: patients
from: hl7v2
messages: ['ADT^*']
tables:
  sex: {map: {M: male, F: female}, default: unknown}
entities:
  - as: patient
    table: patients
    key: [mrn]
    columns:
      mrn: {path: PID-3.1, required: true}
      last_name: {path: PID-5.1, required: true}
      first_name: {path: PID-5.2, required: true}
      date_of_birth: {path: PID-7, type: date}
      gender: {path: PID-8, code: sex}
      phone: PID-13.1
  - as: identifier
    table: patient_identifiers
    for_each: "PID-3[*]"
    key: [assigning_authority, identifier_type, value]
    columns:
      patient_id: {ref: patient, required: true}
      value: {path: .1, required: true}
      assigning_authority: {path: .4.1, default: ""}
      identifier_type: {path: .5, default: ""}
  - as: condition
    table: medical_conditions
    for_each: DG1
    key: [patient_id, icd_10_code, diagnosis_date]
    columns:
      patient_id: {ref: patient, required: true}
      icd_10_code: DG1-3.1
      condition_name: {first: [DG1-3.2, DG1-4], default: unknown}
      diagnosis_date: {path: DG1-5, type: date}
  - as: merged
    table: patients
    key: [mrn]
    when: {path: MRG-1, exists: true}
    columns:
      mrn: {path: MRG-1.1, required: true}
      last_name: {path: MRG-7.1, insert_default: UNKNOWN}
      first_name: {path: MRG-7.2, insert_default: UNKNOWN}
      merged_into_id: {ref: patient}
)";

const char* const kOrderMapping = R"(mapping: orders
from: hl7v2
messages: ['ORM^*']
entities:
  - as: patient
    table: patients
    key: [mrn]
    columns:
      mrn: {path: PID-3.1, required: true}
      last_name: {path: PID-5.1, default: X}
      first_name: {path: PID-5.2, default: X}
  - as: order
    table: lab_orders
    key: {any: [placer_order_number, filler_order_number]}
    columns:
      patient_id: {ref: patient, required: true}
      placer_order_number: ORC-2.1
      filler_order_number: ORC-3.1
      test_type: {path: OBR-4.2, default: unknown}
      priority: {path: OBR-5, default: routine}
)";

std::string adt(const std::string& segments, const std::string& trigger = "A08") {
  return "MSH|^~\\&|ADT|HOSP|HIMS|HOSP|20240305143000||ADT^" + trigger + "|1|P|2.5.1\r" + segments;
}

std::string orm(const std::string& segments) {
  return "MSH|^~\\&|CPOE|HOSP|LAB|HOSP|20240305143000||ORM^O01|1|P|2.5.1\r"
         "PID|1||MRN1||DOE^JANE\r" +
         segments;
}

using Rows = std::vector<std::vector<std::optional<std::string>>>;

class CanonicalWriterTest : public test::CanonicalStoreTest {
 protected:
  CanonicalWriterTest() : CanonicalStoreTest("canonical_writer") {}

  Mapping mapping(const char* text) {
    auto m = load_mapping_text(text, "m.yaml");
    EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message());
    return *m;
  }

  MappedMessage map(const Mapping& m, const std::string& bytes) {
    auto view = hl7v2::MessageView::parse(bytes);
    EXPECT_TRUE(view.ok());
    auto mapped = m.apply(*view);
    EXPECT_TRUE(mapped.ok()) << (mapped.ok() ? "" : mapped.error().message());
    return mapped.ok() ? std::move(*mapped) : MappedMessage{};
  }

  // One message in its own transaction.
  Result<CanonicalWriteStats> write(const Mapping& m, const std::string& bytes,
                                    store::JournalId id = 7) {
    return write_mapped(map(m, bytes), id);
  }

  std::string one(const std::string& sql) {
    const Rows rows = test::query(*store_, sql);
    if (rows.size() != 1 || rows[0].empty()) {
      ADD_FAILURE() << sql << ": " << rows.size() << " rows";
      return {};
    }
    return rows[0][0].value_or("NULL");
  }

  std::int64_t count(const std::string& table, const std::string& where = "") {
    return test::count(*store_,
                       "SELECT COUNT(*) FROM " + table + (where.empty() ? "" : " WHERE " + where));
  }
};

TEST_P(CanonicalWriterTest, CreatesRowsAndEventsThenAReplayChangesNothing) {
  const Mapping m = mapping(kPatientMapping);
  const std::string msg =
      adt("PID|1||MRN1^^^HOSP^MR~555-12^^^SSA^SS||DOE^JANE||19800102|F|||||5551234\r"
          "DG1|1||J45.909^Asthma^I10||20200101");
  auto first = write(m, msg, 11);
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_EQ(first->created, 4u);  // patient, two identifiers, one condition
  EXPECT_EQ(first->events, 4u);
  EXPECT_EQ(count("patients"), 1);
  EXPECT_EQ(one("SELECT gender || '/' || date_of_birth || '/' || phone FROM patients"),
            "female/1980-01-02/5551234");
  EXPECT_EQ(one("SELECT source_message_id FROM patients"), "11");
  EXPECT_EQ(
      count("patient_identifiers", "patient_id = (SELECT id FROM patients WHERE mrn = 'MRN1')"), 2);
  // Events: created, correlated with the journal entry; the identifiers' cause is the patient's.
  EXPECT_EQ(count("domain_events", "event_type = 'created' AND correlation_id = 11"), 4);
  EXPECT_EQ(count("domain_events",
                  "entity_type = 'patient_identifiers' AND causation_id = (SELECT id FROM "
                  "domain_events WHERE entity_type = 'patients')"),
            2);
  EXPECT_EQ(count("domain_events", "entity_type = 'patients' AND causation_id IS NULL"), 1);

  auto again = write(m, msg, 12);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(again->created, 0u);
  EXPECT_EQ(again->updated, 0u);
  EXPECT_EQ(again->unchanged, 4u);
  EXPECT_EQ(again->events, 0u);
  EXPECT_EQ(count("patients"), 1);
  EXPECT_EQ(count("patient_identifiers"), 2);
  EXPECT_EQ(count("medical_conditions"), 1);
  EXPECT_EQ(count("domain_events"), 4);
  EXPECT_EQ(one("SELECT source_message_id FROM patients"), "11");  // the last that changed it
}

TEST_P(CanonicalWriterTest, UpdatesOnlyPresentColumnsThatDiffer) {
  const Mapping m = mapping(kPatientMapping);
  ASSERT_TRUE(write(m, adt("PID|1||MRN1||DOE^JANE||19800102|F|||||5551234"), 1).ok());
  const std::string id = one("SELECT id FROM patients");
  // No phone and no birth date in this one: they stay; the changed name is written.
  auto changed = write(m, adt("PID|1||MRN1||DOE-SMITH^JANE||||"), 2);
  ASSERT_TRUE(changed.ok()) << changed.error().message();
  EXPECT_EQ(changed->updated, 1u);
  EXPECT_EQ(one("SELECT id FROM patients"), id);
  EXPECT_EQ(one("SELECT last_name || '/' || date_of_birth || '/' || phone || '/' || gender FROM "
                "patients"),
            "DOE-SMITH/1980-01-02/5551234/female");  // absent: kept
  EXPECT_EQ(one("SELECT source_message_id FROM patients"), "2");
  EXPECT_EQ(count("domain_events", "event_type = 'updated' AND entity_id = '" + id + "'"), 1);
  // HL7's explicit null "" clears a column.
  ASSERT_TRUE(write(m, adt("PID|1||MRN1||DOE-SMITH^JANE||19800102|F|||||\"\""), 3).ok());
  EXPECT_EQ(one("SELECT phone FROM patients"), "NULL");
}

// PostgreSQL: a row another transaction holds past the lock timeout is not the message's fault.
// The writer passes the store's busy error on (the processor then tries the batch again) instead
// of refusing the row, which would make the message `errored`. (SQLite takes its write lock at
// BEGIN, so a write inside the transaction never waits for one.)
TEST_P(CanonicalWriterTest, ALockTimeoutIsPassedOnForARetryNotARefusal) {
  if (GetParam() != Backend::postgres) GTEST_SKIP() << "SQLite locks at BEGIN";
  const Mapping m = mapping(kPatientMapping);
  ASSERT_TRUE(write(m, adt("PID|1||MRN1||DOE^JANE||19800102|F"), 1).ok());
  pqxx::connection other(place_->url());
  pqxx::work hold(other);
  hold.exec("SELECT id FROM patients WHERE mrn = 'MRN1' FOR UPDATE");
  const MappedMessage renamed = map(m, adt("PID|1||MRN1||DOE-SMITH^JANE||19800102|F"));
  Result<CanonicalWriteStats> out = CanonicalWriteStats{};
  const Status s = store_->transact([&]() -> Status {
    auto set = store_->execute("SELECT set_config('lock_timeout', '200ms', true)");
    if (!set.ok()) return set.take_error();
    out = writer_->write(*store_, renamed, 2, store::Clock::now());
    if (!out.ok()) return out.error();
    return {};
  });
  ASSERT_FALSE(s.ok());
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(out.error().is(store::StoreErrc::busy)) << out.error().message();
  EXPECT_EQ(out.error().domain(), ErrorDomain::store);
  hold.abort();
  // Tried again once the lock is gone, the same message writes.
  auto again = write(m, adt("PID|1||MRN1||DOE-SMITH^JANE||19800102|F"), 2);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(again->updated, 1u);
  EXPECT_EQ(one("SELECT last_name FROM patients"), "DOE-SMITH");
}

TEST_P(CanonicalWriterTest, AlternativeKeysFindTheOrderByEitherNumber) {
  const Mapping m = mapping(kOrderMapping);
  ASSERT_TRUE(write(m, orm("ORC|NW|P100\rOBR|1|P100||CBC^Blood count"), 1).ok());
  const std::string id = one("SELECT id FROM lab_orders");
  // The filler's answer carries both numbers: the same order, now with the filler number.
  auto both = write(m, orm("ORC|SC|P100|F900\rOBR|1|P100|F900|CBC^Blood count"), 2);
  ASSERT_TRUE(both.ok()) << both.error().message();
  EXPECT_EQ(both->updated, 1u);
  // A result naming only the filler number finds it too.
  auto filler = write(m, orm("ORC|SC||F900\rOBR|1||F900|CBC^Complete blood count"), 3);
  ASSERT_TRUE(filler.ok()) << filler.error().message();
  EXPECT_EQ(count("lab_orders"), 1);
  EXPECT_EQ(one("SELECT id FROM lab_orders"), id);
  EXPECT_EQ(one("SELECT placer_order_number || '/' || filler_order_number || '/' || test_type "
                "FROM lab_orders"),
            "P100/F900/Complete blood count");
}

TEST_P(CanonicalWriterTest, AbsentKeyPartsMatchNull) {
  const Mapping m = mapping(kPatientMapping);
  const std::string undated = adt("PID|1||MRN1||DOE^JANE\rDG1|1||E11.9^Diabetes^I10");
  ASSERT_TRUE(write(m, undated, 1).ok());
  ASSERT_TRUE(write(m, undated, 2).ok());
  EXPECT_EQ(count("medical_conditions"), 1);
  ASSERT_TRUE(write(m, adt("PID|1||MRN1||DOE^JANE\rDG1|1||E11.9^Diabetes^I10||20210304"), 3).ok());
  EXPECT_EQ(count("medical_conditions"), 2);  // a dated diagnosis is another row
}

TEST_P(CanonicalWriterTest, RowWithoutKeyIsAnErrorNamingTheRule) {
  const Mapping m = mapping(R"(mapping: k
from: hl7v2
messages: ['ADT^*']
entities:
  - as: patient
    table: patients
    key: [mrn]
    columns:
      mrn: PID-3.1
      last_name: {path: PID-5.1, default: X}
      first_name: {path: PID-5.2, default: X}
)");
  auto r = write(m, adt("PID|1||\"\"||DOE^JANE"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(CanonicalErrc::no_key));
  EXPECT_NE(r.error().message().find("m.yaml:5 patient (patients)"), std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("(mrn)"), std::string::npos) << r.error().message();
}

TEST_P(CanonicalWriterTest, RefusedRowUndoesOnlyItsOwnMessage) {
  const Mapping good = mapping(kPatientMapping);
  // gender without a code table: 'X' breaks the CHECK, after the identifiers' patient row.
  std::string text = kPatientMapping;
  text.replace(text.find("gender: {path: PID-8, code: sex}"),
               std::string("gender: {path: PID-8, code: sex}").size(), "gender: PID-8");
  const Mapping raw_gender = mapping(text.c_str());
  const MappedMessage a = map(good, adt("PID|1||MRN1||DOE^JANE||19800102|F"));
  const MappedMessage b = map(raw_gender, adt("PID|1||MRN2^^^H^MR||ROE^RICK||19700101|X"));
  const MappedMessage c = map(good, adt("PID|1||MRN3||POE^PAT||19900101|M"));
  std::vector<bool> ok;
  std::string error;
  Status s = store_->transact([&]() -> Status {
    for (const MappedMessage* msg : {&a, &b, &c}) {
      auto r = writer_->write(*store_, *msg, 5, store::Clock::now());
      ok.push_back(r.ok());
      if (!r.ok()) error = r.error().message();
    }
    return {};
  });
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(ok, (std::vector<bool>{true, false, true}));
  EXPECT_TRUE(error.find("m.yaml:") != std::string::npos &&
              error.find("(patients)") != std::string::npos)
      << error;
  EXPECT_EQ(error.find("ROE"), std::string::npos) << error;  // no values
  EXPECT_EQ(count("patients"), 2);
  EXPECT_EQ(count("patients", "mrn = 'MRN2'"), 0);
  EXPECT_EQ(count("patient_identifiers"), 2);
  EXPECT_EQ(count("domain_events"), 4);
}

TEST_P(CanonicalWriterTest, MergeMovesDependentsAndMarksTheMergedPatient) {
  const Mapping m = mapping(kPatientMapping);
  // Two records of one person, each with identifiers and conditions; both have E11.9 undated.
  ASSERT_TRUE(write(m,
                    adt("PID|1||OLD1^^^HOSP^MR||DOE^JANE||19800102|F\r"
                        "DG1|1||E11.9^Diabetes^I10\rDG1|2||J45.909^Asthma^I10||20200101"),
                    1)
                  .ok());
  ASSERT_TRUE(
      write(m, adt("PID|1||NEW1^^^HOSP^MR||DOE^JANE||19800102|F\rDG1|1||E11.9^Diabetes^I10"), 2)
          .ok());
  const std::string old_id = one("SELECT id FROM patients WHERE mrn = 'OLD1'");
  const std::string new_id = one("SELECT id FROM patients WHERE mrn = 'NEW1'");
  const std::string merge =
      adt("PID|1||NEW1^^^HOSP^MR||DOE^JANE||19800102|F\rMRG|OLD1^^^HOSP^MR", "A40");
  auto merged = write(m, merge, 3);
  ASSERT_TRUE(merged.ok()) << merged.error().message();
  EXPECT_EQ(merged->merged, 1u);
  // The identifier and the asthma moved; the undated diabetes collides and stays behind.
  EXPECT_EQ(merged->moved, 2u);
  EXPECT_EQ(merged->kept, 1u);
  EXPECT_EQ(one("SELECT merged_into_id FROM patients WHERE mrn = 'OLD1'"), new_id);
  EXPECT_EQ(one("SELECT last_name FROM patients WHERE mrn = 'OLD1'"), "DOE");  // not UNKNOWN
  const std::string inactive = GetParam() == Backend::sqlite ? "0" : "f";
  EXPECT_EQ(one("SELECT is_active FROM patients WHERE mrn = 'OLD1'"), inactive);
  EXPECT_NE(one("SELECT merged_at FROM patients WHERE mrn = 'OLD1'"), "NULL");
  EXPECT_EQ(count("patients"), 2);  // marked, not deleted
  EXPECT_EQ(count("patient_identifiers", "patient_id = '" + new_id + "'"), 2);
  EXPECT_EQ(count("medical_conditions", "patient_id = '" + new_id + "'"), 2);
  EXPECT_EQ(count("medical_conditions", "patient_id = '" + old_id + "'"), 1);
  EXPECT_EQ(count("domain_events", "event_type = 'merged' AND entity_id = '" + old_id + "'"), 1);
  // Replayed: merged already, nothing moves, no event.
  auto replay = write(m, merge, 4);
  ASSERT_TRUE(replay.ok()) << replay.error().message();
  EXPECT_EQ(replay->merged, 0u);
  EXPECT_EQ(replay->events, 0u);
  EXPECT_EQ(count("domain_events", "event_type = 'merged'"), 1);
}

TEST_P(CanonicalWriterTest, MergeOfAnUnknownPatientRecordsIt) {
  const Mapping m = mapping(kPatientMapping);
  auto merged =
      write(m, adt("PID|1||NEW1^^^HOSP^MR||DOE^JANE||19800102|F\rMRG|GONE7^^^HOSP^MR", "A40"), 1);
  ASSERT_TRUE(merged.ok()) << merged.error().message();
  EXPECT_EQ(merged->merged, 1u);
  EXPECT_EQ(one("SELECT last_name FROM patients WHERE mrn = 'GONE7'"), "UNKNOWN");
  EXPECT_EQ(one("SELECT merged_into_id FROM patients WHERE mrn = 'GONE7'"),
            one("SELECT id FROM patients WHERE mrn = 'NEW1'"));
}

TEST_P(CanonicalWriterTest, CheckNamesTablesAndColumnsTheSchemaLacks) {
  const Mapping m = mapping(R"(mapping: c
from: hl7v2
messages: ['*']
entities:
  - as: a
    table: patients
    key: [mrn]
    columns: {mrn: PID-3.1, lastname: PID-5.1, updated_at: PID-7}
  - as: b
    table: patient
    key: [x]
    columns: {x: PID-3.1}
  - as: c
    table: billing_records
    key: [transaction_id]
    columns: {transaction_id: FT1-2, balance: FT1-11}
  - as: d
    table: domain_events
    key: [event_type]
    columns: {event_type: MSH-9}
)");
  const std::vector<std::string> problems = writer_->check(m);
  ASSERT_EQ(problems.size(), 5u);
  EXPECT_NE(problems[0].find("m.yaml:5 a: table `patients` has no column `lastname`"),
            std::string::npos)
      << problems[0];
  EXPECT_NE(problems[1].find("`updated_at` is set by the canonical writer"), std::string::npos)
      << problems[1];
  EXPECT_NE(problems[2].find("no table `patient`"), std::string::npos) << problems[2];
  EXPECT_NE(problems[3].find("`billing_records.balance` is a generated column"), std::string::npos)
      << problems[3];
  EXPECT_NE(problems[4].find("no table `domain_events`"), std::string::npos) << problems[4];
  EXPECT_TRUE(writer_->check(mapping(kPatientMapping)).empty());
  EXPECT_TRUE(writer_->check_error(m).error().is(CanonicalErrc::bad_mapping));
}

TEST_P(CanonicalWriterTest, KeyOnlyRowFindsTheStoredRecordAndInsertDefaultsOnlyFillNewRows) {
  // A reference to an order other messages create: only its number (lab_orders.test_type is NOT
  // NULL, so an insert could not take it), and a test name only for a new row.
  const Mapping m = mapping(R"(mapping: ref
from: hl7v2
messages: ['ORM^*']
entities:
  - as: patient
    table: patients
    key: [mrn]
    columns:
      mrn: {path: PID-3.1, required: true}
      last_name: {path: PID-5.1, insert_default: X}
      first_name: {path: PID-5.2, insert_default: X}
  - as: order
    table: lab_orders
    key: [placer_order_number]
    when: {path: ORC-2, exists: true}
    columns:
      patient_id: {ref: patient, required: true}
      placer_order_number: ORC-2.1
  - as: named
    table: lab_orders
    key: [filler_order_number]
    when: {path: ORC-3, exists: true}
    columns:
      patient_id: {ref: patient, required: true}
      filler_order_number: ORC-3.1
      test_type: {path: OBR-4.2, insert_default: unknown test}
)");
  const Mapping full = mapping(kOrderMapping);
  ASSERT_TRUE(write(full, orm("ORC|NW|P100\rOBR|1|P100||CBC^Blood count"), 1).ok());
  auto ref = write(m, orm("ORC|SC|P100\rOBR|1|P100"), 2);
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  EXPECT_EQ(ref->created, 0u);
  EXPECT_EQ(count("lab_orders"), 1);
  EXPECT_EQ(one("SELECT last_name FROM patients"), "DOE");  // insert_default: not over a value
  // Unknown: the insert names what is missing.
  auto unknown = write(m, orm("ORC|SC|P999\rOBR|1|P999"), 3);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message().find("test_type"), std::string::npos)
      << unknown.error().message();
  // insert_default fills a new row, and never overwrites a stored value.
  ASSERT_TRUE(write(m, orm("ORC|SC||F1\rOBR|1||F1"), 4).ok());
  EXPECT_EQ(one("SELECT test_type FROM lab_orders WHERE filler_order_number = 'F1'"),
            "unknown test");
  ASSERT_TRUE(write(m, orm("ORC|SC||F1\rOBR|1||F1|X^Lipids"), 5).ok());
  ASSERT_TRUE(write(m, orm("ORC|SC||F1\rOBR|1||F1"), 6).ok());
  EXPECT_EQ(one("SELECT test_type FROM lab_orders WHERE filler_order_number = 'F1'"), "Lipids");
}

TEST_P(CanonicalWriterTest, CompositeAlternativeKeysFindAProviderByNpiOrLocalId) {
  const Mapping m = mapping(R"(mapping: doctors
from: hl7v2
messages: ['ADT^*']
entities:
  - as: doctor
    table: healthcare_providers
    key: {any: [npi, [identifier_system, identifier_value]]}
    columns:
      npi: {path: PV1-7.1, when: {path: PV1-7.13, equals: NPI}}
      identifier_system: {first: [PV1-7.9.1, {value: local}]}
      identifier_value: {path: PV1-7.1, required: true}
      name: {path: PV1-7.2, required: true}
      type: {value: INDIVIDUAL}
)");
  ASSERT_TRUE(write(m, adt("PV1|1|I|||||1234567893^HOUSE^^^^^^^NPI^^^^NPI"), 1).ok());
  // The same NPI under another assigning authority: found by the NPI, not inserted again.
  auto again = write(m, adt("PV1|1|I|||||1234567893^HOUSE^G^^^^^^STATE^^^^NPI"), 2);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(again->created, 0u);
  EXPECT_EQ(count("healthcare_providers"), 1);
  // Without an NPI: the local id.
  ASSERT_TRUE(write(m, adt("PV1|1|I|||||77^WILSON^^^^^^^HOSP"), 3).ok());
  ASSERT_TRUE(write(m, adt("PV1|1|I|||||77^WILSON-X^^^^^^^HOSP"), 4).ok());
  EXPECT_EQ(count("healthcare_providers"), 2);
  EXPECT_EQ(one("SELECT name FROM healthcare_providers WHERE identifier_value = '77'"), "WILSON-X");
}

TEST_P(CanonicalWriterTest, ARecordMappedTwiceInOneMessageKeepsItsLastValueAndReplaysUnchanged) {
  const Mapping m = mapping(R"(mapping: two
from: hl7v2
messages: ['ADT^*']
entities:
  - as: doctor
    table: healthcare_providers
    for_each: ROL
    key: [identifier_system, identifier_value]
    columns:
      identifier_system: {value: local}
      identifier_value: {path: ROL-4.1, required: true}
      name: {path: ROL-4.2, required: true}
      type: {value: INDIVIDUAL}
)");
  const std::string msg = adt("ROL|1||AT|5^LAB\rROL|2||AT|5^RAD");
  auto first = write(m, msg, 1);
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_EQ(one("SELECT name FROM healthcare_providers"), "RAD");
  auto replay = write(m, msg, 2);
  ASSERT_TRUE(replay.ok()) << replay.error().message();
  EXPECT_EQ(replay->updated, 0u);
  EXPECT_EQ(replay->events, 0u);
  EXPECT_EQ(one("SELECT name FROM healthcare_providers"), "RAD");
}

TEST_P(CanonicalWriterTest, RefusalsDoNotQuoteValues) {
  // An untyped birth date: PostgreSQL refuses the text and its message quotes it.
  const Mapping m = mapping(R"(mapping: raw
from: hl7v2
messages: ['ADT^*']
entities:
  - as: patient
    table: patients
    key: [mrn]
    columns:
      mrn: {path: PID-3.1, required: true}
      last_name: {path: PID-5.1, required: true}
      first_name: {path: PID-5.2, required: true}
      date_of_birth: PID-7
      gender: PID-8
)");
  auto r = write(m, adt("PID|1||MRN1||DOE^JANE||SECRETDAY|SECRETSEX"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message().find("SECRET"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("m.yaml:5 patient (patients)"), std::string::npos)
      << r.error().message();
}

// Rows of one shape (the identifiers of a PID-3) go in one multi-row INSERT; those already stored
// fall back to the look-up and are updated only where they differ.
TEST_P(CanonicalWriterTest, RowsOfOneShapeAreInsertedTogetherAndStoredOnesUpdated) {
  const Mapping m = mapping(R"(mapping: ids
from: hl7v2
messages: ['ADT^*']
entities:
  - as: patient
    table: patients
    key: [mrn]
    columns:
      mrn: {path: "PID-3[5=MR].1", required: true}
      last_name: {path: PID-5.1, required: true}
      first_name: {path: PID-5.2, required: true}
  - as: identifier
    table: patient_identifiers
    for_each: "PID-3[*]"
    key: [assigning_authority, identifier_type, value]
    columns:
      patient_id: {ref: patient, required: true}
      value: {path: .1, required: true}
      assigning_authority: {path: .4.1, default: ""}
      identifier_type: {path: .5, default: ""}
      assigning_facility: {path: .6.1, default: ""}
)");
  auto first = write(m, adt("PID|1||A1^^^H^MR^F1~A2^^^H^PI^F1||DOE^JANE"), 1);
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_EQ(first->created, 3u);
  auto second =
      write(m, adt("PID|1||A1^^^H^MR^F2~A2^^^H^PI^F1~A3^^^H^PI^F1~A4^^^H^XX^F1||DOE^JANE"), 2);
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_EQ(second->created, 2u);
  EXPECT_EQ(second->updated, 1u);
  EXPECT_EQ(second->unchanged, 2u);  // the patient and A2
  EXPECT_EQ(second->events, 3u);
  EXPECT_EQ(count("patient_identifiers"), 4);
  EXPECT_EQ(one("SELECT assigning_facility FROM patient_identifiers WHERE value = 'A1'"), "F2");
  EXPECT_EQ(count("domain_events", "correlation_id = 2 AND causation_id IS NULL"), 3)
      << "the patient did not change: the identifiers' events have no cause in this message";
  auto again =
      write(m, adt("PID|1||A1^^^H^MR^F2~A2^^^H^PI^F1~A3^^^H^PI^F1~A4^^^H^XX^F1||DOE^JANE"), 3);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->created + again->updated + again->events, 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, CanonicalWriterTest,
                         ::testing::Values(Backend::sqlite, Backend::postgres),
                         [](const ::testing::TestParamInfo<Backend>& param_info) {
                           return std::string(test::backend_name(param_info.param));
                         });

}  // namespace
}  // namespace hims::engine

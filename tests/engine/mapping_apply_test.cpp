// Mapping::apply: one parsed message -> canonical rows (paths, loops, types, transforms, code
// tables, conditions, refs, errors without PHI), on inline mappings, the test mappings under
// tests/data/mappings/ and corpus messages.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "engine/mapping.hpp"
#include "hl7v2/message.hpp"
#include "tests/support/corpus.hpp"

namespace hims::engine {
namespace {

using Kind = MappedValue::Kind;

const char* const kHeader = "mapping: t\nfrom: hl7v2\nmessages: ['*']\n";

Mapping load(const std::string& body) {
  MappingLoad loaded = parse_mapping(kHeader + body, "t.yaml");
  std::string problems;
  for (const ConfigError& e : loaded.errors) problems += e.to_string() + "\n";
  EXPECT_TRUE(loaded.ok()) << problems;
  if (!loaded.ok()) {
    return *parse_mapping(std::string(kHeader) +
                              "entities: [{as: x, table: x, key: [a], columns: {a: PID-1}}]",
                          "t.yaml")
                .mapping;
  }
  return *loaded.mapping;
}

Mapping load_file(const std::string& name) {
  auto m = load_mapping(test::source_dir() / "tests" / "data" / "mappings" / name);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message());
  return m.ok() ? *m : load("entities: [{as: x, table: x, key: [a], columns: {a: PID-1}}]");
}

// A message from segments joined with CR.
std::string msg(std::initializer_list<std::string> segments) {
  std::string out = "MSH|^~\\&|A|B|C|D|20240305143000||ADT^A01^ADT_A01|1|P|2.5.1";
  for (const std::string& s : segments) out += "\r" + s;
  return out;
}

MappedMessage apply_ok(const Mapping& mapping, const std::string& bytes) {
  auto view = hl7v2::MessageView::parse(bytes);
  EXPECT_TRUE(view.ok());
  auto mapped = mapping.apply(*view);
  EXPECT_TRUE(mapped.ok()) << (mapped.ok() ? "" : mapped.error().message());
  return mapped.ok() ? std::move(*mapped) : MappedMessage{};
}

Error apply_error(const Mapping& mapping, const std::string& bytes) {
  auto view = hl7v2::MessageView::parse(bytes);
  EXPECT_TRUE(view.ok());
  auto mapped = mapping.apply(*view);
  EXPECT_FALSE(mapped.ok());
  return mapped.ok() ? Error(MappingErrc::bad_mapping, "", "mapped") : mapped.take_error();
}

// The one row's column value (fails the test when the row or column is missing).
MappedValue col(const MappedMessage& m, std::size_t row, std::string_view column) {
  if (row >= m.rows.size()) {
    ADD_FAILURE() << "no row " << row;
    return {};
  }
  const MappedValue* v = m.rows[row].find(column);
  if (v == nullptr) {
    ADD_FAILURE() << "no column " << column << " in row " << row;
    return {};
  }
  return *v;
}

bool has(const MappedMessage& m, std::size_t row, std::string_view column) {
  return row < m.rows.size() && m.rows[row].find(column) != nullptr;
}

MappedValue text(std::string t) { return MappedValue::of(Kind::text, std::move(t)); }

TEST(MappingApply, MapsTheTestAdtMapping) {
  const Mapping mapping = load_file("adt_patient.yaml");
  const MappedMessage m =
      apply_ok(mapping, test::read_file(test::source_dir() / "tests/data/mappings/adt_a01.hl7"));
  ASSERT_EQ(m.rows.size(), 4u);
  EXPECT_EQ(m.mapping, "adt-patient");
  EXPECT_EQ(m.rows[0].as, "patient");
  EXPECT_EQ(m.rows[0].table, "patients");
  ASSERT_EQ(m.rows[0].key.size(), 1u);
  EXPECT_EQ(m.rows[0].key[0], "mrn");
  EXPECT_NE(m.rows[0].rule.find("adt_patient.yaml:"), std::string_view::npos);
  EXPECT_EQ(col(m, 0, "mrn"), text("12345"));
  EXPECT_EQ(col(m, 0, "last_name"), text("DOE"));
  EXPECT_EQ(col(m, 0, "date_of_birth"), MappedValue::of(Kind::date, "1980-01-02"));
  EXPECT_EQ(col(m, 0, "gender"), text("male"));
  EXPECT_EQ(col(m, 0, "is_active"), MappedValue::of_bool(true));
  EXPECT_EQ(col(m, 0, "language"), text("en"));  // default
  EXPECT_EQ(col(m, 0, "aliases"), text("Johnny, J"));
  EXPECT_EQ(col(m, 0, "address"),
            MappedValue::of(Kind::json, R"({"line1":"1 Main St","city":"Springfield","state":"IL",)"
                                        R"("postal_code":"62701"})"));
  // -0500 mapping timezone for EVN-2; PID-29 carries +0100.
  EXPECT_EQ(col(m, 0, "updated_at"), MappedValue::of(Kind::timestamp, "2024-03-05T19:30:00Z"));
  EXPECT_EQ(col(m, 0, "death_time"), MappedValue::of(Kind::timestamp, "2024-03-01T07:15:00Z"));
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(m.rows[i].as, "identifier");
    EXPECT_EQ(col(m, i, "patient_id"), MappedValue::of_ref(0));
  }
  EXPECT_EQ(col(m, 2, "value"), text("987-65-4320"));
  EXPECT_EQ(col(m, 2, "assigning_authority"), text("SSA"));
  EXPECT_EQ(col(m, 3, "identifier_type"), text("unknown"));  // default
}

TEST(MappingApply, NestedSegmentLoopsTakeTheSegmentsUpToTheNextParent) {
  const Mapping mapping = load_file("oru_results.yaml");
  const MappedMessage m =
      apply_ok(mapping, test::read_file(test::source_dir() / "tests/data/mappings/oru_r01.hl7"));
  std::vector<std::string> shape;
  for (const MappedRow& r : m.rows) shape.emplace_back(r.as);
  EXPECT_EQ(shape,
            (std::vector<std::string>{"patient", "order", "result", "result", "order", "result"}));
  EXPECT_EQ(col(m, 2, "lab_order_id"), MappedValue::of_ref(1));
  EXPECT_EQ(col(m, 5, "lab_order_id"), MappedValue::of_ref(4));
  EXPECT_EQ(col(m, 5, "patient_id"), MappedValue::of_ref(0));
  EXPECT_EQ(col(m, 2, "set_id"), MappedValue::of_integer(1));
  EXPECT_EQ(col(m, 3, "abnormal_flag"), text("critical_high"));
  EXPECT_EQ(col(m, 3, "is_critical"), MappedValue::of_bool(true));
  EXPECT_FALSE(has(m, 2, "is_critical"));  // column `when` false: absent
  EXPECT_EQ(col(m, 5, "numeric_value"), MappedValue::of(Kind::decimal, "13.5"));
  EXPECT_EQ(col(m, 5, "status"), text("preliminary"));
  EXPECT_EQ(col(m, 1, "ordered_at"), MappedValue::of(Kind::timestamp, "2024-03-05T17:00:00Z"));
}

TEST(MappingApply, EveryRefPointsAtAnEarlierRow) {
  for (const char* file : {"adt_patient.yaml", "oru_results.yaml"}) {
    const Mapping mapping = load_file(file);
    const std::string input =
        std::string(file) == "adt_patient.yaml" ? "adt_a01.hl7" : "oru_r01.hl7";
    const MappedMessage m =
        apply_ok(mapping, test::read_file(test::source_dir() / "tests/data/mappings" / input));
    for (std::size_t i = 0; i < m.rows.size(); ++i) {
      for (const auto& [name, v] : m.rows[i].columns) {
        if (v.kind == Kind::ref) {
          EXPECT_LT(v.integer, static_cast<std::int64_t>(i)) << name;
        }
      }
    }
  }
}

TEST(MappingApply, EmptyIsAbsentAndTheHl7NullIsNull) {
  const Mapping mapping = load(R"(
tables: {sex: {map: {M: male}}}
entities:
  - as: p
    table: patients
    key: [id]
    columns:
      id: PID-1
      phone: PID-13
      gender: {path: PID-8, code: sex}
      dob: {path: PID-7, type: date}
      first: PID-5.2
)");
  const MappedMessage m = apply_ok(mapping, msg({"PID|1||||DOE^\"\"||\"\"|\"\"||||||"}));
  EXPECT_FALSE(has(m, 0, "phone"));
  EXPECT_EQ(col(m, 0, "gender"), MappedValue::null_value());
  EXPECT_EQ(col(m, 0, "dob"), MappedValue::null_value());
  EXPECT_EQ(col(m, 0, "first"), MappedValue::null_value());
}

TEST(MappingApply, RequiredAbsentIsAnErrorNamingRuleAndPosition) {
  const Mapping mapping = load(R"(
entities:
  - as: p
    table: patients
    key: [mrn]
    columns:
      mrn: {path: "PID-3[5=MR].1", required: true}
)");
  const Error e = apply_error(mapping, msg({"PID|1||777^^^H^PI"}));
  EXPECT_TRUE(e.is(MappingErrc::missing_value));
  EXPECT_EQ(e.where(), "t.yaml:10 p.mrn");
  EXPECT_NE(e.detail().find("PID-3[5=MR].1"), std::string::npos) << e.detail();
  EXPECT_EQ(e.message().find("777"), std::string::npos);
}

TEST(MappingApply, BadDateNamesPathAndLengthButNotTheValue) {
  const Mapping mapping = load(R"(
entities:
  - as: patient
    table: patients
    key: [dob]
    columns:
      dob: {path: PID-7, type: date}
)");
  const Error e = apply_error(mapping, msg({"PID|1||||||2023130"}));
  EXPECT_TRUE(e.is(MappingErrc::bad_value));
  EXPECT_EQ(e.where(), "t.yaml:10 patient.dob");
  EXPECT_NE(e.detail().find("PID-7 (7 bytes) is not an HL7 date"), std::string::npos) << e.detail();
  EXPECT_EQ(e.message().find("2023130"), std::string::npos) << e.message();
  // A month out of range, and a date without its day.
  EXPECT_TRUE(apply_error(mapping, msg({"PID|1||||||20231301"})).is(MappingErrc::bad_value));
  EXPECT_NE(apply_error(mapping, msg({"PID|1||||||202301"})).detail().find("without its day"),
            std::string::npos);
  // A timestamp is a date too: its date part as written.
  EXPECT_EQ(col(apply_ok(mapping, msg({"PID|1||||||19800102233000-0500"})), 0, "dob"),
            MappedValue::of(Kind::date, "1980-01-02"));
}

TEST(MappingApply, TimestampsAreUtcWithTheOffsetOrTheMappingTimezone) {
  const Mapping mapping = load(R"(
timezone: +0200
entities:
  - as: e
    table: events
    key: [a]
    columns:
      a: {path: ZZZ-1, type: timestamp}
      b: {path: ZZZ-2, type: timestamp}
      c: {path: ZZZ-3, type: timestamp}
      d: {path: ZZZ-4, type: timestamp}
      e: {path: ZZZ-5, type: timestamp}
)");
  const MappedMessage m = apply_ok(
      mapping, msg({"ZZZ|20240305143000+0530|20240305143000|20240305|20240101003015.25-0100|"
                    "2024030514"}));
  EXPECT_EQ(col(m, 0, "a"), MappedValue::of(Kind::timestamp, "2024-03-05T09:00:00Z"));
  EXPECT_EQ(col(m, 0, "b"), MappedValue::of(Kind::timestamp, "2024-03-05T12:30:00Z"));
  EXPECT_EQ(col(m, 0, "c"), MappedValue::of(Kind::timestamp, "2024-03-04T22:00:00Z"));  // midnight
  EXPECT_EQ(col(m, 0, "d"), MappedValue::of(Kind::timestamp, "2024-01-01T01:30:15.250000Z"));
  EXPECT_EQ(col(m, 0, "e"), MappedValue::of(Kind::timestamp, "2024-03-05T12:00:00Z"));
  const Error bad = apply_error(mapping, msg({"ZZZ|2024030514300"}));
  EXPECT_TRUE(bad.is(MappingErrc::bad_value));
  EXPECT_NE(bad.detail().find("ZZZ-1 (13 bytes) is not an HL7 date/time"), std::string::npos);
}

TEST(MappingApply, ConvertsIntDecimalAndBool) {
  const Mapping mapping = load(R"(
entities:
  - as: o
    table: t
    key: [i]
    columns:
      i: {path: ZZZ-1, type: int}
      d: {path: ZZZ-2, type: decimal}
      b: {path: ZZZ-3, type: bool}
      b2: {path: ZZZ-4, type: bool}
)");
  const MappedMessage m = apply_ok(mapping, msg({"ZZZ|-42|+0.50|Y|false"}));
  EXPECT_EQ(col(m, 0, "i"), MappedValue::of_integer(-42));
  EXPECT_EQ(col(m, 0, "d"), MappedValue::of(Kind::decimal, "+0.50"));
  EXPECT_EQ(col(m, 0, "b"), MappedValue::of_bool(true));
  EXPECT_EQ(col(m, 0, "b2"), MappedValue::of_bool(false));
  EXPECT_EQ(col(apply_ok(mapping, msg({"ZZZ|1|.5|n|1"})), 0, "b"), MappedValue::of_bool(false));
  for (const char* bad : {"ZZZ|1.5", "ZZZ|99999999999999999999", "ZZZ|1|1.2.3", "ZZZ|1|1e5",
                          "ZZZ|1|1|maybe", "ZZZ|1|-"}) {
    const Error e = apply_error(mapping, msg({bad}));
    EXPECT_TRUE(e.is(MappingErrc::bad_value)) << bad;
  }
}

TEST(MappingApply, TransformsDecodesEscapesAndTakesTheFirstLeaf) {
  const Mapping mapping = load(R"(
entities:
  - as: o
    table: t
    key: [a]
    columns:
      a: {path: ZZZ-1, transform: [trim, upper]}
      b: {path: ZZZ-2, transform: lower}
      c: ZZZ-3
      d: ZZZ-4
      e: {path: ZZZ-5, transform: trim}
)");
  const MappedMessage m =
      apply_ok(mapping, msg({"ZZZ|  doe jr \t|ABC|Smith\\T\\Sons\\F\\x|DOE&VAN^JOHN|   "}));
  EXPECT_EQ(col(m, 0, "a"), text("DOE JR"));
  EXPECT_EQ(col(m, 0, "b"), text("abc"));
  EXPECT_EQ(col(m, 0, "c"), text("Smith&Sons|x"));
  EXPECT_EQ(col(m, 0, "d"), text("DOE"));  // a primitive takes the first sub-component
  EXPECT_FALSE(has(m, 0, "e"));            // nothing left after trim: absent
}

TEST(MappingApply, CodeTablesDefaultStrictAndNoDefault) {
  const Mapping mapping = load(R"(
tables:
  sex: {map: {M: male, F: female}, default: unknown}
  sex_null: {map: {M: male}, default: null}
  sex_open: {map: {M: male}}
  sex_strict: {map: {M: male}, strict: true}
  level: {map: {H: 2, L: 1}}
entities:
  - as: o
    table: t
    key: [a]
    columns:
      a: {path: ZZZ-1, code: sex}
      b: {path: ZZZ-1, code: sex_null}
      c: {path: ZZZ-1, code: sex_open}
      d: {path: ZZZ-2, code: sex_strict}
      e: {path: ZZZ-3, code: level, type: int}
      f: {path: ZZZ-1, code: sex_open, default: other}
)");
  const MappedMessage m = apply_ok(mapping, msg({"ZZZ|X|M|H"}));
  EXPECT_EQ(col(m, 0, "a"), text("unknown"));
  EXPECT_EQ(col(m, 0, "b"), MappedValue::null_value());
  EXPECT_FALSE(has(m, 0, "c"));
  EXPECT_EQ(col(m, 0, "d"), text("male"));
  EXPECT_EQ(col(m, 0, "e"), MappedValue::of_integer(2));
  EXPECT_EQ(col(m, 0, "f"), text("other"));
  const Error e = apply_error(mapping, msg({"ZZZ|M|Q"}));
  EXPECT_TRUE(e.is(MappingErrc::unknown_code));
  EXPECT_EQ(e.where(), "t.yaml:19 o.d");
  EXPECT_NE(e.detail().find("ZZZ-2 (1 byte) is not a code of table `sex_strict`"),
            std::string::npos)
      << e.detail();
}

TEST(MappingApply, ConcatJoinAndJson) {
  const Mapping mapping = load(R"(
entities:
  - as: o
    table: t
    key: [name]
    columns:
      name: {concat: [PID-5.2, {value: " "}, PID-5.1]}
      nothing: {concat: [PID-6.2, {value: " "}, PID-6.1]}
      aliases: {path: "PID-9[*].1", join: "; "}
      no_aliases: {path: "PID-10[*].1", join: "; "}
      obx: {path: "OBX[*]-3", join: ","}
      address:
        json:
          line1: PID-11.1
          zip: {path: PID-11.5, type: int}
          empty: PID-11.9
          geo: {json: {note: {value: "a \"b\"\n"}, none: PID-11.8}}
      no_address: {json: {a: PID-12.1}}
)");
  const MappedMessage m = apply_ok(
      mapping,
      msg({"PID|1||||DOE^JOHN||||A~~B^x~\"\"~C||1 Main^^X^^62701", "OBX|1||GLU", "OBX|2||NA"}));
  EXPECT_EQ(col(m, 0, "name"), text("JOHN DOE"));
  EXPECT_FALSE(has(m, 0, "nothing"));  // every path in it absent
  EXPECT_EQ(col(m, 0, "aliases"), text("A; B; C"));
  EXPECT_FALSE(has(m, 0, "no_aliases"));
  EXPECT_EQ(col(m, 0, "obx"), text("GLU,NA"));
  EXPECT_EQ(
      col(m, 0, "address"),
      MappedValue::of(Kind::json, R"({"line1":"1 Main","zip":62701,"geo":{"note":"a \"b\"\n"}})"));
  EXPECT_FALSE(has(m, 0, "no_address"));
}

TEST(MappingApply, ConditionsOnEntitiesAndColumns) {
  const Mapping mapping = load(R"(
entities:
  - as: o
    table: t
    key: [a]
    when: {any: [{path: MSH-9.2, matches: "A0*"}, {path: MSH-9.2, equals: A28}]}
    columns:
      a: {value: 1}
      eq: {value: 1, when: {path: PID-8, equals: M}}
      ne: {value: 1, when: {path: PID-8, not_equals: M}}
      in: {value: 1, when: {path: PID-8, in: [F, M]}}
      ex: {value: 1, when: {path: PID-13, exists: true}}
      nex: {value: 1, when: {path: PID-13, exists: false}}
      all: {value: 1, when: {all: [{path: PID-8, equals: M}, {path: "PID-3[*].5", equals: SS}]}}
      not: {value: 1, when: {not: {path: PID-8, equals: M}}}
      rep: {value: 1, when: {path: "PID-3[*].5", in: [MR]}}
)");
  const MappedMessage m = apply_ok(mapping, msg({"PID|1||1^^^H^MR~2^^^S^SS|||||M"}));
  ASSERT_EQ(m.rows.size(), 1u);
  for (const char* c : {"eq", "in", "nex", "all", "rep"}) EXPECT_TRUE(has(m, 0, c)) << c;
  for (const char* c : {"ne", "ex", "not"}) EXPECT_FALSE(has(m, 0, c)) << c;
  std::string a28 = msg({"PID|1"});
  a28.replace(a28.find("A01"), 3, "A28");
  EXPECT_EQ(apply_ok(mapping, a28).rows.size(), 1u);
  std::string a11 = msg({"PID|1"});
  a11.replace(a11.find("A01"), 3, "A11");
  EXPECT_EQ(apply_ok(mapping, a11).rows.size(), 0u);
}

TEST(MappingApply, RepetitionLoopsUseRelativePathsAndSkipEmptyRepetitions) {
  const Mapping mapping = load(R"(
entities:
  - as: id
    table: ids
    for_each: "PID-3[*]"
    key: [value]
    when: {path: .5, not_equals: XX}
    columns:
      value: {path: .1, required: true}
      authority: .4.2
      first_mr: "PID-3[5=MR].1"
)");
  const MappedMessage m = apply_ok(mapping, msg({"PID|1||1^^^H&1.2&ISO^PI~~2^^^S^MR~3^^^T^XX~4"}));
  ASSERT_EQ(m.rows.size(), 3u);
  EXPECT_EQ(col(m, 0, "value"), text("1"));
  EXPECT_EQ(col(m, 0, "authority"), text("1.2"));
  EXPECT_EQ(col(m, 0, "first_mr"), text("2"));
  EXPECT_EQ(col(m, 1, "value"), text("2"));
  EXPECT_EQ(col(m, 2, "value"), text("4"));
  const Error e = apply_error(mapping, msg({"PID|1||1~^^^H"}));
  EXPECT_NE(e.detail().find("PID-3[2].1 is empty"), std::string::npos) << e.detail();
}

TEST(MappingApply, SegmentLoopsReadOtherSegmentsFromTheWholeMessage) {
  const Mapping mapping = load(R"(
entities:
  - as: obx
    table: results
    for_each: OBX
    key: [set_id]
    columns:
      set_id: {path: OBX-1, type: int}
      first_set_id: {path: "OBX[1]-1", type: int}
      mrn: PID-3.1
      order: OBR-3
)");
  const MappedMessage m =
      apply_ok(mapping, msg({"PID|1||M1", "OBR|1||F1", "OBX|1", "OBR|2||F2", "OBX|2", "OBX|3"}));
  ASSERT_EQ(m.rows.size(), 3u);
  EXPECT_EQ(col(m, 2, "set_id"), MappedValue::of_integer(3));
  EXPECT_EQ(col(m, 2, "first_set_id"), MappedValue::of_integer(1));
  EXPECT_EQ(col(m, 2, "mrn"), text("M1"));
  EXPECT_EQ(col(m, 2, "order"), text("F1"));  // not a loop here: the first OBR
  EXPECT_EQ(apply_ok(mapping, msg({"PID|1"})).rows.size(), 0u);
  const Error e = apply_error(mapping, msg({"OBX|1", "OBX|x"}));
  EXPECT_NE(e.detail().find("OBX[2]-1 (1 byte)"), std::string::npos) << e.detail();
}

TEST(MappingApply, RefsToSkippedEntitiesAreAbsentOrAnError) {
  const Mapping mapping = load(R"(
entities:
  - as: visit
    table: visits
    key: [a]
    columns:
      patient: {ref: patient}
      optional: {ref: maybe}
      a: {value: 1}
  - as: maybe
    table: m
    key: [a]
    when: {path: PV1-2, equals: I}
    columns: {a: PV1-2}
  - as: patient
    table: patients
    key: [a]
    columns: {a: PID-3}
)");
  const MappedMessage m = apply_ok(mapping, msg({"PID|1||5", "PV1|1|O"}));
  ASSERT_EQ(m.rows.size(), 2u);
  // Declared first, but it refers to patient: it comes after it.
  EXPECT_EQ(m.rows[0].as, "patient");
  EXPECT_EQ(m.rows[1].as, "visit");
  EXPECT_EQ(col(m, 1, "patient"), MappedValue::of_ref(0));
  EXPECT_FALSE(has(m, 1, "optional"));

  const Mapping strict = load(R"(
entities:
  - as: order
    table: orders
    key: [a]
    columns: {a: {value: 1}, patient: {ref: patient, required: true}}
  - as: patient
    table: patients
    key: [a]
    when: {path: PID-3, exists: true}
    columns: {a: PID-3}
)");
  const Error e = apply_error(strict, msg({"PV1|1"}));
  EXPECT_TRUE(e.is(MappingErrc::missing_value));
  EXPECT_EQ(e.where(), "t.yaml:9 order.patient");
  EXPECT_NE(e.detail().find("`patient`, which made no row"), std::string::npos);
}

TEST(MappingApply, NestedEntitiesRunOncePerParentInstance) {
  const Mapping mapping = load(R"(
entities:
  - as: order
    table: orders
    for_each: OBR
    key: [n]
    when: {path: OBR-25, not_equals: X}
    columns: {n: OBR-3}
    entities:
      - as: note
        table: notes
        key: [order]
        columns: {order: {ref: order}, text: NTE-3}
      - as: result
        table: results
        for_each: OBX
        key: [order, n]
        columns: {order: {ref: order}, note: {ref: note}, n: OBX-1}
)");
  const MappedMessage m = apply_ok(
      mapping,
      msg({"OBR|1||A", "OBX|1", "OBX|2", "OBR|2||B||||||||||||||||||||||X", "OBX|3", "OBR|3||C"}));
  std::vector<std::string> shape;
  for (const MappedRow& r : m.rows) shape.emplace_back(r.as);
  EXPECT_EQ(shape,
            (std::vector<std::string>{"order", "note", "result", "result", "order", "note"}));
  EXPECT_EQ(col(m, 3, "note"), MappedValue::of_ref(1));
  EXPECT_EQ(col(m, 5, "order"), MappedValue::of_ref(4));
}

TEST(MappingApply, AcceptsMessagePatterns) {
  const Mapping adt = load_file("adt_patient.yaml");
  EXPECT_TRUE(adt.accepts("ADT", "A01"));
  EXPECT_TRUE(adt.accepts("ADT", "A08"));
  EXPECT_FALSE(adt.accepts("ADT", "A11"));
  EXPECT_FALSE(adt.accepts("ORU", "R01"));
  EXPECT_TRUE(
      load("entities: [{as: x, table: x, key: [a], columns: {a: PID-1}}]").accepts("ZZZ", "Z99"));
}

TEST(MappingApply, MapsCorpusMessages) {
  const auto dir = test::corpus_dir() / "hl7v2" / "microsoft-fhir-converter";
  const Mapping oru = load_file("oru_results.yaml");
  {
    const std::string bytes = test::read_file(dir / "LAB-ORU-2.hl7");
    auto view = hl7v2::MessageView::parse(bytes);
    ASSERT_TRUE(view.ok());
    ASSERT_TRUE(oru.accepts(*view));
    auto m = oru.apply(*view);
    ASSERT_TRUE(m.ok()) << m.error().message();
    std::size_t orders = 0;
    std::size_t results = 0;
    for (const MappedRow& r : m->rows) {
      orders += r.as == "order" ? 1 : 0;
      results += r.as == "result" ? 1 : 0;
    }
    EXPECT_EQ(orders, 2u);
    EXPECT_GE(results, 9u);
    EXPECT_EQ(col(*m, 0, "mrn"), text("10006579"));
    EXPECT_EQ(col(*m, 1, "filler_order_number"), text("890775544"));
  }
  {
    // OBX-11 `I` is not in the strict status table.
    const std::string bytes = test::read_file(dir / "LAB-ORU-1.hl7");
    auto view = hl7v2::MessageView::parse(bytes);
    ASSERT_TRUE(view.ok());
    auto m = oru.apply(*view);
    ASSERT_FALSE(m.ok());
    EXPECT_TRUE(m.error().is(MappingErrc::unknown_code));
    EXPECT_NE(m.error().detail().find("OBX[1]-11 (1 byte)"), std::string::npos);
  }
  {
    const Mapping adt = load_file("adt_patient.yaml");
    const std::string bytes = test::read_file(dir / "ADT-A01-01.hl7");
    auto view = hl7v2::MessageView::parse(bytes);
    ASSERT_TRUE(view.ok());
    auto m = adt.apply(*view);
    ASSERT_TRUE(m.ok()) << m.error().message();
    EXPECT_EQ(col(*m, 0, "mrn"), text("PATID1234"));
    EXPECT_EQ(col(*m, 0, "last_name"), text("EVERYMAN"));
    ASSERT_EQ(m->rows.size(), 3u);
    EXPECT_EQ(col(*m, 2, "value"), text("123456789"));
  }
}

TEST(MappingApply, IsSafeToCallFromManyThreads) {
  const Mapping mapping = load_file("oru_results.yaml");
  const std::string bytes = test::read_file(test::source_dir() / "tests/data/mappings/oru_r01.hl7");
  auto view = hl7v2::MessageView::parse(bytes);
  ASSERT_TRUE(view.ok());
  auto reference = mapping.apply(*view);
  ASSERT_TRUE(reference.ok());
  const std::string expected = to_json(*reference, false);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        auto m = mapping.apply(*view);
        if (!m.ok() || to_json(*m, false) != expected) ++mismatches[static_cast<std::size_t>(t)];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int n : mismatches) EXPECT_EQ(n, 0);
}

TEST(MappingApply, RowsOutliveTheMappingObject) {
  MappedMessage m;
  {
    const Mapping mapping = load_file("adt_patient.yaml");
    m = apply_ok(mapping, test::read_file(test::source_dir() / "tests/data/mappings/adt_a01.hl7"));
  }
  ASSERT_FALSE(m.rows.empty());
  EXPECT_EQ(m.rows[0].table, "patients");
  EXPECT_EQ(m.mapping, "adt-patient");
}

TEST(MappingApply, FirstTakesTheFirstPresentPart) {
  const Mapping m = load(
      "entities:\n  - as: p\n    table: patients\n    key: [mrn]\n    columns:\n"
      "      mrn: {first: [\"PID-3[5=MR].1\", PID-3.1], required: true}\n"
      "      name: {first: [PID-5.2, PID-5.1, {value: unknown}], transform: upper}\n"
      "      born: {first: [PID-7, PID-29], type: date}\n"
      "      none: {first: [PID-30, PID-31]}\n");
  // MR repetition wins over the first repetition.
  MappedMessage a = apply_ok(m, msg({"PID|1||111^^^H^PI~222^^^H^MR||DOE^JOHN||19800102"}));
  EXPECT_EQ(col(a, 0, "mrn").text, "222");
  EXPECT_EQ(col(a, 0, "name").text, "JOHN");
  EXPECT_EQ(col(a, 0, "born"), MappedValue::of(Kind::date, "1980-01-02"));
  EXPECT_FALSE(has(a, 0, "none"));
  // No MR repetition: the first one; no given name: the family name; nothing: the literal.
  MappedMessage b = apply_ok(m, msg({"PID|1||111^^^H^PI||doe"}));
  EXPECT_EQ(col(b, 0, "mrn").text, "111");
  EXPECT_EQ(col(b, 0, "name").text, "DOE");
  MappedMessage c = apply_ok(m, msg({"PID|1||111"}));
  EXPECT_EQ(col(c, 0, "name").text, "UNKNOWN");
  // An explicit null is skipped for a later present part, and is the value when none is.
  MappedMessage d = apply_ok(m, msg({"PID|1||111||\"\"^\"\"||\"\"||||||||||||||||||||||19900101"}));
  EXPECT_EQ(col(d, 0, "name").text, "UNKNOWN");
  EXPECT_EQ(col(d, 0, "born"), MappedValue::of(Kind::date, "1990-01-01"));
  MappedMessage e = apply_ok(m, msg({"PID|1||111||||\"\""}));
  EXPECT_EQ(col(e, 0, "born").kind, Kind::null);
  // required applies to the whole: nothing present is an error naming the column.
  const Error err = apply_error(m, msg({"PID|1"}));
  EXPECT_NE(err.message().find("p.mrn"), std::string::npos) << err.message();
}

TEST(MappingApply, KeyAnyIsCarriedOnTheRow) {
  const Mapping m = load(
      "entities:\n  - as: o\n    table: lab_orders\n"
      "    key: {any: [placer_order_number, filler_order_number]}\n    columns:\n"
      "      placer_order_number: ORC-2.1\n      filler_order_number: ORC-3.1\n");
  MappedMessage a = apply_ok(m, msg({"ORC|NW|P1|F1"}));
  ASSERT_EQ(a.rows.size(), 1u);
  EXPECT_TRUE(a.rows[0].key_any);
  ASSERT_EQ(a.rows[0].key.size(), 2u);
  ASSERT_EQ(a.rows[0].key_alternatives.size(), 2u);
  EXPECT_EQ(a.rows[0].key_alternatives[1], (std::vector<std::string>{"filler_order_number"}));
  EXPECT_NE(to_json(a, false).find("\"key_any\":[[\"placer_order_number\"],[\"filler_order_"
                                   "number\"]]"),
            std::string::npos)
      << to_json(a);
  // Composite alternatives.
  const Mapping composite = load(
      "entities:\n  - as: d\n    table: healthcare_providers\n"
      "    key: {any: [npi, [identifier_system, identifier_value]]}\n    columns:\n"
      "      npi: PV1-7.1\n      identifier_system: PV1-7.9\n      identifier_value: PV1-7.1\n");
  MappedMessage c = apply_ok(composite, msg({"PV1|1|I|||||123^DOE^JOHN^^^^^^NPI"}));
  ASSERT_EQ(c.rows[0].key_alternatives.size(), 2u);
  EXPECT_EQ(c.rows[0].key_alternatives[1],
            (std::vector<std::string>{"identifier_system", "identifier_value"}));
  EXPECT_EQ(std::vector<std::string>(c.rows[0].key.begin(), c.rows[0].key.end()),
            (std::vector<std::string>{"npi", "identifier_system", "identifier_value"}));
  const Mapping all_keys = load(
      "entities: [{as: o, table: lab_orders, key: [placer_order_number], columns: "
      "{placer_order_number: ORC-2.1}}]");
  EXPECT_FALSE(apply_ok(all_keys, msg({"ORC|NW|P1"})).rows[0].key_any);
}

TEST(MappingApply, InsertDefaultMarksTheColumnInsertOnly) {
  const Mapping m = load(
      "entities:\n  - as: p\n    table: patients\n    key: [mrn]\n    columns:\n"
      "      mrn: PID-3.1\n      first_name: {path: PID-5.2, insert_default: \"\"}\n"
      "      born: {path: PID-7, type: date, insert_default: \"19000101\"}\n");
  MappedMessage given = apply_ok(m, msg({"PID|1||1||DOE^JOHN||19800102"}));
  EXPECT_TRUE(given.rows[0].insert_only.empty());
  MappedMessage absent = apply_ok(m, msg({"PID|1||1||DOE"}));
  EXPECT_EQ(col(absent, 0, "first_name").text, "");
  EXPECT_EQ(col(absent, 0, "born"), MappedValue::of(Kind::date, "1900-01-01"));
  EXPECT_EQ(absent.rows[0].insert_only, (std::vector<std::string_view>{"first_name", "born"}));
  EXPECT_NE(to_json(absent).find("\"insert_only\""), std::string::npos);
}

TEST(MappingApply, OtherSegmentsInsideALoopAreReadFromItsGroupFirst) {
  const Mapping m = load(
      "entities:\n  - as: g\n    table: t\n    key: [placer]\n    for_each: ORC\n"
      "    columns:\n      placer: ORC-2\n      route: RXR-1\n      patient: PID-3.1\n"
      "      first_rxr: RXR[1]-1\n"
      "    entities:\n      - as: rx\n        table: t2\n        key: [code]\n"
      "        for_each: RXE\n        columns:\n          code: RXE-2\n          route: RXR-1\n"
      "          timing: TQ1-3\n");
  MappedMessage out = apply_ok(m, msg({"PID|1||P1", "ORC|NW|O1", "TQ1|1||BID", "RXR|IV", "RXE||A1",
                                       "RXR|PO", "ORC|NW|O2", "RXR|IM", "RXE||B2", "TQ1|1||TID"}));
  ASSERT_EQ(out.rows.size(), 4u);
  // The first ORC group: its own RXR; PID (in no group) from the message; an index: the message.
  EXPECT_EQ(col(out, 0, "route").text, "IV");
  EXPECT_EQ(col(out, 0, "patient").text, "P1");
  EXPECT_EQ(col(out, 0, "first_rxr").text, "IV");
  // Its RXE: the RXE's own RXR; TQ1 not in the RXE's group: the ORC's.
  EXPECT_EQ(col(out, 1, "route").text, "PO");
  EXPECT_EQ(col(out, 1, "timing").text, "BID");
  // The second group: no RXR after its RXE: the ORC's; the RXE's own TQ1.
  EXPECT_EQ(col(out, 2, "route").text, "IM");
  EXPECT_EQ(col(out, 2, "first_rxr").text, "IV");
  EXPECT_EQ(col(out, 3, "route").text, "IM");
  EXPECT_EQ(col(out, 3, "timing").text, "TID");
}

TEST(MappingApply, AGroupMakesNoRowAndScopesWhatIsNestedInIt) {
  const Mapping m = load(
      "entities:\n  - as: p\n    table: patients\n    key: [mrn]\n    columns: {mrn: PID-3.1}\n"
      "  - as: order_group\n    for_each: ORC\n    entities:\n"
      "      - as: o\n        table: lab_orders\n        key: [placer]\n        for_each: OBR\n"
      "        columns:\n          placer: ORC-2\n          test: OBR-4\n"
      "          patient_id: {ref: p}\n");
  MappedMessage out = apply_ok(
      m, msg({"PID|1||P1", "ORC|NW|A1", "OBR|1|||CBC", "ORC|NW|A2", "OBR|1|||LIP", "OBR|2|||BMP"}));
  ASSERT_EQ(out.rows.size(), 4u);  // the patient and three orders; the group makes none
  EXPECT_EQ(col(out, 1, "placer").text, "A1");
  EXPECT_EQ(col(out, 2, "placer").text, "A2");
  EXPECT_EQ(col(out, 3, "placer").text, "A2");
  EXPECT_EQ(col(out, 3, "test").text, "BMP");
  EXPECT_EQ(col(out, 3, "patient_id"), MappedValue::of_ref(0));
  EXPECT_EQ(m.targets().size(), 2u);  // the group writes nothing
}

}  // namespace
}  // namespace hims::engine

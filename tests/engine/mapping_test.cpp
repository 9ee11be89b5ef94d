// The mapping module's public pieces: MappedRow::find, the JSON form `hims-engine map` prints,
// names of error codes and value kinds.
#include "engine/mapping.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>

#include "hl7v2/message.hpp"

namespace hims::engine {
namespace {

using Kind = MappedValue::Kind;

TEST(Mapping, JsonShowsRowsWithIdsRefsAndTypedValues) {
  auto mapping = load_mapping_text(R"(
mapping: j
from: hl7v2
messages: ['*']
entities:
  - as: patient
    table: patients
    key: [mrn]
    columns:
      mrn: PID-3
      n: {path: PID-4, type: int}
      d: {path: PID-5, type: decimal}
      b: {value: false}
      nothing: {value: null}
      addr: {json: {city: PID-11.3}}
  - as: id
    table: ids
    for_each: "PID-3[*]"
    key: [v]
    columns: {v: .1, patient: {ref: patient}}
)",
                                   "j.yaml");
  ASSERT_TRUE(mapping.ok()) << mapping.error().message();
  auto view = hl7v2::MessageView::parse(
      "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1||7~8|12|1.50||||||^^Spring \"X\"");
  ASSERT_TRUE(view.ok());
  auto m = mapping->apply(*view);
  ASSERT_TRUE(m.ok()) << m.error().message();
  const std::string json = to_json(*m, false);
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  ASSERT_FALSE(doc.HasParseError()) << json;
  EXPECT_STREQ(doc["mapping"].GetString(), "j");
  const auto& rows = doc["rows"];
  ASSERT_EQ(rows.Size(), 3u);
  EXPECT_STREQ(rows[0]["id"].GetString(), "patient#0");
  EXPECT_STREQ(rows[0]["table"].GetString(), "patients");
  EXPECT_STREQ(rows[0]["as"].GetString(), "patient");
  EXPECT_STREQ(rows[0]["key"][0].GetString(), "mrn");
  EXPECT_STREQ(rows[0]["rule"].GetString(), "j.yaml:6");
  const auto& c = rows[0]["columns"];
  EXPECT_STREQ(c["mrn"].GetString(), "7");
  EXPECT_EQ(c["n"].GetInt64(), 12);
  EXPECT_STREQ(c["d"].GetString(), "1.50");
  EXPECT_TRUE(c["b"].IsFalse());
  EXPECT_TRUE(c["nothing"].IsNull());
  EXPECT_STREQ(c["addr"]["city"].GetString(), "Spring \"X\"");
  EXPECT_STREQ(rows[2]["id"].GetString(), "id#1");
  EXPECT_STREQ(rows[2]["columns"]["patient"]["ref"].GetString(), "patient#0");
  EXPECT_NE(to_json(*m, true).find("\n  \"rows\""), std::string::npos);
}

TEST(Mapping, FindReturnsAColumnOrNull) {
  MappedRow row;
  row.columns.emplace_back("a", MappedValue::of(Kind::text, "x"));
  ASSERT_NE(row.find("a"), nullptr);
  EXPECT_EQ(row.find("a")->text, "x");
  EXPECT_EQ(row.find("b"), nullptr);
}

TEST(Mapping, NamesCodesAndKinds) {
  EXPECT_EQ(to_string(MappingErrc::missing_value), "missing_value");
  EXPECT_EQ(to_string(MappingErrc::unknown_code), "unknown_code");
  EXPECT_EQ(to_string(Kind::timestamp), "timestamp");
  EXPECT_EQ(to_string(Kind::ref), "ref");
  const Error e(MappingErrc::bad_value, "m.yaml:3 p.dob", "PID-7 (7 bytes) is not an HL7 date");
  EXPECT_EQ(e.message(), "engine.bad_value at m.yaml:3 p.dob: PID-7 (7 bytes) is not an HL7 date");
}

}  // namespace
}  // namespace hims::engine

#include "hl7v2/types.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/corpus.hpp"

namespace hims::hl7v2 {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::sys_days;

Message parse_or_die(std::string bytes) {
  auto parsed = Message::parse(std::move(bytes));
  if (!parsed) {
    ADD_FAILURE() << parsed.error().message();
    return Message::parse("MSH|^~\\&|\r").value();
  }
  return std::move(parsed).value();
}

Message corpus_message(const char* relative) {
  return parse_or_die(test::read_file(test::corpus_dir() / "hl7v2" / relative));
}

ElementView field(const Message& m, const char* path) {
  auto e = m.view().get(std::string_view(path));
  EXPECT_TRUE(e.ok()) << path;
  return e.ok() ? e.value() : ElementView{};
}

Timestamp ts_or_die(std::string_view raw) {
  auto r = parse_timestamp(raw);
  EXPECT_TRUE(r.ok()) << "'" << raw << "': " << (r.ok() ? "" : r.error().message());
  return r.ok() ? r.value() : Timestamp{};
}

// ---- TS / DTM: happy paths ------------------------------------------------------------------

TEST(Timestamp, KeepsEachPrecisionInIso8601) {
  EXPECT_EQ(ts_or_die("2024").to_iso8601(), "2024");
  EXPECT_EQ(ts_or_die("202403").to_iso8601(), "2024-03");
  EXPECT_EQ(ts_or_die("20240305").to_iso8601(), "2024-03-05");
  EXPECT_EQ(ts_or_die("2024030514").to_iso8601(), "2024-03-05T14");
  EXPECT_EQ(ts_or_die("202403051430").to_iso8601(), "2024-03-05T14:30");
  EXPECT_EQ(ts_or_die("20240305143015").to_iso8601(), "2024-03-05T14:30:15");
  EXPECT_EQ(ts_or_die("20240305143015.1").to_iso8601(), "2024-03-05T14:30:15.1");
  EXPECT_EQ(ts_or_die("20240305143015.0123").to_iso8601(), "2024-03-05T14:30:15.0123");
}

TEST(Timestamp, RecordsPrecisionAndFields) {
  const Timestamp ts = ts_or_die("20240305143015.123+0200");
  EXPECT_EQ(ts.precision, TimePrecision::fraction);
  EXPECT_EQ(ts.year, 2024);
  EXPECT_EQ(ts.month, 3u);
  EXPECT_EQ(ts.day, 5u);
  EXPECT_EQ(ts.hour, 14u);
  EXPECT_EQ(ts.minute, 30u);
  EXPECT_EQ(ts.second, 15u);
  EXPECT_EQ(ts.fraction, 123u);
  EXPECT_EQ(ts.fraction_digits, 3);
  ASSERT_TRUE(ts.utc_offset_minutes.has_value());
  EXPECT_EQ(*ts.utc_offset_minutes, 120);
  EXPECT_EQ(ts_or_die("2024").precision, TimePrecision::year);
  EXPECT_EQ(ts_or_die("202403051430").precision, TimePrecision::minute);
  EXPECT_FALSE(ts_or_die("202403051430").utc_offset_minutes.has_value());
}

TEST(Timestamp, WritesOffsetInIso8601AtHourOrFiner) {
  EXPECT_EQ(ts_or_die("20240305143015.123+0200").to_iso8601(), "2024-03-05T14:30:15.123+02:00");
  EXPECT_EQ(ts_or_die("202403051430-0530").to_iso8601(), "2024-03-05T14:30-05:30");
  EXPECT_EQ(ts_or_die("202403051430+0000").to_iso8601(), "2024-03-05T14:30+00:00");
  // A date has no zone in ISO 8601.
  EXPECT_EQ(ts_or_die("20240305+0200").to_iso8601(), "2024-03-05");
}

TEST(Timestamp, ConvertsToUtcWithItsOwnOffset) {
  EXPECT_EQ(ts_or_die("20240305143015.123+0200").to_utc_iso8601(), "2024-03-05T12:30:15.123Z");
  EXPECT_EQ(ts_or_die("202401010030+0100").to_utc_iso8601(), "2023-12-31T23:30Z");
  EXPECT_EQ(ts_or_die("20240229233000-0130").to_utc_iso8601(), "2024-03-01T01:00:00Z");
}

TEST(Timestamp, ConvertsToUtcWithTheCallersOffsetWhenNoneIsKnown) {
  EXPECT_EQ(ts_or_die("202403051430").to_utc_iso8601(60), "2024-03-05T13:30Z");
  EXPECT_EQ(ts_or_die("202403051430").to_utc_iso8601(), "2024-03-05T14:30Z");
  // A known offset wins over the default.
  EXPECT_EQ(ts_or_die("202403051430+0000").to_utc_iso8601(60), "2024-03-05T14:30Z");
}

TEST(Timestamp, LeavesDatesUnshiftedInUtc) {
  EXPECT_EQ(ts_or_die("19880818").to_utc_iso8601(-300), "1988-08-18");
  EXPECT_EQ(ts_or_die("198808").to_utc_iso8601(600), "1988-08");
}

TEST(Timestamp, GivesTheInstantAsSysTime) {
  const auto expected = sys_days{std::chrono::year{2024} / 3 / 5} + hours{12} + minutes{30} +
                        seconds{15} + milliseconds{123};
  EXPECT_EQ(ts_or_die("20240305143015.123+0200").to_sys_time(), expected);
  EXPECT_EQ(ts_or_die("20240305123015.123").to_sys_time(), expected);
  EXPECT_EQ(ts_or_die("20240305133015.123").to_sys_time(60), expected);
  EXPECT_EQ(ts_or_die("2024").to_sys_time(), sys_days{std::chrono::year{2024} / 1 / 1});
}

TEST(Timestamp, ReadsBirthDateFromCorpusPid7AsWritten) {
  const Message m = corpus_message("microsoft-fhir-converter/ADT-A01-01.hl7");
  auto ts = parse_timestamp(field(m, "PID-7"), "PID-7");
  ASSERT_TRUE(ts.ok()) << ts.error().message();
  EXPECT_EQ(ts->date().to_iso8601(), "1988-08-18");
  EXPECT_EQ(ts->to_iso8601(), "1988-08-18T11:26+02:15");
  EXPECT_EQ(ts->to_utc_iso8601(), "1988-08-18T09:11Z");
}

TEST(Timestamp, ReadsNegativeOffsetWithFractionFromCorpusMsh7) {
  const Message m =
      corpus_message("hapi-hl7v2/NewPipeParserTest_L1196_oru_r01_unknown_version_2_999.hl7");
  auto ts = parse_timestamp(field(m, "MSH-7"), "MSH-7");
  ASSERT_TRUE(ts.ok()) << ts.error().message();
  EXPECT_EQ(ts->to_iso8601(), "2002-10-11T16:17:56.297-05:00");
  EXPECT_EQ(ts->to_utc_iso8601(), "2002-10-11T21:17:56.297Z");
}

TEST(Timestamp, IgnoresOldDegreeOfPrecisionComponent) {
  EXPECT_EQ(ts_or_die("20240305^D").precision, TimePrecision::day);
  const Message m = parse_or_die("MSH|^~\\&|A|B|C|D|20240305143015^S||ADT^A01|1|P|2.4\r");
  auto ts = parse_timestamp(field(m, "MSH-7"));
  ASSERT_TRUE(ts.ok());
  EXPECT_EQ(ts->to_iso8601(), "2024-03-05T14:30:15");
}

TEST(Timestamp, AcceptsLeapDays) {
  EXPECT_EQ(ts_or_die("20240229").to_iso8601(), "2024-02-29");
  EXPECT_EQ(ts_or_die("20000229").to_iso8601(), "2000-02-29");
}

TEST(Timestamp, AcceptsOffsetsAtTheLimits) {
  EXPECT_EQ(ts_or_die("202403051430+1400").utc_offset_minutes, 840);
  EXPECT_EQ(ts_or_die("202403051430-1400").utc_offset_minutes, -840);
}

TEST(Timestamp, RoundTripsThroughHl7Form) {
  for (const char* raw :
       {"2024", "202403", "20240305", "2024030514", "202403051430", "20240305143015",
        "20240305143015.1234", "20240305143015.123-0500", "202403051430+0215"}) {
    EXPECT_EQ(ts_or_die(raw).to_hl7(), raw);
  }
}

TEST(Timestamp, BuildsFromSysTimeAtAGivenOffset) {
  const auto instant = sys_days{std::chrono::year{2024} / 3 / 5} + hours{23} + minutes{30} +
                       seconds{15} + milliseconds{250};
  EXPECT_EQ(Timestamp::from_sys_time(instant, 120).to_hl7(), "20240306013015+0200");
  EXPECT_EQ(Timestamp::from_sys_time(instant, 0, TimePrecision::fraction).to_hl7(),
            "20240305233015.250+0000");
  EXPECT_EQ(Timestamp::from_sys_time(instant, -60, TimePrecision::minute).to_hl7(),
            "202403052230-0100");
}

// ---- TS / DTM: errors -----------------------------------------------------------------------

void expect_bad(std::string_view raw, std::string_view detail_part) {
  auto r = parse_timestamp(raw, "OBX-14");
  ASSERT_FALSE(r.ok()) << "'" << raw << "' parsed";
  EXPECT_TRUE(r.error().is(Errc::bad_value)) << r.error().message();
  EXPECT_EQ(r.error().where(), "OBX-14");
  EXPECT_NE(r.error().detail().find(detail_part), std::string::npos)
      << "'" << raw << "': " << r.error().detail();
}

TEST(TimestampErrors, RejectsEmpty) { expect_bad("", "empty"); }
TEST(TimestampErrors, RejectsDashedDates) { expect_bad("2024-03-05", "offset"); }
TEST(TimestampErrors, RejectsTooFewDigits) { expect_bad("202", "not 3"); }
TEST(TimestampErrors, RejectsOddDigitCounts) { expect_bad("2024031", "not 7"); }
TEST(TimestampErrors, RejectsTooManyDigits) { expect_bad("2024030514301599", "not 16"); }
TEST(TimestampErrors, RejectsMonth13) { expect_bad("202413", "month"); }
TEST(TimestampErrors, RejectsMonth0) { expect_bad("20240005", "month"); }
TEST(TimestampErrors, RejectsDay0) { expect_bad("20240100", "day"); }
TEST(TimestampErrors, RejectsApril31) { expect_bad("20240431", "day"); }
TEST(TimestampErrors, RejectsFeb29InCommonYears) {
  expect_bad("20230229", "day");
  expect_bad("19000229", "day");
}
TEST(TimestampErrors, RejectsYear0) { expect_bad("0000", "year"); }
TEST(TimestampErrors, RejectsHour24) { expect_bad("2024030524", "hour"); }
TEST(TimestampErrors, RejectsMinute60) { expect_bad("202403051260", "minute"); }
TEST(TimestampErrors, RejectsSecond60) { expect_bad("20240305123060", "second"); }
TEST(TimestampErrors, RejectsFractionWithoutSeconds) { expect_bad("202403051230.5", "seconds"); }
TEST(TimestampErrors, RejectsFiveFractionDigits) { expect_bad("20240305123015.12345", "1 to 4"); }
TEST(TimestampErrors, RejectsEmptyFraction) { expect_bad("20240305123015.", "1 to 4"); }
TEST(TimestampErrors, RejectsOffsetBeyond14Hours) { expect_bad("202403051230+1401", "offset"); }
TEST(TimestampErrors, RejectsOffsetMinutes60) { expect_bad("202403051230+0160", "offset"); }
TEST(TimestampErrors, RejectsShortOffset) { expect_bad("202403051230+02", "offset"); }
TEST(TimestampErrors, RejectsTrailingGarbage) {
  expect_bad("20240305x", "unexpected character");
  expect_bad("20240305 ", "unexpected character");
  expect_bad("202403051230+0200Z", "unexpected character");
}

TEST(TimestampErrors, NeverEchoTheValue) {
  auto r = parse_timestamp("19880818112699", "PID-7");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message().find("1988"), std::string::npos) << r.error().message();
  EXPECT_EQ(r.error().where(), "PID-7");
}

TEST(TimestampErrors, RejectsExplicitNullElement) {
  const Message m = parse_or_die("MSH|^~\\&|A|B|C|D|\"\"||ADT^A01|1|P|2.5\r");
  auto r = parse_timestamp(field(m, "MSH-7"), "MSH-7");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(Errc::bad_value));
}

// ---- DT -------------------------------------------------------------------------------------

TEST(Date, ParsesEachPrecision) {
  auto day = parse_date("19880818");
  ASSERT_TRUE(day.ok());
  EXPECT_EQ(day->to_iso8601(), "1988-08-18");
  EXPECT_EQ(day->to_hl7(), "19880818");
  EXPECT_EQ(parse_date("198808")->to_iso8601(), "1988-08");
  EXPECT_EQ(parse_date("1988")->to_iso8601(), "1988");
  EXPECT_EQ(parse_date("1988")->precision, TimePrecision::year);
}

TEST(Date, ComesFromATimestampAtDayPrecisionOrCoarser) {
  EXPECT_EQ(ts_or_die("20240305143015").date(), (Date{2024, 3, 5, TimePrecision::day}));
  EXPECT_EQ(ts_or_die("202403").date(), (Date{2024, 3, 1, TimePrecision::month}));
}

TEST(DateErrors, RejectsBadDates) {
  for (const char* raw : {"", "19881301", "19880832", "1988081", "1988-08-18", "198808181200"}) {
    auto r = parse_date(raw, "PID-7");
    ASSERT_FALSE(r.ok()) << raw;
    EXPECT_TRUE(r.error().is(Errc::bad_value));
    EXPECT_EQ(r.error().where(), "PID-7");
  }
}

// ---- Value: null vs empty -------------------------------------------------------------------

TEST(Value, TellsExplicitNullFromEmpty) {
  const Message m =
      parse_or_die("MSH|^~\\&|A|B|C|D|2024||ADT^A08|1|P|2.5\rPID|1||\"\"||\"\"^JOHN|\r");
  const Cx id = Cx::from(field(m, "PID-3"));
  EXPECT_TRUE(id.id.null);
  EXPECT_FALSE(id.id.has_value());
  const Xpn name = Xpn::from(field(m, "PID-5"));
  EXPECT_TRUE(name.family.surname.null);
  EXPECT_EQ(name.given.text, "JOHN");
  EXPECT_FALSE(name.given.null);
  const Value absent = Value::from(field(m, "PID-4"));
  EXPECT_FALSE(absent.null);
  EXPECT_FALSE(absent.has_value());
}

TEST(Value, TakesTheFirstPartOfAPrimitiveWithExtraComponents) {
  const Message m =
      corpus_message("hapi-hl7v2/NewPipeParserTest_L1046_oru_pid1_extra_components.hl7");
  EXPECT_EQ(Value::from(field(m, "PID-1")).text, "4");
}

TEST(Value, DecodesEscapes) {
  const Message m =
      parse_or_die("MSH|^~\\&|A|B|C|D|2024||ADT^A08|1|P|2.5\rPID|1||||O\\T\\BRIEN^JO\\S\\ANN\r");
  const Xpn name = Xpn::from(field(m, "PID-5"));
  EXPECT_EQ(name.family.surname.text, "O&BRIEN");
  EXPECT_EQ(name.given.text, "JO^ANN");
}

TEST(Value, IsEmptyForADefaultElement) {
  EXPECT_EQ(Value::from(ElementView{}), Value{});
  EXPECT_EQ(Xpn::from(ElementView{}), Xpn{});
  EXPECT_TRUE(Cx::from(ElementView{}).assigning_authority.empty());
}

// ---- XPN ------------------------------------------------------------------------------------

TEST(Xpn, ReadsFamilyNameSubcomponentsFromCorpusPid5) {
  const Message m = corpus_message("microsoft-fhir-converter/ADT-A01-01.hl7");
  const Xpn name = Xpn::from(field(m, "PID-5"));
  EXPECT_EQ(name.family.surname.text, "EVERYMAN");
  EXPECT_EQ(name.family.surname_from_partner.text, "Aniston");
  EXPECT_FALSE(name.family.own_surname.has_value());
  EXPECT_EQ(name.given.text, "ADAM");
  EXPECT_EQ(name.middle.text, "A");
  EXPECT_EQ(name.suffix.text, "III");
  EXPECT_EQ(name.prefix.text, "Dr.");
  EXPECT_EQ(name.degree.text, "MD");
  EXPECT_EQ(name.name_type.text, "D");
  EXPECT_EQ(name.professional_suffix.text, "PF");
}

TEST(Xpn, ReadsEveryRepetition) {
  const Message m = corpus_message("microsoft-fhir-converter/ADT-A01-01.hl7");
  const auto names = from_repetitions<Xpn>(field(m, "PID-5"));
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[1].family.surname.text, "Josh");
  EXPECT_EQ(names[1].family.surname_from_partner.text, "Bing");
  EXPECT_FALSE(names[1].given.has_value());
  EXPECT_EQ(names[1].middle.text, "stanley");
  EXPECT_EQ(names[1].name_type.text, "L");
}

TEST(Xpn, FollowsTheMessagesOwnDelimiters) {
  const Message m = corpus_message("python-hl7/nonstandard_separators.hl7");
  const Xpn name = Xpn::from(field(m, "PID-5"));
  EXPECT_EQ(name.family.surname.text, "EVERYWOMAN");
  EXPECT_EQ(name.given.text, "EVE");
  EXPECT_EQ(name.middle.text, "E");
  EXPECT_EQ(name.degree.text, "L");  // the 6th component, after two empty ones
}

// ---- XAD ------------------------------------------------------------------------------------

TEST(Xad, ReadsStreetSubcomponentsAndParts) {
  const Message m = corpus_message("microsoft-fhir-converter/ADT-A01-01.hl7");
  const Xad a = Xad::from(field(m, "PID-11"));
  EXPECT_EQ(a.street.text, "1000");
  EXPECT_EQ(a.street_name.text, "Hospital Lane");
  EXPECT_EQ(a.other_designation.text, "Ste. 123");
  EXPECT_EQ(a.city.text, "Ann Arbor ");  // as sent: trimming is the mapping's business
  EXPECT_EQ(a.state.text, "MI");
  EXPECT_EQ(a.zip.text, "99999");
  EXPECT_EQ(a.country.text, "USA");
  EXPECT_EQ(a.address_type.text, "M");
}

// ---- CX and HD ------------------------------------------------------------------------------

TEST(Cx, ReadsIdentifierWithAssigningAuthority) {
  const Message m = corpus_message("microsoft-fhir-converter/ADT-A01-01.hl7");
  const auto ids = from_repetitions<Cx>(field(m, "PID-3"));
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[0].id.text, "PATID1234");
  EXPECT_EQ(ids[0].check_digit.text, "5");
  EXPECT_EQ(ids[0].check_digit_scheme.text, "M11");
  EXPECT_EQ(ids[0].assigning_authority.namespace_id.text, "test1");
  EXPECT_EQ(ids[0].assigning_authority.universal_id.text, "2.16.1");
  EXPECT_EQ(ids[0].assigning_authority.universal_id_type.text, "HCD");
  EXPECT_EQ(ids[0].identifier_type.text, "MR");
  EXPECT_EQ(ids[0].assigning_facility.namespace_id.text, "GOOD HEALTH HOSPITAL");
  EXPECT_EQ(ids[1].id.text, "123456789");
  EXPECT_EQ(ids[1].assigning_authority.namespace_id.text, "USSSA");
  EXPECT_EQ(ids[1].identifier_type.text, "SS");
}

TEST(Hd, ReadsComponentsOfAFieldAndSubcomponentsOfAComponent) {
  const Message m = corpus_message("microsoft-fhir-converter/ADT-A01-01.hl7");
  const Hd facility = Hd::from(field(m, "MSH-4"));
  EXPECT_EQ(facility.namespace_id.text, "GHHSFacility");
  EXPECT_EQ(facility.universal_id.text, "2.16.840.1.122848.1.30");
  EXPECT_EQ(facility.universal_id_type.text, "ISO");
  const Hd authority = Hd::from(field(m, "PID-3.4"));
  EXPECT_EQ(authority.namespace_id.text, "test1");
  EXPECT_EQ(authority.universal_id.text, "2.16.1");
  EXPECT_FALSE(authority.empty());
}

// ---- XCN ------------------------------------------------------------------------------------

TEST(Xcn, ReadsProviderFromCorpusPv1) {
  const Message m = corpus_message("microsoft-fhir-converter/ADT-A01-01.hl7");
  const Xcn doc = Xcn::from(field(m, "PV1-7"));
  EXPECT_EQ(doc.id.text, "1122334");
  EXPECT_EQ(doc.family.surname.text, "Alaz");
  EXPECT_EQ(doc.given.text, "Mohammed");
  EXPECT_EQ(doc.middle.text, "Mahi");
  EXPECT_EQ(doc.suffix.text, "JR");
  EXPECT_EQ(doc.prefix.text, "Dr.");
  EXPECT_EQ(doc.degree.text, "MD");
  EXPECT_EQ(doc.assigning_authority.namespace_id.text, "PERSONNELt");
  EXPECT_EQ(doc.assigning_authority.universal_id.text, "1.23");
  EXPECT_EQ(doc.name_type.text, "B");
  EXPECT_EQ(doc.identifier_type.text, "BR");
  EXPECT_FALSE(doc.npi().has_value());
}

TEST(Xcn, RecognisesNpiByIdentifierType) {
  const Message m = parse_or_die(
      "MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rPV1|1|I|||||1234567893^Smith^John^^^^^^^L^^^NPI\r");
  const Xcn doc = Xcn::from(field(m, "PV1-7"));
  ASSERT_TRUE(doc.npi().has_value());
  EXPECT_EQ(*doc.npi(), "1234567893");
}

TEST(Xcn, RecognisesNpiByAssigningAuthorityOid) {
  const Message m = parse_or_die(
      "MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\r"
      "PV1|1|I|||||1234567893^Smith^John^^^^^^CMS&2.16.840.1.113883.4.6&ISO\r");
  EXPECT_EQ(Xcn::from(field(m, "PV1-7")).npi(), std::optional<std::string>("1234567893"));
}

TEST(Xcn, HasNoNpiWithoutAnId) {
  const Message m =
      parse_or_die("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rPV1|1|I|||||^Smith^^^^^^^^^^^NPI\r");
  EXPECT_FALSE(Xcn::from(field(m, "PV1-7")).npi().has_value());
}

TEST(Npi, ChecksLuhnDigitWithHealthPrefix) {
  EXPECT_TRUE(is_valid_npi("1234567893"));
  EXPECT_FALSE(is_valid_npi("1234567890"));
  EXPECT_FALSE(is_valid_npi("123456789"));
  EXPECT_FALSE(is_valid_npi("12345678931"));
  EXPECT_FALSE(is_valid_npi("12345A7893"));
  EXPECT_FALSE(is_valid_npi(""));
}

// ---- CWE / CE ------------------------------------------------------------------------------

TEST(Cwe, ReadsAllNineComponents) {
  const Message m = corpus_message("microsoft-fhir-converter/ADT-A01-01.hl7");
  const Cwe lang = Cwe::from(field(m, "PID-15"));
  EXPECT_EQ(lang.identifier.text, "ara");
  EXPECT_FALSE(lang.text.has_value());
  EXPECT_EQ(lang.coding_system.text, "HL70296");
  EXPECT_EQ(lang.alternate_identifier.text, "eng");
  EXPECT_EQ(lang.alternate_text.text, "English-us");
  EXPECT_EQ(lang.alternate_coding_system.text, "HL70296");
  EXPECT_EQ(lang.coding_system_version.text, "v2");
  EXPECT_EQ(lang.alternate_coding_system_version.text, "v2.1");
  EXPECT_EQ(lang.original_text.text, "TextInEnglish");
}

TEST(Cwe, ReadsRepeatedCodes) {
  const Message m = corpus_message("microsoft-fhir-converter/ADT-A01-01.hl7");
  const auto races = from_repetitions<Ce>(field(m, "PID-10"));
  ASSERT_EQ(races.size(), 2u);
  EXPECT_EQ(races[0].identifier.text, "2106-3");
  EXPECT_EQ(races[0].text.text, "White");
  EXPECT_EQ(races[1].identifier.text, "2028-9");
  EXPECT_EQ(races[1].coding_system.text, "HL70005");
}

TEST(Cwe, ReadsSubcomponentsOfAComponent) {
  const Message m = parse_or_die(
      "MSH|^~\\&|A|B|C|D|2024||ACK|1|P|2.4\rMSA|AE|9\rERR|PID^1^5^101&Required field "
      "missing&HL70357\r");
  const Cwe code = Cwe::from(field(m, "ERR-1.4"));
  EXPECT_EQ(code.identifier.text, "101");
  EXPECT_EQ(code.text.text, "Required field missing");
  EXPECT_EQ(code.coding_system.text, "HL70357");
}

// ---- XON ------------------------------------------------------------------------------------

TEST(Xon, ReadsOrganisationFromCorpusRol) {
  const Message m = corpus_message("microsoft-fhir-converter/ADT-A01-01.hl7");
  const Xon org = Xon::from(field(m, "ROL-14"));
  EXPECT_EQ(org.name.text, "Good Health Hospital");
  EXPECT_EQ(org.name_type.text, "L");
  EXPECT_EQ(org.assigning_authority.namespace_id.text, "CMS");
  EXPECT_EQ(org.identifier_type.text, "XX");
  EXPECT_FALSE(org.id().has_value());
}

TEST(Xon, PrefersOrganizationIdentifierOverIdNumber) {
  const Message m =
      parse_or_die("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rPD1|||Clinic^L^123^^^^^^^ORG-9|\r");
  const Xon org = Xon::from(field(m, "PD1-3"));
  EXPECT_EQ(org.id_number.text, "123");
  EXPECT_EQ(org.id().text, "ORG-9");
  const Message old = parse_or_die("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.3\rPD1|||Clinic^L^123\r");
  EXPECT_EQ(Xon::from(field(old, "PD1-3")).id().text, "123");
}

}  // namespace
}  // namespace hims::hl7v2

#include "hl7v2/ack.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

#include "hl7v2/types.hpp"
#include "tests/support/corpus.hpp"

namespace hims::hl7v2 {
namespace {

const std::string kTs = "20240305143015+0100";

AckOptions options() {
  AckOptions o;
  o.timestamp = kTs;
  o.control_id = "C1";
  return o;
}

std::string corpus(const char* relative) {
  return test::read_file(test::corpus_dir() / "hl7v2" / relative);
}

// The header of a message that must parse.
OriginalHeader header_of(std::string_view bytes) {
  auto parsed = MessageView::parse(bytes);
  if (!parsed) {
    ADD_FAILURE() << parsed.error().message();
    return OriginalHeader::recover(bytes);
  }
  return OriginalHeader::from(parsed.value());
}

std::vector<std::string> segments(std::string_view ack) {
  std::vector<std::string> out;
  while (!ack.empty()) {
    const auto cr = ack.find('\r');
    out.emplace_back(ack.substr(0, cr));
    if (cr == std::string_view::npos) break;
    ack.remove_prefix(cr + 1);
  }
  return out;
}

AckError error_at(ErrorCondition condition, std::string segment, std::uint32_t sequence,
                  std::uint32_t field, std::string detail = {}) {
  AckError e;
  e.condition = condition;
  e.location.segment = std::move(segment);
  e.location.sequence = sequence;
  e.location.field = field;
  e.detail = std::move(detail);
  return e;
}

// ---- Original mode, per version --------------------------------------------------------------

TEST(BuildAck, AnswersV251WithSwappedApplicationsAndEchoedIds) {
  const std::string msg =
      corpus("nhapi/tests/LegacyPipeParserV251Tests_L90_adt_a04_v251_cohie.hl7");
  const std::string ack = build_ack(header_of(msg), AckCode::application_accept, options());
  EXPECT_EQ(ack,
            "MSH|^~\\&|Clinical Data Provider|TCH|CohieCentral|COHIE|20240305143015+0100||"
            "ACK^A04^ACK|C1|P|2.5.1\rMSA|AA|1\r");
}

TEST(BuildAck, UsesOurConfiguredApplicationAndFacility) {
  const std::string msg =
      corpus("nhapi/tests/LegacyPipeParserV251Tests_L90_adt_a04_v251_cohie.hl7");
  AckOptions o = options();
  o.sending_application = "HIMS";
  o.sending_facility = "GENERAL^2.16.840.1.113883.19.5^ISO";
  const auto segs = segments(build_ack(header_of(msg), AckCode::application_accept, o));
  ASSERT_GE(segs.size(), 1u);
  EXPECT_TRUE(
      segs[0].starts_with("MSH|^~\\&|HIMS|GENERAL^2.16.840.1.113883.19.5^ISO|CohieCentral|COHIE|"))
      << segs[0];
}

TEST(BuildAck, EscapesConfiguredApplicationText) {
  const std::string msg =
      corpus("nhapi/tests/LegacyPipeParserV251Tests_L90_adt_a04_v251_cohie.hl7");
  AckOptions o = options();
  o.sending_application = "A|B&C";
  const auto segs = segments(build_ack(header_of(msg), AckCode::application_accept, o));
  EXPECT_TRUE(segs[0].starts_with("MSH|^~\\&|A\\F\\B\\T\\C|")) << segs[0];
}

TEST(BuildAck, WritesEldInErr1AndMsa6ForV23) {
  const std::string msg = corpus(
      "nhapi/tests/LegacyPipeParserV23Tests_L383_adt_a08_v23_german_umlauts_in1_repetitions.hl7");
  const AckError e =
      error_at(ErrorCondition::required_field_missing, "PID", 1, 5, "PID-5 is empty");
  const std::string ack =
      build_ack(header_of(msg), AckCode::application_error, options(), std::span(&e, 1));
  EXPECT_EQ(ack,
            "MSH|^~\\&|TOE|SKL|EMM|SKL|20240305143015+0100||ACK^A08|C1|P|2.3\r"
            "MSA|AE|36711904|PID-5 is empty|||101^Required field missing^HL70357\r"
            "ERR|PID^1^5^101&Required field missing&HL70357\r");
}

TEST(BuildAck, RepeatsEldInOneErrSegmentBeforeV25) {
  const std::string msg = corpus(
      "nhapi/tests/LegacyPipeParserV23Tests_L383_adt_a08_v23_german_umlauts_in1_repetitions.hl7");
  const std::vector<AckError> errors{error_at(ErrorCondition::required_field_missing, "PID", 1, 5),
                                     error_at(ErrorCondition::table_value, "PID", 1, 8)};
  const auto segs =
      segments(build_ack(header_of(msg), AckCode::application_error, options(), errors));
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[1], "MSA|AE|36711904|Required field missing|||101^Required field missing^HL70357");
  EXPECT_EQ(segs[2],
            "ERR|PID^1^5^101&Required field missing&HL70357~PID^1^8^103&Table value not "
            "found&HL70357");
}

TEST(BuildAck, WritesErlCodeSeverityAndUserMessageForV28) {
  const std::string msg = corpus("microsoft-fhir-converter/ADT-A06-01.hl7");
  AckError e = error_at(ErrorCondition::data_type, "PID", 1, 3, "check digit does not match");
  e.location.repetition = 2;
  e.location.component = 4;
  e.location.subcomponent = 2;
  const std::string ack =
      build_ack(header_of(msg), AckCode::application_reject, options(), std::span(&e, 1));
  EXPECT_EQ(ack,
            "MSH|^~\\&|GHHInc.|GHHRFacility^2.16.840.1.1122848.1.32^ISO|ADT1|"
            "GHHSFacility^2.16.840.1.122848.1.30^ISO|20240305143015+0100||ACK^A06^ACK|C1|P|2.8\r"
            "MSA|AR|MSG00006\r"
            "ERR||PID^1^3^2^4^2|102^Data type error^HL70357|E||||check digit does not match\r");
}

TEST(BuildAck, WritesOneErrSegmentPerErrorFromV25) {
  const std::string msg =
      corpus("nhapi/tests/LegacyPipeParserV251Tests_L90_adt_a04_v251_cohie.hl7");
  std::vector<AckError> errors{error_at(ErrorCondition::required_field_missing, "PID", 1, 5),
                               error_at(ErrorCondition::table_value, "PV1", 1, 2)};
  errors[1].severity = ErrorSeverity::warning;
  const auto segs =
      segments(build_ack(header_of(msg), AckCode::application_error, options(), errors));
  ASSERT_EQ(segs.size(), 4u);
  EXPECT_EQ(segs[1], "MSA|AE|1");
  EXPECT_EQ(segs[2], "ERR||PID^1^5|101^Required field missing^HL70357|E");
  EXPECT_EQ(segs[3], "ERR||PV1^1^2|103^Table value not found^HL70357|W");
}

TEST(BuildAck, EscapesErrorTextWithTheMessagesDelimiters) {
  const std::string msg =
      corpus("nhapi/tests/LegacyPipeParserV251Tests_L90_adt_a04_v251_cohie.hl7");
  const AckError e = error_at(ErrorCondition::data_type, "OBX", 2, 5, "a|b^c&d~e\\f");
  const auto segs =
      segments(build_ack(header_of(msg), AckCode::application_error, options(), std::span(&e, 1)));
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[2],
            "ERR||OBX^2^5|102^Data type error^HL70357|E||||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f");
}

TEST(BuildAck, EscapesCodeTextWhenADelimiterIsALetter) {
  // MSH!$r?@! : the repetition separator is 'r', the escape character '?'.
  const std::string msg = corpus("hl7apy/msh_only_custom_delimiters.hl7");
  AckError e;
  e.condition = ErrorCondition::unsupported_version_id;
  e.location.segment = "MSH";
  e.location.field = 12;
  const auto segs =
      segments(build_ack(header_of(msg), AckCode::application_error, options(), std::span(&e, 1)));
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[0], "MSH!$r?@!LB!LB!LIP!LIP!20240305143015+0100!!ACK$$ACK!C1!D!2.5");
  EXPECT_EQ(segs[1], "MSA!AE!430102");
  EXPECT_EQ(segs[2], "ERR!!MSH$1$12!203$Unsuppo?R?ted ve?R?sion id$HL70357!E");
}

TEST(BuildAck, KeepsTruncationCharacterAndLeavesMsa2EmptyWithoutControlId) {
  const std::string msg = corpus("hapi-hl7v2/ParserTest_L159_orm_o01_v27_truncation_char.hl7");
  const auto segs = segments(build_ack(header_of(msg), AckCode::application_accept, options()));
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(
      segs[0],
      "MSH|^~\\&#|Rec App|Rec Fac|Send App|Send Fac|20240305143015+0100||ACK^O01^ACK|C1|P|2.7");
  EXPECT_EQ(segs[1], "MSA|AA");
}

TEST(BuildAck, EchoesCharsetAndOmitsStructureBeforeV231) {
  const std::string msg =
      corpus("hapi-hl7v2/NewPipeParserTest_L989_adt_a31_v23_fr_8859_1_empty_pd1.hl7");
  const auto segs = segments(build_ack(header_of(msg), AckCode::application_accept, options()));
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0], "MSH|^~\\&|||||20240305143015+0100||ACK^A31|C1|P|2.3||||||8859/1");
  EXPECT_EQ(segs[1], "MSA|AA|EJ557600005480760");
}

TEST(BuildAck, EchoesProcessingIdWithModeAndVersionIdOnly) {
  const std::string msg =
      corpus("hapi-hl7v2/NewPipeParserTest_L455_adt_a45_v25_msh11_msh12_components_8859_1.hl7");
  const auto segs = segments(build_ack(header_of(msg), AckCode::application_accept, options()));
  EXPECT_EQ(segs[0],
            "MSH|^~\\&|eReferral|eReferral|4265-ADT|4265|20240305143015+0100||ACK^A45^ACK|C1|T^|"
            "2.5||||||8859/1");
}

TEST(BuildAck, WritesMsa3TextWhenGiven) {
  const std::string msg =
      corpus("nhapi/tests/LegacyPipeParserV251Tests_L90_adt_a04_v251_cohie.hl7");
  AckOptions o = options();
  o.text = "stored";
  const auto segs = segments(build_ack(header_of(msg), AckCode::application_accept, o));
  EXPECT_EQ(segs[1], "MSA|AA|1|stored");
}

TEST(BuildAck, TakesTimestampFromTheCallersClock) {
  const auto now = std::chrono::sys_days{std::chrono::year{2024} / 3 / 5} + std::chrono::hours{13};
  AckOptions o = options();
  o.timestamp = Timestamp::from_sys_time(now, 60).to_hl7();
  const std::string msg =
      corpus("nhapi/tests/LegacyPipeParserV251Tests_L90_adt_a04_v251_cohie.hl7");
  const auto segs = segments(build_ack(header_of(msg), AckCode::application_accept, o));
  EXPECT_NE(segs[0].find("|20240305140000+0100||ACK^A04^ACK|"), std::string::npos) << segs[0];
}

// ---- Modes ----------------------------------------------------------------------------------

TEST(AckMode, IsOriginalWhenMsh15AndMsh16AreEmpty) {
  const auto h =
      header_of(corpus("nhapi/tests/LegacyPipeParserV251Tests_L90_adt_a04_v251_cohie.hl7"));
  EXPECT_EQ(ack_mode(h), AckMode::original);
  for (AckOutcome outcome : {AckOutcome::accepted, AckOutcome::error, AckOutcome::rejected}) {
    auto accept = build_accept_ack(h, outcome, options());
    auto application = build_application_ack(h, outcome, options());
    ASSERT_TRUE(accept && application);
    EXPECT_EQ(*accept, *application);
  }
  EXPECT_NE(build_accept_ack(h, AckOutcome::accepted, options())->find("\rMSA|AA|"),
            std::string::npos);
  EXPECT_NE(build_accept_ack(h, AckOutcome::error, options())->find("\rMSA|AE|"),
            std::string::npos);
  EXPECT_NE(build_accept_ack(h, AckOutcome::rejected, options())->find("\rMSA|AR|"),
            std::string::npos);
}

TEST(AckMode, SendsCommitAcceptForAlAndNoApplicationAckForNe) {
  // MSH-15 AL, MSH-16 NE (v2.2).
  const auto h =
      header_of(corpus("hapi-hl7v2/NewPipeParserTest_L825_adt_a08_v22_msh12_with_components.hl7"));
  EXPECT_EQ(ack_mode(h), AckMode::enhanced);
  auto accept = build_accept_ack(h, AckOutcome::accepted, options());
  ASSERT_TRUE(accept.has_value());
  EXPECT_EQ(*accept,
            "MSH|^~\\&|STML|001|STML|001|20240305143015+0100||ACK^A08|C1|T|2.2\rMSA|CA|01501\r");
  EXPECT_NE(build_accept_ack(h, AckOutcome::error, options())->find("MSA|CE|"), std::string::npos);
  EXPECT_NE(build_accept_ack(h, AckOutcome::rejected, options())->find("MSA|CR|"),
            std::string::npos);
  EXPECT_FALSE(build_application_ack(h, AckOutcome::accepted, options()).has_value());
  EXPECT_FALSE(build_application_ack(h, AckOutcome::error, options()).has_value());
}

TEST(AckMode, SuppressesCommitAckOnSuccessForEr) {
  // MSH-15 ER, MSH-16 AL.
  const auto h = header_of(corpus("hapi-hl7v2/resources_omd_o03.txt"));
  EXPECT_FALSE(build_accept_ack(h, AckOutcome::accepted, options()).has_value());
  auto error = build_accept_ack(h, AckOutcome::error, options());
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->find("\rMSA|CE|20101027181706\r"), std::string::npos) << *error;
  auto application = build_application_ack(h, AckOutcome::accepted, options());
  ASSERT_TRUE(application.has_value());
  EXPECT_NE(application->find("\rMSA|AA|20101027181706\r"), std::string::npos);
}

TEST(AckMode, SuppressesCommitAckOnErrorForSu) {
  auto h = header_of(corpus("hapi-hl7v2/resources_omd_o03.txt"));
  h.accept_ack_type = "SU";
  h.application_ack_type = "SU";
  EXPECT_TRUE(build_accept_ack(h, AckOutcome::accepted, options()).has_value());
  EXPECT_FALSE(build_accept_ack(h, AckOutcome::error, options()).has_value());
  EXPECT_FALSE(build_accept_ack(h, AckOutcome::rejected, options()).has_value());
  EXPECT_TRUE(build_application_ack(h, AckOutcome::accepted, options()).has_value());
  EXPECT_FALSE(build_application_ack(h, AckOutcome::rejected, options()).has_value());
}

TEST(AckMode, SendsApplicationAckOnlyOnErrorForEr) {
  auto h = header_of(corpus("hapi-hl7v2/resources_omd_o03.txt"));
  h.application_ack_type = "ER";
  EXPECT_FALSE(build_application_ack(h, AckOutcome::accepted, options()).has_value());
  auto rejected = build_application_ack(h, AckOutcome::rejected, options());
  ASSERT_TRUE(rejected.has_value());
  EXPECT_NE(rejected->find("\rMSA|AR|"), std::string::npos);
}

TEST(AckMode, NeverSendsCommitAckForNe) {
  // MSH-15 NE, MSH-16 AL.
  const auto h = header_of(
      corpus("hapi-hl7v2/NewPipeParserTest_L455_adt_a45_v25_msh11_msh12_components_8859_1.hl7"));
  for (AckOutcome outcome : {AckOutcome::accepted, AckOutcome::error, AckOutcome::rejected}) {
    EXPECT_FALSE(build_accept_ack(h, outcome, options()).has_value());
    EXPECT_TRUE(build_application_ack(h, outcome, options()).has_value());
  }
}

TEST(AckMode, TreatsEmptyOrUnknownConditionAsAlwaysInEnhancedMode) {
  auto h = header_of(corpus("nhapi/tests/LegacyPipeParserV251Tests_L90_adt_a04_v251_cohie.hl7"));
  h.application_ack_type = "AL";
  EXPECT_EQ(ack_mode(h), AckMode::enhanced);
  EXPECT_EQ(accept_ack_condition(h), AckCondition::always);
  auto accept = build_accept_ack(h, AckOutcome::accepted, options());
  ASSERT_TRUE(accept.has_value());
  EXPECT_NE(accept->find("\rMSA|CA|1\r"), std::string::npos);
  h.accept_ack_type = "XX";
  EXPECT_EQ(accept_ack_condition(h), AckCondition::always);
}

TEST(AckMode, TreatsExplicitNullAckTypesAsEmpty) {
  const auto h = header_of("MSH|^~\\&|A|B|C|D|2024||ADT^A01|X|P|2.5|||\"\"|\"\"\r");
  EXPECT_EQ(ack_mode(h), AckMode::original);
}

// ---- Codes ----------------------------------------------------------------------------------

TEST(AckCodes, RoundTripThroughText) {
  for (AckCode code :
       {AckCode::application_accept, AckCode::application_error, AckCode::application_reject,
        AckCode::commit_accept, AckCode::commit_error, AckCode::commit_reject}) {
    EXPECT_EQ(ack_code_from(to_string(code)), code);
  }
  EXPECT_FALSE(ack_code_from("aa").has_value());
  EXPECT_FALSE(ack_code_from("").has_value());
  EXPECT_TRUE(is_positive(AckCode::commit_accept));
  EXPECT_FALSE(is_positive(AckCode::commit_error));
}

TEST(AckCodes, ReadsTable0155) {
  EXPECT_EQ(ack_condition_from("AL"), AckCondition::always);
  EXPECT_EQ(ack_condition_from("NE"), AckCondition::never);
  EXPECT_EQ(ack_condition_from("ER"), AckCondition::error_only);
  EXPECT_EQ(ack_condition_from("SU"), AckCondition::success_only);
  EXPECT_FALSE(ack_condition_from("al").has_value());
}

// ---- Header checks and EXPECTATIONS item 52 ---------------------------------------------------

TEST(CheckHeader, PassesAWellFormedMessage) {
  EXPECT_TRUE(check_header(header_of(corpus("microsoft-fhir-converter/ADT-A06-01.hl7"))).empty());
}

TEST(CheckHeader, RejectsUnknownVersion2999WithCode203) {
  // EXPECTATIONS item 52: HAPI rejects MSH-12 `2.999` as "unsupported version id".
  const std::string msg =
      corpus("hapi-hl7v2/NewPipeParserTest_L1196_oru_r01_unknown_version_2_999.hl7");
  const OriginalHeader h = header_of(msg);
  EXPECT_EQ(h.version, "2.999");
  const auto errors = check_header(h);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].condition, ErrorCondition::unsupported_version_id);
  EXPECT_EQ(errors[0].location, (ErrorLocation{"MSH", 1, 12, 0, 0, 0}));

  const auto ack = build_accept_ack(h, AckOutcome::rejected, options(), errors);
  ASSERT_TRUE(ack.has_value());
  const auto segs = segments(*ack);
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[0], "MSH|^~\\&|||^QueryServices||20240305143015+0100||ACK^R01^ACK|C1|D|2.999");
  EXPECT_EQ(segs[1], "MSA|AR|1");
  EXPECT_TRUE(segs[2].starts_with("ERR||MSH^1^12|203^Unsupported version id^HL70357|E||||"))
      << segs[2];

  auto reply = read_ack(*ack);
  ASSERT_TRUE(reply.ok()) << reply.error().message();
  EXPECT_EQ(reply->code, AckCode::application_reject);
  ASSERT_EQ(reply->errors.size(), 1u);
  EXPECT_EQ(reply->errors[0].condition, ErrorCondition::unsupported_version_id);
}

TEST(CheckHeader, StrictParseOfVersion2999MapsTo203AtMsh12) {
  const std::string msg =
      corpus("hapi-hl7v2/NewPipeParserTest_L1196_oru_r01_unknown_version_2_999.hl7");
  ParseOptions strict;
  strict.mode = ParseMode::strict;
  auto parsed = MessageView::parse(msg, strict);
  ASSERT_FALSE(parsed.ok());
  const AckError e = to_ack_error(parsed.error());
  EXPECT_EQ(e.condition, ErrorCondition::unsupported_version_id);
  EXPECT_EQ(e.location, (ErrorLocation{"MSH", 1, 12, 0, 0, 0}));
}

TEST(CheckHeader, ReportsMissingControlIdWith101) {
  const auto errors =
      check_header(header_of(corpus("hapi-hl7v2/ParserTest_L159_orm_o01_v27_truncation_char.hl7")));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].condition, ErrorCondition::required_field_missing);
  EXPECT_EQ(errors[0].location.field, 10u);
}

TEST(CheckHeader, ReportsMissingMessageTypeAndVersion) {
  const auto errors = check_header(header_of("MSH|^~\\&|A|B|C|D|2024|||X1|P|\r"));
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].location.field, 9u);
  EXPECT_EQ(errors[1].location.field, 12u);
  EXPECT_EQ(errors[1].condition, ErrorCondition::required_field_missing);
}

// ---- Mapping parser errors --------------------------------------------------------------------

TEST(ToAckError, MapsBadEncodingCharactersToMsh2DataType) {
  auto parsed = MessageView::parse(corpus("hapi-hl7v2/NewPipeParserTest_L831_bad_msh_foo.hl7"));
  ASSERT_FALSE(parsed.ok());
  ASSERT_TRUE(parsed.error().is(Errc::bad_encoding_characters)) << parsed.error().message();
  const AckError e = to_ack_error(parsed.error());
  EXPECT_EQ(e.condition, ErrorCondition::data_type);
  EXPECT_EQ(e.location, (ErrorLocation{"MSH", 1, 2, 0, 0, 0}));
  EXPECT_EQ(e.detail.rfind("bad_encoding_characters", 0), 0u) << e.detail;
}

TEST(ToAckError, ReadsFullLocationFromWhere) {
  const AckError e = to_ack_error(Error(Errc::bad_value, "OBX[2]-5[3].1.2", "not a number"));
  EXPECT_EQ(e.condition, ErrorCondition::data_type);
  EXPECT_EQ(e.location, (ErrorLocation{"OBX", 2, 5, 3, 1, 2}));
  EXPECT_EQ(e.detail, "bad_value: not a number");
}

TEST(ToAckError, ReadsSegmentNameFromSegmentPosition) {
  const AckError e = to_ack_error(Error(Errc::bad_segment, "segment 4 (ZZ1)", "bad id"));
  EXPECT_EQ(e.condition, ErrorCondition::segment_sequence);
  EXPECT_EQ(e.location.segment, "ZZ1");
  EXPECT_EQ(e.location.sequence, 0u);
}

TEST(ToAckError, MapsMissingFieldTo101AtItsField) {
  const AckError e = to_ack_error(Error(Errc::missing_field, "MSH-10", "control id empty"));
  EXPECT_EQ(e.condition, ErrorCondition::required_field_missing);
  EXPECT_EQ(e.location, (ErrorLocation{"MSH", 1, 10, 0, 0, 0}));
}

TEST(ToAckError, FallsBackToTheFieldTheCodeImplies) {
  EXPECT_EQ(to_ack_error(Error(Errc::unsupported_version, "", "")).location.field, 12u);
  EXPECT_EQ(to_ack_error(Error(Errc::unsupported_charset, "byte 7", "")).location.field, 18u);
  EXPECT_EQ(to_ack_error(Error(Errc::bad_encoding_characters, "", "")).location.field, 2u);
}

TEST(ToAckError, LeavesLocationEmptyForEmptyInput) {
  auto parsed = MessageView::parse("");
  ASSERT_FALSE(parsed.ok());
  const AckError e = to_ack_error(parsed.error());
  EXPECT_EQ(e.condition, ErrorCondition::segment_sequence);
  EXPECT_EQ(e.location, ErrorLocation{});
}

enum class OtherErrc : std::uint8_t { boom };
constexpr ErrorDomain error_domain(OtherErrc) { return ErrorDomain::store; }
std::string_view to_string(OtherErrc) { return "boom"; }

TEST(ToAckError, MapsOtherModulesErrorsTo207) {
  const AckError e = to_ack_error(Error(OtherErrc::boom, "", "disk full"));
  EXPECT_EQ(e.condition, ErrorCondition::application_internal_error);
  EXPECT_EQ(e.location, ErrorLocation{});
}

// ---- Recovering a header from bytes that do not parse ---------------------------------------

TEST(Recover, AnswersGarbageMshFooWithArAndEmptyMsa2) {
  const std::string msg = corpus("hapi-hl7v2/NewPipeParserTest_L831_bad_msh_foo.hl7");
  auto parsed = MessageView::parse(msg);
  ASSERT_FALSE(parsed.ok());
  const OriginalHeader h = OriginalHeader::recover(msg);
  EXPECT_EQ(h.delimiters, Delimiters{});
  EXPECT_EQ(h.sending_application, "foo");
  EXPECT_TRUE(h.control_id.empty());
  const AckError e = to_ack_error(parsed.error());
  const std::string ack = build_ack(h, AckCode::application_reject, options(), std::span(&e, 1));
  const auto segs = segments(ack);
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[0], "MSH|^~\\&|||foo||20240305143015+0100||ACK^^ACK|C1|P|2.5.1");
  EXPECT_EQ(segs[1], "MSA|AR");
  EXPECT_TRUE(segs[2].starts_with("ERR||MSH^1^2|102^Data type error^HL70357|E||||bad_encoding_ch"))
      << segs[2];
  auto reply = read_ack(ack);
  ASSERT_TRUE(reply.ok()) << reply.error().message();
  EXPECT_EQ(reply->code, AckCode::application_reject);
  EXPECT_TRUE(reply->control_id.empty());
}

TEST(Recover, AnswersEmptyInputWithSegmentSequenceError) {
  auto parsed = MessageView::parse("");
  ASSERT_FALSE(parsed.ok());
  const OriginalHeader h = OriginalHeader::recover("");
  EXPECT_EQ(h.delimiters, Delimiters{});
  const AckError e = to_ack_error(parsed.error());
  const auto segs =
      segments(build_ack(h, AckCode::application_reject, options(), std::span(&e, 1)));
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[0], "MSH|^~\\&|||||20240305143015+0100||ACK^^ACK|C1|P|2.5.1");
  EXPECT_EQ(segs[1], "MSA|AR");
  EXPECT_TRUE(segs[2].starts_with("ERR|||100^Segment sequence error^HL70357|E||||empty_input"))
      << segs[2];
}

TEST(Recover, ReadsControlIdVersionAndTriggerByPlainSplitting) {
  const std::string bytes =
      "\x0bMSH|^~\\&|APP|FAC|RCV|RFAC|2024||ADT^A01^ADT_A01|CTRL42|P^T|2.4^x|||AL|NE||8859/1\r"
      "PID|\x01\x02";
  const OriginalHeader h = OriginalHeader::recover(bytes);
  EXPECT_EQ(h.sending_application, "APP");
  EXPECT_EQ(h.receiving_facility, "RFAC");
  EXPECT_EQ(h.message_code, "ADT");
  EXPECT_EQ(h.trigger_event, "A01");
  EXPECT_EQ(h.control_id, "CTRL42");
  EXPECT_EQ(h.processing_id, "P^T");
  EXPECT_EQ(h.version, "2.4");
  EXPECT_EQ(h.accept_ack_type, "AL");
  EXPECT_EQ(h.application_ack_type, "NE");
  EXPECT_EQ(h.charset, "8859/1");
}

TEST(Recover, KeepsTheMessagesOwnDelimiters) {
  const std::string msg = corpus("hapi-hl7v2/resources_segmentfinder_a24.hl7");
  const OriginalHeader h = OriginalHeader::recover(msg);
  EXPECT_EQ(h.delimiters.field, '^');
  EXPECT_EQ(h.delimiters.component, '~');
  EXPECT_EQ(h.delimiters.repetition, '|');
  EXPECT_EQ(h.message_code, "ADT");
  EXPECT_EQ(h.trigger_event, "A24");
  EXPECT_EQ(h.control_id, "2003582144");
  const auto segs = segments(build_ack(h, AckCode::application_accept, options()));
  EXPECT_EQ(segs[0],
            "MSH^~|\\&^RECEIVING^200^SENDING^200M^20240305143015+0100^^ACK~A24~ACK^C1^T^2.4");
  EXPECT_EQ(segs[1], "MSA^AA^2003582144");
}

TEST(Recover, FindsTheFirstMshAfterBatchHeaders) {
  const OriginalHeader h = OriginalHeader::recover(
      "\xEF\xBB\xBF  FHS|^~\\&\nBHS|^~\\&\nMSH|^~\\&|A|B|C|D|||ADT^A01|X1|P|2.5\nPID|1\n");
  EXPECT_EQ(h.sending_application, "A");
  EXPECT_EQ(h.control_id, "X1");
}

TEST(Recover, ReturnsDefaultsWithoutAnyMsh) {
  for (std::string_view bytes :
       {std::string_view("PID|1|2"), std::string_view("M"), std::string_view("MSH"),
        std::string_view("MSH\r"), std::string_view("\r\n\r\n")}) {
    const OriginalHeader h = OriginalHeader::recover(bytes);
    EXPECT_EQ(h.delimiters, Delimiters{});
    EXPECT_TRUE(h.sending_application.empty());
    EXPECT_TRUE(h.control_id.empty());
  }
}

TEST(Recover, RefusesAnAlphanumericFieldSeparator) {
  const OriginalHeader h = OriginalHeader::recover("MSHA^~\\&AAPPAFAC");
  EXPECT_EQ(h.delimiters, Delimiters{});
  EXPECT_TRUE(h.sending_application.empty());
}

TEST(Recover, FallsBackToDefaultsAndEscapesWhenEncodingCharactersAreBad) {
  // '^' as field separator clashes with the default component separator: '|' is used.
  const OriginalHeader h = OriginalHeader::recover("MSH^x^A|B^FAC^^^^^^CTL&1^P^2.5");
  EXPECT_EQ(h.delimiters, Delimiters{});
  EXPECT_EQ(h.sending_application, "A\\F\\B");
  EXPECT_EQ(h.control_id, "CTL\\T\\1");
  EXPECT_EQ(h.version, "2.5");
}

TEST(Recover, DropsFieldsWithControlBytesOrOverlongValues) {
  const std::string long_id(300, '7');
  const OriginalHeader h =
      OriginalHeader::recover("MSH|^~\\&|AP\x01P|FAC|||||ADT^A01|" + long_id + "|P|2.5\r");
  EXPECT_TRUE(h.sending_application.empty());
  EXPECT_EQ(h.sending_facility, "FAC");
  EXPECT_TRUE(h.control_id.empty());
  EXPECT_EQ(h.version, "2.5");
}

// Over the whole corpus: recovering from bytes agrees with the parsed header, and every message,
// parseable or not, gets an ACK that itself parses and names the right control id.
TEST(Recover, AgreesWithTheParserAndAlwaysYieldsAParseableAckOverTheCorpus) {
  std::size_t parsed_count = 0;
  std::size_t compared = 0;
  for (const auto& path : test::files_under(test::corpus_dir() / "hl7v2", {".hl7", ".txt"})) {
    const std::string bytes = test::read_file(path);
    auto parsed = MessageView::parse(bytes);
    const OriginalHeader recovered = OriginalHeader::recover(bytes);
    OriginalHeader header = recovered;
    if (parsed.ok()) {
      ++parsed_count;
      header = OriginalHeader::from(parsed.value());
      const Delimiters& d = header.delimiters;
      const bool punctuation = !std::isalnum(static_cast<unsigned char>(d.field)) &&
                               !std::isalnum(static_cast<unsigned char>(d.component)) &&
                               !std::isalnum(static_cast<unsigned char>(d.repetition)) &&
                               !std::isalnum(static_cast<unsigned char>(d.escape)) &&
                               !std::isalnum(static_cast<unsigned char>(d.subcomponent));
      if (parsed->segment_count() > 0 && parsed->header().name() == "MSH" && punctuation &&
          recovered.delimiters == d) {
        ++compared;
        EXPECT_EQ(recovered.control_id, header.control_id) << path;
        EXPECT_EQ(recovered.sending_application, header.sending_application) << path;
        EXPECT_EQ(recovered.trigger_event, header.trigger_event) << path;
        EXPECT_EQ(recovered.version, header.version) << path;
      }
    }
    const auto ack = build_ack(header, AckCode::application_reject, options());
    auto reply = read_ack(ack);
    ASSERT_TRUE(reply.ok()) << path << ": " << reply.error().message();
    EXPECT_EQ(reply->code, AckCode::application_reject) << path;
    if (parsed.ok() && parsed->segment_count() > 0 && parsed->header().name() == "MSH") {
      EXPECT_EQ(reply->control_id, parsed->header().field(10).decoded()) << path;
    }
  }
  EXPECT_GT(parsed_count, 100u);
  EXPECT_GT(compared, 100u);
}

// ---- Reading ACKs ---------------------------------------------------------------------------

TEST(ReadAck, ReadsBackWhatBuildAckWritesFromV25) {
  const std::string msg = corpus("microsoft-fhir-converter/ADT-A06-01.hl7");
  AckError e = error_at(ErrorCondition::data_type, "PID", 1, 3, "check digit");
  e.location.repetition = 2;
  e.location.component = 1;
  AckError w = error_at(ErrorCondition::table_value, "PV1", 1, 2, "unknown class");
  w.severity = ErrorSeverity::warning;
  const std::vector<AckError> errors{e, w};
  auto reply = read_ack(build_ack(header_of(msg), AckCode::application_error, options(), errors));
  ASSERT_TRUE(reply.ok()) << reply.error().message();
  EXPECT_EQ(reply->code, AckCode::application_error);
  EXPECT_FALSE(reply->positive());
  EXPECT_EQ(reply->control_id, "MSG00006");
  EXPECT_EQ(reply->errors, errors);
}

TEST(ReadAck, ReadsEldErrorsFromV23) {
  auto reply = read_ack(
      "MSH|^~\\&|B|B|A|A|2024||ACK^A08|9|P|2.3\rMSA|AE|CTL7|oops\r"
      "ERR|PID^1^5^101&Required field missing&HL70357~PV1^1^2^103&Table value not found\r");
  ASSERT_TRUE(reply.ok()) << reply.error().message();
  EXPECT_EQ(reply->control_id, "CTL7");
  EXPECT_EQ(reply->text, "oops");
  ASSERT_EQ(reply->errors.size(), 2u);
  EXPECT_EQ(reply->errors[0].condition, ErrorCondition::required_field_missing);
  EXPECT_EQ(reply->errors[0].location, (ErrorLocation{"PID", 1, 5, 0, 0, 0}));
  EXPECT_EQ(reply->errors[0].detail, "Required field missing");
  EXPECT_EQ(reply->errors[1].condition, ErrorCondition::table_value);
  EXPECT_EQ(reply->errors[1].location.segment, "PV1");
}

TEST(ReadAck, ReadsConditionFromMsa6WithoutErr) {
  auto reply = read_ack(
      "MSH|^~\\&|B|B|A|A|2024||ACK|9|P|2.2\rMSA|AR|CTL7||||200^Unsupported message type\r");
  ASSERT_TRUE(reply.ok());
  ASSERT_EQ(reply->errors.size(), 1u);
  EXPECT_EQ(reply->errors[0].condition, ErrorCondition::unsupported_message_type);
}

TEST(ReadAck, ReadsCommitAccept) {
  auto reply = read_ack("MSH|^~\\&|B|B|A|A|2024||ACK^A01^ACK|9|P|2.5\rMSA|CA|X\r");
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->code, AckCode::commit_accept);
  EXPECT_TRUE(reply->positive());
  EXPECT_TRUE(reply->errors.empty());
}

TEST(ReadAck, KeepsUnknownNumericCodesAndMapsTextCodesTo207) {
  auto reply = read_ack(
      "MSH|^~\\&|B|B|A|A|2024||ACK|9|P|2.5\rMSA|AE|X\rERR||PID^1|999^Local^L|E\r"
      "ERR||PID^1|E42^Local^L|E\r");
  ASSERT_TRUE(reply.ok());
  ASSERT_EQ(reply->errors.size(), 2u);
  EXPECT_EQ(static_cast<int>(reply->errors[0].condition), 999);
  EXPECT_EQ(reply->errors[1].condition, ErrorCondition::application_internal_error);
  EXPECT_EQ(reply->errors[1].detail, "Local");
}

TEST(ReadAck, RejectsAMessageWithoutMsa) {
  auto reply = read_ack(corpus("microsoft-fhir-converter/ADT-A06-01.hl7"));
  ASSERT_FALSE(reply.ok());
  EXPECT_TRUE(reply.error().is(Errc::missing_field));
  EXPECT_EQ(reply.error().where(), "MSA");
}

TEST(ReadAck, RejectsAnUnknownAckCode) {
  // MSA-1 `foo` (EXPECTATIONS item 2).
  auto reply =
      read_ack(corpus("hapi-hl7v2/NewPipeParserTest_L821_msh_numbered_fields_version_is_12.hl7"));
  ASSERT_FALSE(reply.ok());
  EXPECT_TRUE(reply.error().is(Errc::bad_value));
  EXPECT_EQ(reply.error().where(), "MSA-1");
  EXPECT_EQ(reply.error().detail().find("foo"), std::string::npos);
}

TEST(ReadAck, RejectsAnEmptyAckCode) {
  auto reply = read_ack("MSH|^~\\&|B|B|A|A|2024||ACK|9|P|2.5\rMSA||X\r");
  ASSERT_FALSE(reply.ok());
  EXPECT_TRUE(reply.error().is(Errc::missing_field));
  EXPECT_EQ(reply.error().where(), "MSA-1");
}

TEST(ReadAck, PassesOnParseErrors) {
  auto reply = read_ack(std::string_view(""));
  ASSERT_FALSE(reply.ok());
  EXPECT_TRUE(reply.error().is(Errc::empty_input));
  auto garbage = read_ack(std::string_view("MSH|foo|foo"));
  ASSERT_FALSE(garbage.ok());
}

TEST(ConditionText, NamesEveryTable0357Code) {
  EXPECT_EQ(condition_text(ErrorCondition::unsupported_version_id), "Unsupported version id");
  EXPECT_EQ(condition_text(ErrorCondition::application_internal_error),
            "Application internal error");
  EXPECT_EQ(condition_text(static_cast<ErrorCondition>(999)), "");
}

}  // namespace
}  // namespace hims::hl7v2

// Tests of the Acknowledger: which ACK `run` answers each kind of message with.
#include "engine/acknowledger.hpp"

#include <gtest/gtest.h>

#include <set>

#include "hl7v2/ack.hpp"
#include "hl7v2/message.hpp"

namespace hims::engine {
namespace {

const auto kNow = std::chrono::sys_days(std::chrono::year(2024) / 3 / 5) + std::chrono::hours(14);

Acknowledger make() { return Acknowledger({"HIMS-TEST", "WARD-4"}, 1u << 20, "ATEST"); }

hl7v2::AckReply reply_of(const Acknowledgement& a) {
  auto reply = hl7v2::read_ack(a.ack);
  EXPECT_TRUE(reply.ok()) << reply.error().message();
  return reply.ok() ? *reply : hl7v2::AckReply{};
}

TEST(Acknowledger, AcceptsAMessageThatParses) {
  const auto a = make().acknowledge(
      "MSH|^~\\&|LAB|ACME|HIMS|GH|20240305||ORU^R01|CTRL-1|P|2.5.1\rPID|1||123\r", kNow);
  EXPECT_TRUE(a.accepted);
  EXPECT_EQ(a.code, "AA");
  EXPECT_EQ(a.control_id, "CTRL-1");
  EXPECT_EQ(a.message_type, "ORU^R01");
  EXPECT_EQ(a.version, "2.5.1");
  EXPECT_TRUE(a.reason.empty());
  const auto reply = reply_of(a);
  EXPECT_EQ(reply.control_id, "CTRL-1");
  EXPECT_TRUE(reply.errors.empty());

  auto ack = hl7v2::MessageView::parse(a.ack);
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ(ack->header().field(3).raw(), "HIMS-TEST");
  EXPECT_EQ(ack->header().field(4).raw(), "WARD-4");
  EXPECT_EQ(ack->header().field(5).raw(), "LAB");
  EXPECT_EQ(ack->header().field(7).raw().substr(0, 12), "202403051400");
  EXPECT_EQ(ack->message_code(), "ACK");
  EXPECT_EQ(ack->control_id().substr(0, 6), "ATEST-");
}

TEST(Acknowledger, EnhancedModeAnswersCommitAccept) {
  const auto a = make().acknowledge(
      "MSH|^~\\&|LAB|ACME|HIMS|GH|20240305||ORU^R01|CTRL-2|P|2.5.1|||AL|NE\rPID|1\r", kNow);
  EXPECT_EQ(a.code, "CA");
  EXPECT_TRUE(a.accepted);
}

TEST(Acknowledger, NoAcceptAckRequestedFallsBackToTheApplicationAck) {
  const auto a = make().acknowledge(
      "MSH|^~\\&|LAB|ACME|HIMS|GH|20240305||ORU^R01|CTRL-3|P|2.5.1|||NE|AL\rPID|1\r", kNow);
  EXPECT_EQ(a.code, "AA");
  // Neither wanted: MLLP still needs one answer per message.
  const auto b = make().acknowledge(
      "MSH|^~\\&|LAB|ACME|HIMS|GH|20240305||ORU^R01|CTRL-4|P|2.5.1|||NE|NE\rPID|1\r", kNow);
  EXPECT_EQ(b.code, "CA");
  EXPECT_EQ(reply_of(b).control_id, "CTRL-4");
}

TEST(Acknowledger, RejectsAnUnsupportedVersionWithErr203) {
  const auto a = make().acknowledge(
      "MSH|^~\\&|LAB|ACME|HIMS|GH|20240305||ORU^R01|CTRL-5|P|2.999\rPID|1\r", kNow);
  EXPECT_FALSE(a.accepted);
  EXPECT_EQ(a.code, "AR");
  EXPECT_NE(a.reason.find("203"), std::string::npos) << a.reason;
  const auto reply = reply_of(a);
  EXPECT_EQ(reply.control_id, "CTRL-5");
  ASSERT_EQ(reply.errors.size(), 1u);
  EXPECT_EQ(reply.errors[0].condition, hl7v2::ErrorCondition::unsupported_version_id);
}

TEST(Acknowledger, RejectsWhatDoesNotParseWithAnErrSegment) {
  const auto a =
      make().acknowledge("MSH|^&&^|LAB|ACME|HIMS|GH|20240305||ORU^R01|CTRL-6|P|2.5", kNow);
  EXPECT_FALSE(a.accepted);
  EXPECT_EQ(a.code, "AR");
  EXPECT_NE(a.reason.find("bad_encoding_characters"), std::string::npos) << a.reason;
  const auto reply = reply_of(a);
  ASSERT_FALSE(reply.errors.empty());

  for (const char* garbage : {"", "M", "MSH", "MSH|", "\r", "hello world", "PID|1|x\rMSH|^~\\&|"}) {
    const auto g = make().acknowledge(garbage, kNow);
    EXPECT_EQ(g.code, "AR") << garbage;
    EXPECT_FALSE(reply_of(g).errors.empty()) << garbage;
  }
}

TEST(Acknowledger, RejectsABatchInOneFrame) {
  const auto a = make().acknowledge(
      "BHS|^~\\&|LAB|ACME\rMSH|^~\\&|LAB|ACME|HIMS|GH|20240305||ORU^R01|CTRL-7|P|2.5.1\rBTS|1\r",
      kNow);
  EXPECT_EQ(a.code, "AR");
  const auto reply = reply_of(a);
  ASSERT_FALSE(reply.errors.empty());
  EXPECT_EQ(reply.errors[0].condition, hl7v2::ErrorCondition::segment_sequence);
}

TEST(Acknowledger, RejectsAMessageOverTheSizeLimit) {
  Acknowledger small({"HIMS", "HIMS"}, 64, "ASMALL");
  const auto a = small.acknowledge(
      "MSH|^~\\&|LAB|ACME|HIMS|GH|20240305||ORU^R01|CTRL-8|P|2.5.1\rOBX|1|ST|X||" +
          std::string(200, 'a'),
      kNow);
  EXPECT_EQ(a.code, "AR");
}

TEST(Acknowledger, ReturnsTheJournalMetadata) {
  const auto a = make().acknowledge(
      "MSH|^~\\&|LAB^1.2.3^ISO|ACME|HIMS|GH|20240305||ORU^R01^ORU_R01|CTRL-M|P|2.5.1\rPID|1\r",
      kNow);
  EXPECT_EQ(a.message_code, "ORU");
  EXPECT_EQ(a.trigger_event, "R01");
  EXPECT_EQ(a.sending_application, "LAB^1.2.3^ISO");
  EXPECT_EQ(a.sending_facility, "ACME");
  const auto bad = make().acknowledge("garbage", kNow);
  EXPECT_FALSE(bad.accepted);
  EXPECT_TRUE(bad.message_code.empty());
}

TEST(Acknowledger, ErrorAckIsAEWithErr207) {
  const Acknowledger ack = make();
  const auto a =
      ack.acknowledge("MSH|^~\\&|LAB|ACME|HIMS|GH|20240305||ORU^R01|CTRL-E|P|2.5.1\rPID|1\r", kNow);
  ASSERT_EQ(a.code, "AA");
  const auto e = ack.error_ack(a, "the message could not be stored; send it again", kNow);
  EXPECT_EQ(e.code, "AE");
  EXPECT_FALSE(e.accepted);
  EXPECT_EQ(e.control_id, "CTRL-E");
  EXPECT_EQ(e.message_type, "ORU^R01");
  const auto reply = reply_of(e);
  EXPECT_EQ(reply.control_id, "CTRL-E");
  ASSERT_EQ(reply.errors.size(), 1u);
  EXPECT_EQ(reply.errors[0].condition, hl7v2::ErrorCondition::application_internal_error);
  EXPECT_NE(e.reason.find("207"), std::string::npos) << e.reason;
  // A new ACK control id, not the AA's.
  EXPECT_NE(hl7v2::MessageView::parse(e.ack)->control_id(),
            hl7v2::MessageView::parse(a.ack)->control_id());

  // Enhanced mode: CE. The AA itself is unchanged.
  const auto c = ack.acknowledge(
      "MSH|^~\\&|LAB|ACME|HIMS|GH|20240305||ORU^R01|CTRL-F|P|2.5.1|||AL|NE\rPID|1\r", kNow);
  EXPECT_EQ(c.code, "CA");
  EXPECT_EQ(ack.error_ack(c, "x", kNow).code, "CE");
  // A rejected message that could not be stored is answered AE too (it is re-sent).
  const auto r = ack.acknowledge("garbage", kNow);
  EXPECT_EQ(ack.error_ack(r, "x", kNow).code, "AE");
}

TEST(Acknowledger, AckControlIdsAreUnique) {
  const Acknowledger ack = make();
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    const auto a = ack.acknowledge("MSH|^~\\&|A|B|C|D|20240305||ADT^A01|X|P|2.5\r", kNow);
    auto view = hl7v2::MessageView::parse(a.ack);
    ASSERT_TRUE(view.ok());
    EXPECT_LE(view->control_id().size(), 20u);
    ids.insert(std::string(view->control_id()));
  }
  EXPECT_EQ(ids.size(), 100u);
  EXPECT_EQ(control_id_prefix_for(std::chrono::system_clock::time_point{}), "A0");
  EXPECT_LE(control_id_prefix_for(std::chrono::system_clock::now()).size(), 9u);
}

}  // namespace
}  // namespace hims::engine

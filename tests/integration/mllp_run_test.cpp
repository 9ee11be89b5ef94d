// End to end: the real `hims-engine run` on 127.0.0.1 (port 0, --ready-file) receives the whole
// HL7 v2 corpus over MLLP, plain and over TLS (mutual TLS with a PKI made at test time), and
// every ACK is checked: MSA-2 = MSH-10 and AA/CA for messages that parse, AR/CR with an ERR
// segment for those that do not (as our parser decides) or that name an unsupported version.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "adapters/mllp_client.hpp"
#include "adapters/mllp_errors.hpp"
#include "engine/message_file.hpp"
#include "hl7v2/ack.hpp"
#include "hl7v2/message.hpp"
#include "hl7v2/mllp_frame.hpp"
#include "tests/integration/process.hpp"

namespace hims::test {
namespace {

constexpr std::size_t kMaxMessageSize = 16u << 20;

struct CorpusMessage {
  std::string name;  // file relative to the corpus, "#n" for the n-th message
  std::string bytes;
  bool expect_accept = false;
  std::string control_id;  // decoded MSH-10 when it parses
  std::string why;         // the parser's error or the header problem, for failure messages
};

// Every file under corpus/hl7v2 (documentation and expected FHIR output excepted), split into
// messages as `send` splits them; a file that does not split is sent whole.
std::vector<CorpusMessage> corpus_messages() {
  std::vector<CorpusMessage> out;
  const auto root = corpus_dir() / "hl7v2";
  for (const auto& file : files_under(root)) {
    const std::string rel = std::filesystem::relative(file, root).string();
    if (rel.find("expected-fhir") != std::string::npos || file.extension() == ".md" ||
        file.extension() == ".json") {
      continue;
    }
    const std::string bytes = read_file(file);
    auto split = engine::split_message_file(bytes);
    if (split && !split->empty()) {
      for (std::size_t i = 0; i < split->size(); ++i) {
        out.push_back({rel + "#" + std::to_string(i + 1), std::move((*split)[i]), false, {}, {}});
      }
    } else {
      out.push_back({rel, bytes, false, {}, {}});
    }
  }
  for (CorpusMessage& m : out) {
    hl7v2::ParseOptions options;
    options.limits.max_bytes = kMaxMessageSize;
    auto parsed = hl7v2::MessageView::parse(m.bytes, options);
    if (!parsed) {
      m.why = parsed.error().message();
      continue;
    }
    if (parsed->header().name() != "MSH") {
      m.why = "a batch or file in one frame";  // the engine takes one message per frame
      continue;
    }
    auto problems = hl7v2::check_header(hl7v2::OriginalHeader::from(*parsed));
    if (!problems.empty()) {
      m.why = "header: " + std::to_string(static_cast<int>(problems[0].condition)) + " " +
              problems[0].detail;
      continue;
    }
    m.expect_accept = true;
    m.control_id = parsed->header().field(10).decoded();
  }
  return out;
}

// A message MLLP cannot carry (VT or FS bytes inside) or an empty frame is not sent.
bool sendable(const std::string& bytes) {
  return !hl7v2::contains_mllp_control(bytes) &&
         bytes.find_first_not_of(" \t\r\n") != std::string::npos;
}

// An MLLP exchange on a fresh connection (TLS with the test client certificate when `pki` is
// given), for messages the MLLP client refuses to send (no MSH-10, not starting with MSH) or whose
// ACK it cannot match: the engine must answer those too. Socket time-outs bound every call.
std::optional<std::string> raw_exchange(std::uint16_t port, const std::string& message,
                                        std::string& error, const TestPki* pki = nullptr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error = "connect failed";
    ::close(fd);
    return std::nullopt;
  }
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  if (pki != nullptr) {
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_load_verify_locations(ctx, pki->ca.c_str(), nullptr);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_use_certificate_chain_file(ctx, pki->client_cert.c_str());
    SSL_CTX_use_PrivateKey_file(ctx, pki->client_key.c_str(), SSL_FILETYPE_PEM);
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) error = "TLS handshake failed";
  }
  auto write_all = [&](const std::string& bytes) {
    std::size_t written = 0;
    while (written < bytes.size()) {
      const auto left = bytes.size() - written;
      const long n = ssl != nullptr ? SSL_write(ssl, bytes.data() + written, static_cast<int>(left))
                                    : ::send(fd, bytes.data() + written, left, MSG_NOSIGNAL);
      if (n <= 0) return false;
      written += static_cast<std::size_t>(n);
    }
    return true;
  };
  std::optional<std::string> ack;
  if (error.empty() && !write_all(hl7v2::frame(message))) error = "write failed";
  hl7v2::FrameDecoder decoder;
  while (error.empty() && !ack) {
    char buf[4096];
    const long n = ssl != nullptr ? SSL_read(ssl, buf, sizeof buf) : ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      error = "connection closed or no ACK within 10 s";
      break;
    }
    decoder.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    auto next = decoder.next();
    if (next.status == hl7v2::FrameStatus::frame) ack = std::string(next.frame);
  }
  if (ssl != nullptr) {
    SSL_shutdown(ssl);
    SSL_free(ssl);
  }
  if (ctx != nullptr) SSL_CTX_free(ctx);
  ::close(fd);
  return ack;
}

struct Tally {
  std::size_t sent = 0;
  std::size_t accepted = 0;
  std::size_t rejected = 0;
  std::size_t raw = 0;
  std::size_t skipped = 0;
};

void check_ack(const CorpusMessage& m, const std::string& ack_bytes, Tally& tally) {
  auto ack = hl7v2::read_ack(ack_bytes);
  ASSERT_TRUE(ack.ok()) << m.name << ": unreadable ACK: " << ack.error().message();
  if (m.expect_accept) {
    EXPECT_TRUE(ack->code == hl7v2::AckCode::application_accept ||
                ack->code == hl7v2::AckCode::commit_accept)
        << m.name << ": expected AA/CA, got " << hl7v2::to_string(ack->code);
    EXPECT_EQ(ack->control_id, m.control_id) << m.name << ": MSA-2 must echo MSH-10";
    ++tally.accepted;
  } else {
    EXPECT_TRUE(ack->code == hl7v2::AckCode::application_reject ||
                ack->code == hl7v2::AckCode::commit_reject)
        << m.name << " (" << m.why << "): expected AR/CR, got " << hl7v2::to_string(ack->code);
    EXPECT_FALSE(ack->errors.empty()) << m.name << ": a rejection carries an ERR segment";
    ++tally.rejected;
  }
}

// Sends every corpus message through `client`; messages the client refuses go over a raw
// connection to `port` (TLS with `pki`) instead.
Tally send_corpus(adapters::MllpClient& client, std::uint16_t port, const TestPki* pki) {
  Tally tally;
  for (const CorpusMessage& m : corpus_messages()) {
    if (!sendable(m.bytes)) {
      ++tally.skipped;
      continue;
    }
    SCOPED_TRACE(m.name);
    ++tally.sent;
    auto result = client.send(m.bytes);
    if (result) {
      check_ack(m, result->ack, tally);
      continue;
    }
    const bool client_refused = result.error().is(adapters::MllpErrc::bad_message) ||
                                result.error().is(adapters::MllpErrc::ack_control_id_mismatch) ||
                                result.error().is(adapters::MllpErrc::bad_ack);
    if (!client_refused) {
      ADD_FAILURE() << m.name << ": " << result.error().message();
      continue;
    }
    // The client will not send it or cannot match the answer; only a message that does not
    // parse may end up here.
    EXPECT_FALSE(m.expect_accept && result.error().is(adapters::MllpErrc::bad_message))
        << m.name << ": the client refused a message that parses: " << result.error().message();
    ++tally.raw;
    std::string error;
    auto ack = raw_exchange(port, m.bytes, error, pki);
    if (!ack) {
      ADD_FAILURE() << m.name << ": " << error;
      continue;
    }
    check_ack(m, *ack, tally);
  }
  return tally;
}

// send_corpus, then closes the client and checks that most messages were accepted, some rejected,
// and every one sent got an ACK; prints the tally.
void send_whole_corpus(adapters::MllpClient& client, std::uint16_t port, const TestPki* pki) {
  const Tally tally = send_corpus(client, port, pki);
  client.close();
  EXPECT_GT(tally.accepted, 300u);
  EXPECT_GT(tally.rejected, 10u);
  EXPECT_EQ(tally.accepted + tally.rejected, tally.sent);
  const bool tls = pki != nullptr;
  std::cout << "corpus over " << (tls ? "TLS" : "TCP") << ": sent " << tally.sent << ", accepted "
            << tally.accepted << ", rejected " << tally.rejected << " (" << tally.raw
            << " over a raw " << (tls ? "TLS socket" : "socket") << "), " << tally.skipped
            << " not sendable over MLLP\n";
}

std::string plain_config() {
  return "log: {format: json, level: debug}\n"
         "sources:\n"
         "  lab-results:\n"
         "    type: mllp\n"
         "    listen: 127.0.0.1:0\n"
         "    ack: {application: HIMS-TEST, facility: TEST-HOSPITAL}\n";
}

std::string tls_config(const TestPki& pki) {
  return "sources:\n"
         "  plain:\n"
         "    type: mllp\n"
         "    listen: 127.0.0.1:0\n"
         "  secure:\n"
         "    type: mllp\n"
         "    listen: 127.0.0.1:0\n"
         "    tls:\n"
         "      cert: " +
         pki.server_cert.string() + "\n      key: " + pki.server_key.string() +
         "\n      ca: " + pki.ca.string() + "\n      client_cert: required\n";
}

TEST(MllpRun, CorpusHasMessagesOfBothKinds) {
  const auto messages = corpus_messages();
  const auto accepted = std::count_if(messages.begin(), messages.end(),
                                      [](const CorpusMessage& m) { return m.expect_accept; });
  EXPECT_GT(messages.size(), 400u);
  EXPECT_GT(accepted, 300);
  EXPECT_GT(static_cast<std::ptrdiff_t>(messages.size()) - accepted, 10);
}

TEST(MllpRun, AcknowledgesTheWholeCorpusOverPlainTcp) {
  TempDir dir;
  RunningEngine engine(dir, plain_config());
  ASSERT_TRUE(engine.ready());
  const std::uint16_t port = engine.port("lab-results");
  auto client = adapters::MllpClient::create(mllp_client_config(port));
  ASSERT_TRUE(client.ok()) << client.error().message();

  send_whole_corpus(*client, port, nullptr);

  EXPECT_EQ(engine.stop(), 0);
  const std::string log = engine.process().err();
  EXPECT_NE(log.find("\"msg\":\"message acknowledged\""), std::string::npos);
  EXPECT_NE(log.find("\"msg\":\"message rejected\""), std::string::npos);
  // Logs name ids and sizes, never content: no patient name from the corpus appears.
  EXPECT_EQ(log.find("EVERYMAN"), std::string::npos);
  EXPECT_EQ(log.find("DUCK"), std::string::npos);
}

TEST(MllpRun, UnsupportedVersionAndGarbageGetARWithErr) {
  TempDir dir;
  RunningEngine engine(dir, plain_config());
  ASSERT_TRUE(engine.ready());
  const std::uint16_t port = engine.port("lab-results");
  auto client = adapters::MllpClient::create(mllp_client_config(port));
  ASSERT_TRUE(client.ok());

  const std::string bytes = read_file(corpus_dir() / "hl7v2" / "hapi-hl7v2" /
                                      "NewPipeParserTest_L1196_oru_r01_unknown_version_2_999.hl7");
  auto messages = engine::split_message_file(bytes);
  ASSERT_TRUE(messages.ok());
  ASSERT_EQ(messages->size(), 1u);
  auto result = client->send(messages->front());
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->code, "AR");
  auto ack = hl7v2::read_ack(result->ack);
  ASSERT_TRUE(ack.ok());
  ASSERT_FALSE(ack->errors.empty());
  EXPECT_EQ(ack->errors[0].condition, hl7v2::ErrorCondition::unsupported_version_id);
  EXPECT_EQ(ack->errors[0].location.segment, "MSH");
  EXPECT_EQ(ack->errors[0].location.field, 12u);
  // Our identity from the config is the ACK's MSH-3/MSH-4.
  auto view = hl7v2::MessageView::parse(result->ack);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->header().field(3).raw(), "HIMS-TEST");
  EXPECT_EQ(view->header().field(4).raw(), "TEST-HOSPITAL");

  std::string error;
  auto garbage = raw_exchange(port, "this is not an HL7 message", error);
  ASSERT_TRUE(garbage.has_value()) << error;
  auto garbage_ack = hl7v2::read_ack(*garbage);
  ASSERT_TRUE(garbage_ack.ok()) << garbage_ack.error().message();
  EXPECT_EQ(garbage_ack->code, hl7v2::AckCode::application_reject);
  EXPECT_FALSE(garbage_ack->errors.empty());
  EXPECT_EQ(engine.stop(), 0);
}

TEST(MllpRun, AcknowledgesTheWholeCorpusOverMutualTls) {
  TempDir dir;
  auto pki = make_test_pki(dir);
  ASSERT_TRUE(pki.has_value());
  RunningEngine engine(dir, tls_config(*pki));
  ASSERT_TRUE(engine.ready());
  EXPECT_NE(engine.ready_text().find("\"tls\":true"), std::string::npos) << engine.ready_text();

  auto config = mllp_client_config(engine.port("secure"));
  config.tls = adapters::TlsClientConfig{};
  config.tls->ca_file = pki->ca.string();
  config.tls->cert_chain_file = pki->client_cert.string();
  config.tls->private_key_file = pki->client_key.string();
  auto client = adapters::MllpClient::create(config);
  ASSERT_TRUE(client.ok()) << client.error().message();

  send_whole_corpus(*client, engine.port("secure"), &*pki);
  EXPECT_EQ(engine.stop(), 0);
}

TEST(MllpRun, TlsRejectsClientsWithoutCertificateOrTrust) {
  TempDir dir;
  auto pki = make_test_pki(dir);
  ASSERT_TRUE(pki.has_value());
  RunningEngine engine(dir, tls_config(*pki));
  ASSERT_TRUE(engine.ready());
  const std::string message = "MSH|^~\\&|A|B|C|D|20240101000000||ADT^A01|TLS-1|P|2.5.1\rPID|1";

  // No client certificate: the server requires one.
  auto config = mllp_client_config(engine.port("secure"));
  config.connect_attempts = 1;
  config.tls = adapters::TlsClientConfig{};
  config.tls->ca_file = pki->ca.string();
  auto no_cert = adapters::MllpClient::create(config);
  ASSERT_TRUE(no_cert.ok());
  auto r1 = no_cert->send(message);
  EXPECT_FALSE(r1.ok()) << "a client without certificate got " << r1->code;

  // A client that does not trust the server's CA.
  config.tls->ca_file = pki->other_ca.string();
  config.tls->cert_chain_file = pki->client_cert.string();
  config.tls->private_key_file = pki->client_key.string();
  auto untrusting = adapters::MllpClient::create(config);
  ASSERT_TRUE(untrusting.ok());
  auto r2 = untrusting->send(message);
  ASSERT_FALSE(r2.ok());
  EXPECT_TRUE(r2.error().is(adapters::MllpErrc::tls_handshake_failed)) << r2.error().message();

  // Plain TCP to the TLS port gets no ACK.
  std::string error;
  EXPECT_FALSE(raw_exchange(engine.port("secure"), message, error).has_value());

  // The plain source of the same engine still works.
  auto plain = adapters::MllpClient::create(mllp_client_config(engine.port("plain")));
  ASSERT_TRUE(plain.ok());
  auto r3 = plain->send(message);
  ASSERT_TRUE(r3.ok()) << r3.error().message();
  EXPECT_EQ(r3->code, "AA");
  EXPECT_EQ(engine.stop(), 0);
}

TEST(MllpRun, StopsGracefullyOnSigintAndSigterm) {
  for (int sig : {SIGINT, SIGTERM}) {
    TempDir dir;
    RunningEngine engine(dir, plain_config());
    ASSERT_TRUE(engine.ready());
    // A connection that is open and idle must not hold up the stop.
    auto client = adapters::MllpClient::create(mllp_client_config(engine.port("lab-results")));
    ASSERT_TRUE(client.ok());
    auto r = client->send("MSH|^~\\&|A|B|C|D|20240101000000||ADT^A01|SIG-1|P|2.5.1\rPID|1");
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(engine.stop(sig), 0) << "signal " << sig << "\n" << engine.process().err();
    EXPECT_FALSE(std::filesystem::exists(engine.ready_file())) << "ready file removed on stop";
    EXPECT_NE(engine.process().err().find("\"msg\":\"engine stopped\""), std::string::npos);
  }
}

TEST(MllpRun, InvalidConfigStartsNothing) {
  TempDir dir;
  spit(dir / "bad.yaml", "sources:\n  lab: {type: mllp, listen: 127.0.0.1:0, idle_timeout: 5}\n");
  RunResult r = run_process({engine(), "run", "--config", (dir / "bad.yaml").string(),
                             "--ready-file", (dir / "ready.json").string()},
                            dir);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("bad.yaml:2:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sources.lab.idle_timeout"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "ready.json"));
}

TEST(MllpRun, PortInUseFailsToStart) {
  TempDir dir;
  RunningEngine first(dir, plain_config());
  ASSERT_TRUE(first.ready());
  const std::uint16_t port = first.port("lab-results");
  TempDir dir2;
  spit(dir2 / "same.yaml",
       "store: sqlite:" + (dir2 / "hims.db").string() +
           "\nsources:\n  lab: {type: mllp, listen: 127.0.0.1:" + std::to_string(port) + "}\n");
  RunResult r = run_process({engine(), "run", "--config", (dir2 / "same.yaml").string()}, dir2);
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("source cannot start"), std::string::npos) << r.err;
  EXPECT_EQ(first.stop(), 0);
}

}  // namespace
}  // namespace hims::test

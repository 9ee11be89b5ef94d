// MLLP over TLS: server verification by the client, host name checks, mutual TLS in the
// required and optional modes, TLS 1.2 minimum, configuration errors. A throwaway PKI (two CAs,
// a server certificate for localhost/127.0.0.1, client certificates) is made per test run in a
// temporary directory with the `openssl` command.
#include <openssl/ssl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "adapters/io_runtime.hpp"
#include "adapters/mllp_client.hpp"
#include "adapters/mllp_errors.hpp"
#include "adapters/mllp_server.hpp"
#include "tests/adapters/mllp_test_support.hpp"

namespace hims::adapters {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using test::ScriptedEngine;
using test::wait_until;

class Pki {
 public:
  Pki() {
    dir_ = fs::temp_directory_path() / ("hims-mllp-tls-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "server.ext") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                          "extendedKeyUsage=serverAuth\n";
    std::ofstream(dir_ / "client.ext") << "extendedKeyUsage=clientAuth\n";
    const std::string script =
        "set -e; cd '" + dir_.string() +
        "'; "
        "key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $1.key; }; "
        "ca() { key $1; openssl req -x509 -new -key $1.key -out $1.pem -days 2 -subj /CN=$1; }; "
        "leaf() { key $1; openssl req -new -key $1.key -out $1.csr -subj /CN=$1; "
        "  openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key -CAcreateserial -days 2 "
        "  -extfile $3 -out $1.pem; }; "
        "ca ca; ca rogue-ca; "
        "leaf server ca server.ext; leaf client ca client.ext; leaf rogue-client rogue-ca "
        "client.ext; "
        "leaf rogue-server rogue-ca server.ext";
    ok_ = std::system(("(" + script + ") >/dev/null 2>&1").c_str()) == 0;
  }
  ~Pki() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  bool ok() const { return ok_; }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  TlsServerConfig server(ClientCertMode mode) const {
    return {path("server.pem"), path("server.key"), path("ca.pem"), mode};
  }
  TlsClientConfig client(bool with_cert) const {
    TlsClientConfig c;
    c.ca_file = path("ca.pem");
    if (with_cert) {
      c.cert_chain_file = path("client.pem");
      c.private_key_file = path("client.key");
    }
    return c;
  }

 private:
  fs::path dir_;
  bool ok_ = false;
};

const Pki& pki() {
  static const Pki instance;
  return instance;
}

MllpServerConfig tls_server_config(TlsServerConfig tls) {
  auto config = test::server_config();
  config.tls = std::move(tls);
  return config;
}

struct TlsHarness : test::MllpServerHarness {
  explicit TlsHarness(TlsServerConfig tls) : MllpServerHarness(tls_server_config(std::move(tls))) {}

  Result<AckResult> send(TlsClientConfig tls, std::string_view id = "T1") {
    auto config = test::client_config(server->port());
    config.ack_timeout = 3s;
    config.tls = std::move(tls);
    auto client = MllpClient::create(std::move(config));
    if (!client) return client.take_error();
    return client->send(test::hl7_message(id));
  }
};

class Tls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!pki().ok()) GTEST_SKIP() << "the openssl command could not make the test PKI";
  }
};

TEST_F(Tls, ClientVerifiesTheServerAndExchangesAMessage) {
  TlsHarness h(pki().server(ClientCertMode::none));
  ASSERT_TRUE(h.server);
  auto ack = h.send(pki().client(false), "TLS-1");
  ASSERT_TRUE(ack) << ack.error().message();
  EXPECT_EQ(ack->control_id, "TLS-1");
  EXPECT_EQ(h.engine.count(), 1u);
}

TEST_F(Tls, ClientRejectsAServerSignedByAnotherCa) {
  TlsHarness h(pki().server(ClientCertMode::none));
  ASSERT_TRUE(h.server);
  auto tls = pki().client(false);
  tls.ca_file = pki().path("rogue-ca.pem");
  auto ack = h.send(tls);
  ASSERT_FALSE(ack);
  EXPECT_TRUE(ack.error().is(MllpErrc::tls_handshake_failed)) << ack.error().message();
  EXPECT_EQ(h.engine.count(), 0u);
}

TEST_F(Tls, ClientChecksTheServerName) {
  TlsHarness h(pki().server(ClientCertMode::none));
  ASSERT_TRUE(h.server);
  auto tls = pki().client(false);
  tls.server_name = "wrong.example";
  auto ack = h.send(tls);
  ASSERT_FALSE(ack);
  EXPECT_TRUE(ack.error().is(MllpErrc::tls_handshake_failed)) << ack.error().message();

  tls.hostname_check = HostnameCheck::skip;  // still verified against the CA
  EXPECT_TRUE(h.send(tls, "T2"));
  tls = pki().client(false);
  tls.server_name = "localhost";  // SNI + DNS SAN
  EXPECT_TRUE(h.send(tls, "T3"));
}

TEST_F(Tls, MutualTlsAcceptsAClientWithATrustedCertificate) {
  TlsHarness h(pki().server(ClientCertMode::required));
  ASSERT_TRUE(h.server);
  auto ack = h.send(pki().client(true), "MTLS");
  ASSERT_TRUE(ack) << ack.error().message();
  EXPECT_TRUE(ack->accepted());
  EXPECT_EQ(h.server->stats().tls_handshake_failures.load(), 0u);
}

TEST_F(Tls, RequiredModeRejectsAClientWithoutCertificate) {
  TlsHarness h(pki().server(ClientCertMode::required));
  ASSERT_TRUE(h.server);
  // With TLS 1.3 the client may finish its side of the handshake before the server refuses, so
  // the client sees either a handshake failure or a closed connection; the server never sees
  // the message.
  auto ack = h.send(pki().client(false));
  ASSERT_FALSE(ack);
  EXPECT_TRUE(ack.error().is(MllpErrc::tls_handshake_failed) ||
              ack.error().is(MllpErrc::connection_closed))
      << ack.error().message();
  EXPECT_TRUE(wait_until([&] { return h.server->stats().tls_handshake_failures.load() == 1; }));
  EXPECT_EQ(h.engine.count(), 0u);
}

TEST_F(Tls, RequiredModeRejectsAClientCertificateFromAnotherCa) {
  TlsHarness h(pki().server(ClientCertMode::required));
  ASSERT_TRUE(h.server);
  auto tls = pki().client(true);
  tls.cert_chain_file = pki().path("rogue-client.pem");
  tls.private_key_file = pki().path("rogue-client.key");
  auto ack = h.send(tls);
  ASSERT_FALSE(ack);
  EXPECT_TRUE(wait_until([&] { return h.server->stats().tls_handshake_failures.load() == 1; }));
  EXPECT_EQ(h.engine.count(), 0u);
}

TEST_F(Tls, OptionalModeAcceptsClientsWithAndWithoutCertificate) {
  TlsHarness h(pki().server(ClientCertMode::optional));
  ASSERT_TRUE(h.server);
  EXPECT_TRUE(h.send(pki().client(false), "NOCERT"));
  EXPECT_TRUE(h.send(pki().client(true), "CERT"));
  EXPECT_EQ(h.engine.count(), 2u);
}

TEST_F(Tls, PlainClientGetsNothingFromATlsServer) {
  TlsHarness h(pki().server(ClientCertMode::none));
  ASSERT_TRUE(h.server);
  auto config = test::client_config(h.server->port());
  config.ack_timeout = 2s;
  auto client = MllpClient::create(config);
  ASSERT_TRUE(client);
  auto ack = client->send(test::hl7_message("PLAIN"));
  ASSERT_FALSE(ack);
  EXPECT_TRUE(wait_until([&] { return h.server->stats().tls_handshake_failures.load() == 1; }));
  EXPECT_EQ(h.engine.count(), 0u);
}

TEST_F(Tls, ServerRefusesTls11) {
  TlsHarness h(pki().server(ClientCertMode::none));
  ASSERT_TRUE(h.server);
  // A raw OpenSSL client limited to TLS 1.0/1.1.
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  ASSERT_NE(ctx, nullptr);
  SSL_CTX_set_security_level(ctx, 0);
  SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(h.server->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  EXPECT_NE(SSL_connect(ssl), 1);
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  EXPECT_TRUE(wait_until([&] { return h.server->stats().tls_handshake_failures.load() == 1; }));
}

TEST_F(Tls, ConfigurationErrorsNameTheFile) {
  IoRuntime runtime(1);
  ScriptedEngine engine;
  auto config = test::server_config();
  config.tls = pki().server(ClientCertMode::none);
  config.tls->private_key_file = pki().path("client.key");  // not the server certificate's key
  auto server = MllpServer::start(runtime.context(), config, engine.handler());
  ASSERT_FALSE(server);
  EXPECT_TRUE(server.error().is(MllpErrc::tls_config));
  EXPECT_EQ(server.error().where(), pki().path("client.key"));

  config.tls = pki().server(ClientCertMode::required);
  config.tls->ca_file.clear();
  server = MllpServer::start(runtime.context(), config, engine.handler());
  ASSERT_FALSE(server);
  EXPECT_TRUE(server.error().is(MllpErrc::tls_config));

  config.tls = pki().server(ClientCertMode::optional);
  config.tls->ca_file = pki().path("server.ext");  // not PEM
  server = MllpServer::start(runtime.context(), config, engine.handler());
  ASSERT_FALSE(server);
  EXPECT_EQ(server.error().where(), pki().path("server.ext"));

  auto client_config = test::client_config(2575);
  client_config.tls = pki().client(true);
  client_config.tls->private_key_file.clear();
  auto client = MllpClient::create(client_config);
  ASSERT_FALSE(client);
  EXPECT_TRUE(client.error().is(MllpErrc::tls_config));
}

}  // namespace
}  // namespace hims::adapters

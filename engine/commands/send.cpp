// `hims-engine send`: an MLLP client for partners and tests. Splits each file into messages,
// sends them in order over one connection (plain or TLS) and prints one line per message.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "adapters/mllp_client.hpp"
#include "adapters/mllp_errors.hpp"
#include "engine/commands.hpp"
#include "engine/config.hpp"
#include "engine/message_file.hpp"
#include "hl7v2/ack.hpp"

namespace hims::engine {

namespace {

// Errors after which the next message cannot get through either.
bool connection_failure(const Error& error) {
  using adapters::MllpErrc;
  return error.is(MllpErrc::resolve_failed) || error.is(MllpErrc::connect_failed) ||
         error.is(MllpErrc::connect_timeout) || error.is(MllpErrc::tls_handshake_failed) ||
         error.is(MllpErrc::tls_config);
}

std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return text;
}

// " 203 Unsupported version id at MSH-12: ..." from a negative ACK's first ERR; "" when none.
std::string first_error(std::string_view ack_bytes) {
  auto reply = hl7v2::read_ack(ack_bytes);
  if (!reply || reply->errors.empty()) return {};
  const hl7v2::AckError& e = reply->errors.front();
  std::string out = " " + std::to_string(static_cast<unsigned>(e.condition));
  const std::string_view text = hl7v2::condition_text(e.condition);
  if (!text.empty()) out.append(" ").append(text);
  if (!e.location.segment.empty()) {
    out.append(" at ").append(e.location.segment);
    if (e.location.field != 0) out.append("-").append(std::to_string(e.location.field));
  }
  if (!e.detail.empty()) out.append(": ").append(e.detail);
  return one_line(std::move(out));
}

}  // namespace

int send_command(const SendOptions& options) {
  // The client's own warnings repeat what the per-message lines say: only errors, as text.
  log::init(log::Format::text, log::Level::error);
  auto address = ListenAddress::parse(options.mllp);
  if (!address || address->port == 0) {
    std::cerr << "hims-engine send: --mllp '" << options.mllp
              << "' is not HOST:PORT (e.g. 127.0.0.1:2575)\n";
    return kExitUsage;
  }
  adapters::MllpClientConfig config;
  config.destination_id = "send";
  config.host = address->host;
  config.port = address->port;
  config.connect_timeout = options.timeout;
  config.connect_attempts = 1;
  config.write_timeout = options.timeout;
  config.ack_timeout = options.timeout;
  if (!options.tls_ca.empty() || !options.tls_cert.empty() || !options.tls_key.empty()) {
    if (options.tls_cert.empty() != options.tls_key.empty()) {
      std::cerr << "hims-engine send: --tls-cert and --tls-key go together\n";
      return kExitUsage;
    }
    adapters::TlsClientConfig tls;
    tls.ca_file = options.tls_ca.string();
    tls.cert_chain_file = options.tls_cert.string();
    tls.private_key_file = options.tls_key.string();
    config.tls = std::move(tls);
  }
  auto client = adapters::MllpClient::create(config);
  if (!client) {
    std::cerr << "hims-engine send: " << client.error().message() << "\n";
    return kExitUsage;
  }

  std::size_t sent = 0;
  std::size_t accepted = 0;
  std::size_t failed = 0;
  bool connection_lost = false;
  for (const auto& file : options.files) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (!in) {
      std::cout << file.string() << " error: cannot read the file\n";
      ++failed;
      continue;
    }
    auto messages = split_message_file(bytes.str());
    if (!messages) {
      std::cout << file.string() << " error: " << messages.error().message() << "\n";
      ++failed;
      continue;
    }
    for (std::size_t i = 0; i < messages->size(); ++i) {
      const std::string& message = (*messages)[i];
      const std::string name = file.string() + "#" + std::to_string(i + 1);
      auto id = adapters::message_control_id(message);
      const std::string control_id = id ? std::string(*id) : std::string("-");
      if (connection_lost) {
        std::cout << name << " " << control_id << " not sent\n";
        ++failed;
        continue;
      }
      auto ack = client->send(message);
      ++sent;
      if (!ack) {
        std::cout << name << " " << control_id << " error: " << one_line(ack.error().message())
                  << "\n";
        ++failed;
        connection_lost = connection_failure(ack.error());
        continue;
      }
      std::cout << name << " " << control_id << " " << ack->code;
      if (!ack->text.empty()) {
        std::cout << " " << one_line(ack->text);
      } else if (!ack->accepted()) {
        std::cout << first_error(ack->ack);
      }
      std::cout << "\n";
      if (ack->accepted()) {
        ++accepted;
      } else {
        ++failed;
      }
    }
  }
  std::cout.flush();
  std::cerr << "hims-engine send: " << accepted << " accepted, " << failed
            << " not accepted or not sent (" << sent << " sent)\n";
  return failed == 0 && accepted > 0 ? kExitOk : kExitFailed;
}

}  // namespace hims::engine

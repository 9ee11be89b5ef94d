// TLS settings of MLLP (and later HTTP) sources and destinations: plain values, no OpenSSL
// types; adapters/tls.hpp turns them into an ssl::context. Copyable; thread-safe to read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/result.hpp"

namespace hims::adapters {

// Whether a TLS server asks for, and insists on, a client certificate (mutual TLS).
enum class ClientCertMode : std::uint8_t {
  none,      // no certificate requested
  optional,  // requested; verified against ca_file when sent; a client without one is accepted
  required,  // requested and verified; a client without one fails the handshake
};
std::string_view to_string(ClientCertMode mode);

// Whether a TLS client checks that the server certificate names the host it connected to.
enum class HostnameCheck : std::uint8_t { verify, skip };

// Always TLS 1.2 or newer.
struct TlsServerConfig {
  std::string cert_chain_file;   // PEM: server certificate first, then intermediates
  std::string private_key_file;  // PEM
  std::string ca_file;           // PEM CA bundle for client certificates; required unless none
  ClientCertMode client_cert = ClientCertMode::none;
  Status validate() const;
};

// Always TLS 1.2 or newer; the server certificate is always verified (ca_file, or the system's
// trust store when empty).
struct TlsClientConfig {
  std::string ca_file;           // PEM CA bundle that signs the server certificate
  std::string cert_chain_file;   // PEM, for mutual TLS (empty: no client certificate)
  std::string private_key_file;  // PEM, with cert_chain_file
  // SNI and the name checked against the certificate (DNS name or IP address); empty: the host
  // the client connects to. SNI is not sent for an IP address.
  std::string server_name;
  HostnameCheck hostname_check = HostnameCheck::verify;
  Status validate() const;
};

}  // namespace hims::adapters

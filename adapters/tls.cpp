#include "adapters/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <filesystem>
#include <string>
#include <system_error>

#include "adapters/mllp_errors.hpp"

namespace hims::adapters {
namespace ssl = boost::asio::ssl;

std::string_view to_string(ClientCertMode mode) {
  switch (mode) {
    case ClientCertMode::none:
      return "none";
    case ClientCertMode::optional:
      return "optional";
    case ClientCertMode::required:
      return "required";
  }
  return "unknown";
}

namespace {

Error tls_error(const std::string& file, std::string detail) {
  return Error(MllpErrc::tls_config, file, std::move(detail));
}

Status readable(const std::string& file, std::string_view what) {
  if (file.empty()) return tls_error("", std::string(what) + " file not set");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    return tls_error(file, std::string(what) + " file not found or not a regular file");
  }
  return {};
}

// TLS 1.2 minimum, no compression, no renegotiation surprises: the options every context shares.
Status harden(ssl::context& ctx) {
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                  ssl::context::no_compression | ssl::context::single_dh_use);
  if (SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION) != 1) {
    return tls_error("", "cannot set the minimum TLS version to 1.2");
  }
  return {};
}

Status load_chain_and_key(ssl::context& ctx, const std::string& chain, const std::string& key) {
  if (auto s = readable(chain, "certificate chain"); !s) return s;
  if (auto s = readable(key, "private key"); !s) return s;
  boost::system::error_code ec;
  ctx.use_certificate_chain_file(chain, ec);
  if (ec) return tls_error(chain, "cannot load the certificate chain: " + ec.message());
  ctx.use_private_key_file(key, ssl::context::pem, ec);
  if (ec) return tls_error(key, "cannot load the private key: " + ec.message());
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    ERR_clear_error();
    return tls_error(key, "the private key does not match the certificate in " + chain);
  }
  return {};
}

Status load_ca(ssl::context& ctx, const std::string& ca) {
  if (auto s = readable(ca, "CA"); !s) return s;
  boost::system::error_code ec;
  ctx.load_verify_file(ca, ec);
  if (ec) return tls_error(ca, "cannot load the CA file: " + ec.message());
  return {};
}

}  // namespace

Status TlsServerConfig::validate() const {
  if (cert_chain_file.empty()) return tls_error("", "tls.cert_chain_file is required");
  if (private_key_file.empty()) return tls_error("", "tls.private_key_file is required");
  if (client_cert != ClientCertMode::none && ca_file.empty()) {
    return tls_error("", "tls.ca_file is required when client_cert is optional or required");
  }
  return {};
}

Status TlsClientConfig::validate() const {
  if (cert_chain_file.empty() != private_key_file.empty()) {
    return tls_error(cert_chain_file.empty() ? private_key_file : cert_chain_file,
                     "tls.cert_chain_file and tls.private_key_file go together");
  }
  return {};
}

Result<ssl::context> make_server_context(const TlsServerConfig& config) {
  if (auto s = config.validate(); !s) return s.take_error();
  ssl::context ctx(ssl::context::tls_server);
  if (auto s = harden(ctx); !s) return s.take_error();
  if (auto s = load_chain_and_key(ctx, config.cert_chain_file, config.private_key_file); !s) {
    return s.take_error();
  }
  if (config.client_cert == ClientCertMode::none) {
    ctx.set_verify_mode(ssl::verify_none);
    return ctx;
  }
  if (auto s = load_ca(ctx, config.ca_file); !s) return s.take_error();
  // The CA names go into the CertificateRequest so clients pick the right certificate.
  if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.ca_file.c_str())) {
    SSL_CTX_set_client_CA_list(ctx.native_handle(), names);
  }
  ERR_clear_error();
  ctx.set_verify_mode(config.client_cert == ClientCertMode::required
                          ? ssl::verify_peer | ssl::verify_fail_if_no_peer_cert
                          : ssl::verify_peer);
  return ctx;
}

Result<ssl::context> make_client_context(const TlsClientConfig& config) {
  if (auto s = config.validate(); !s) return s.take_error();
  ssl::context ctx(ssl::context::tls_client);
  if (auto s = harden(ctx); !s) return s.take_error();
  if (config.ca_file.empty()) {
    boost::system::error_code ec;
    ctx.set_default_verify_paths(ec);
    if (ec) return tls_error("", "cannot load the system trust store: " + ec.message());
  } else if (auto s = load_ca(ctx, config.ca_file); !s) {
    return s.take_error();
  }
  if (!config.cert_chain_file.empty()) {
    if (auto s = load_chain_and_key(ctx, config.cert_chain_file, config.private_key_file); !s) {
      return s.take_error();
    }
  }
  ctx.set_verify_mode(ssl::verify_peer);
  return ctx;
}

Status prepare_client_stream(SSL* ssl, const TlsClientConfig& config, std::string_view host) {
  const std::string name(config.server_name.empty() ? host : config.server_name);
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(name, ec);
  const bool is_ip = !ec;
  // SSL_set_tlsext_host_name() is a macro with a C cast; this is what it expands to.
  if (!is_ip && SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                         const_cast<char*>(name.c_str())) != 1) {
    ERR_clear_error();
    return tls_error("", "cannot set SNI");
  }
  if (config.hostname_check == HostnameCheck::skip) return {};
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  const int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, address.to_string().c_str())
                       : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
  if (ok != 1) {
    ERR_clear_error();
    return tls_error("", "cannot set the expected server name");
  }
  return {};
}

}  // namespace hims::adapters

// Builds OpenSSL contexts (boost::asio::ssl) from TlsServerConfig / TlsClientConfig: TLS 1.2+,
// certificate chain, key, CA and verify mode. Adapter-internal (includes Asio); a built context is
// shared read-only by every connection of one source or destination.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include "adapters/tls_config.hpp"
#include "engine/result.hpp"

namespace hims::adapters {

// Errors are MllpErrc::tls_config with the offending file name as `where`.
Result<boost::asio::ssl::context> make_server_context(const TlsServerConfig& config);
Result<boost::asio::ssl::context> make_client_context(const TlsClientConfig& config);

// Per connection, before the handshake: SNI (for a DNS name) and, when config.hostname_check is
// verify, the name (or IP address) the server certificate must carry. `host` is the connect host.
Status prepare_client_stream(SSL* ssl, const TlsClientConfig& config, std::string_view host);

}  // namespace hims::adapters

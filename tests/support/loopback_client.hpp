// A blocking TCP client to 127.0.0.1 for transport tests (POSIX sockets, so tests need no Asio):
// connect, send everything, and reads bounded by a deadline. Test-only; one thread per object.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace hims::test {

class LoopbackClient {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LoopbackClient(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~LoopbackClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  LoopbackClient(const LoopbackClient&) = delete;
  LoopbackClient& operator=(const LoopbackClient&) = delete;

  bool connected() const { return connected_; }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

 protected:
  // Reads once into `into`: > 0 bytes read, 0 closed, < 0 error or time-out (timed_out_ tells).
  long read_into(Clock::time_point deadline, std::span<char> into) {
    timed_out_ = false;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timed_out_ = true;
      return -1;
    }
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready == 0) {
      timed_out_ = true;
      return -1;
    }
    if (ready < 0) return -1;
    return ::recv(fd_, into.data(), into.size(), 0);
  }

  bool timed_out_ = false;

 private:
  int fd_ = -1;
  bool connected_ = false;
};

// One HTTP/1.1 GET with `Connection: close`: the whole response (status line, headers, body) as
// read until the server closed, or empty when it could not connect or timed out.
inline std::string http_get(std::uint16_t port, std::string_view path,
                            std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  struct Client : LoopbackClient {
    using LoopbackClient::LoopbackClient;
    using LoopbackClient::read_into;
  } client(port);
  if (!client.connected()) return {};
  std::string request = "GET ";
  request.append(path).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (!client.send(request)) return {};
  const auto deadline = LoopbackClient::Clock::now() + timeout;
  std::string out;
  char buf[4096];
  for (;;) {
    const long n = client.read_into(deadline, buf);
    if (n == 0) return out;
    if (n < 0) return {};
    out.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace hims::test

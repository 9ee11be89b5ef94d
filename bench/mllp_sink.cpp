// MLLP receiver for benchmarks: the partner at the end of a pass-through run. Accepts any number
// of connections on a loopback address, answers every framed message at once with a minimal
// ACK (MSA-1 AA, MSA-2 = the message's MSH-10), and counts what it got. Persists nothing.
//
//   mllp_sink --port N [--host 127.0.0.1] [--max-seconds 600] [--ready-file PATH]
//
// SIGUSR1 prints one JSON line with the count so far ({"t_s":..,"received":..,"bytes":..}); SIGINT
// or SIGTERM prints a final line and exits 0. Stops by itself after --max-seconds. One thread;
// frames that arrive together are answered with one write (pipelining is allowed).
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "bench/mllp_bench.hpp"
#include "hl7v2/mllp_frame.hpp"

namespace {

namespace asio = boost::asio;
namespace hl7v2 = hims::hl7v2;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

using hims::bench::control_id;
using hims::bench::kCr;
using hims::bench::kFs;
using hims::bench::kReadChunk;
using hims::bench::kVt;

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  int max_seconds = 600;
  std::string ready_file;
};

struct Counters {
  std::uint64_t received = 0;
  std::uint64_t bytes = 0;
  std::uint64_t bad_frames = 0;
  std::uint64_t connections = 0;
};

// Appends a framed ACK for `message` to `out`.
void append_ack(std::string_view message, std::string& out) {
  const char sep = message.size() > 3 ? message[3] : '|';
  const std::string_view enc =
      message.size() > 8 ? message.substr(4, message.find(sep, 4) - 4) : "^~\\&";
  const std::string_view id = control_id(message);
  // MSH-2 to MSH-12: MSH-9 ACK, MSH-10 the message's control id.
  const std::string_view msh[] = {enc, "SINK", "BENCH", "", "", "", "", "ACK", id, "P", "2.5.1"};
  out += kVt;
  out += "MSH";
  for (const std::string_view field : msh) {
    out += sep;
    out += field;
  }
  out += kCr;
  out += "MSA";
  out += sep;
  out += "AA";
  out += sep;
  out += id;
  out += kCr;
  out += kFs;
  out += kCr;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Counters& counters)
      : socket_(std::move(socket)), counters_(counters) {}

  void start() {
    boost::system::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    read();
  }

 private:
  void read() {
    const std::span<char> space = decoder_.prepare(kReadChunk);
    socket_.async_read_some(
        asio::buffer(space.data(), space.size()),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
          if (ec) return;  // peer closed or failed: the session ends
          self->on_read(n);
        });
  }

  void on_read(std::size_t n) {
    decoder_.commit(n);
    out_.clear();
    for (;;) {
      const hl7v2::FrameResult r = decoder_.next();
      if (r.status == hl7v2::FrameStatus::need_more) break;
      if (r.status != hl7v2::FrameStatus::frame) {
        ++counters_.bad_frames;
        return;  // drop the connection
      }
      ++counters_.received;
      counters_.bytes += r.frame.size();
      append_ack(r.frame, out_);
    }
    if (out_.empty()) {
      read();
      return;
    }
    asio::async_write(
        socket_, asio::buffer(out_),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
          if (!ec) self->read();
        });
  }

  tcp::socket socket_;
  Counters& counters_;
  hl7v2::FrameDecoder decoder_{{.max_frame_bytes = 16u << 20}};
  std::string out_;
};

class Sink {
 public:
  Sink(asio::io_context& io, const tcp::endpoint& endpoint)
      : acceptor_(io, endpoint), started_(Clock::now()) {}

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec) return;
      ++counters_.connections;
      std::make_shared<Session>(std::move(socket), counters_)->start();
      accept();
    });
  }
  void report(const char* event) const {
    std::printf(
        "{\"event\":\"%s\",\"t_s\":%.6f,\"received\":%llu,\"bytes\":%llu,\"connections\":%llu,"
        "\"bad_frames\":%llu}\n",
        event, std::chrono::duration<double>(Clock::now() - started_).count(),
        static_cast<unsigned long long>(counters_.received),
        static_cast<unsigned long long>(counters_.bytes),
        static_cast<unsigned long long>(counters_.connections),
        static_cast<unsigned long long>(counters_.bad_frames));
    std::fflush(stdout);
  }
  void close() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }

 private:
  tcp::acceptor acceptor_;
  Counters counters_;
  Clock::time_point started_;
};

void wait_signals(asio::signal_set& signals, Sink& sink, asio::io_context& io) {
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGUSR1) {
      sink.report("sample");
      wait_signals(signals, sink, io);
      return;
    }
    sink.report("stop");
    io.stop();
  });
}

int run(const Options& o) {
  boost::system::error_code ec;
  const asio::ip::address address = asio::ip::make_address(o.host, ec);
  if (ec || !address.is_loopback()) {
    std::fprintf(stderr, "mllp_sink: refusing %s: only loopback addresses\n", o.host.c_str());
    return 2;
  }
  asio::io_context io(1);
  Sink sink(io, tcp::endpoint(address, o.port));
  sink.accept();
  asio::signal_set signals(io, SIGINT, SIGTERM, SIGUSR1);
  wait_signals(signals, sink, io);
  asio::steady_timer limit(io, std::chrono::seconds(o.max_seconds));
  limit.async_wait([&](const boost::system::error_code& e) {
    if (e) return;
    sink.report("time limit");
    io.stop();
  });
  if (!o.ready_file.empty()) {
    std::ofstream(o.ready_file) << "{\"port\":" << sink.port() << "}\n";
  }
  io.run();
  sink.close();
  return 0;
}

int cli_main(int argc, char** argv) {
  Options o;
  CLI::App app{"MLLP receiver that ACKs at once and counts (loopback only)", "mllp_sink"};
  app.add_option("--host", o.host, "address to listen on (loopback only)")->capture_default_str();
  app.add_option("--port", o.port, "port (0: any free port, see --ready-file)")->required();
  app.add_option("--max-seconds", o.max_seconds, "stop by itself after this long")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  app.add_option("--ready-file", o.ready_file, "write {\"port\":N} here once listening");
  CLI11_PARSE(app, argc, argv);
  return run(o);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return cli_main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mllp_sink: %s\n", e.what());
    return 1;
  }
}

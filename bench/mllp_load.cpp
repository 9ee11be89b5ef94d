// Closed-loop MLLP load generator for any MLLP server on the loopback interface.
//
//   mllp_load --port N [--host 127.0.0.1] [--connections 8] [--duration 10s] [--warmup 2s]
//             [--file corpus.txt] [--messages 2000] [--threads 1] [--rate 0] [--label NAME]
//             [--json]
//
// Opens C persistent TCP connections; each has one message in flight: it writes a framed message
// (<VT>msg<FS><CR>), waits for the whole reply frame, checks that it is an ACK (a segment starting
// "\rMSA|" whose MSA-1 is AA or CA and MSA-2 the MSH-10 just sent, like the peers' client
// mllp_load.js) and sends the next one. Messages are the first --messages of the corpus file
// (one message per LF-separated line, segments ending in CR), taken in order by whichever
// connection sends next (one cursor shared by all), so no message is sent twice before the
// corpus is used up; then it cycles. --warmup runs unmeasured, then --duration is measured; the run
// then stops by itself (in-flight messages get at most 2 s to finish, uncounted). Latency: from the
// write to the arrival of the last byte of the ACK. Throughput counts HL7 bytes sent (without the
// MLLP envelope), as the peers' client does. Exit status 0 when every ACK was right and no socket
// failed.
//
// --rate R (messages/s over all connections; 0, the default, is closed loop) paces the sends:
// connection i sends its k-th message at t0 + (i + k*C)/R, or as soon as its previous ACK arrives
// when that is later. Latency is then measured from the scheduled time, not the write, so a
// server that falls behind is charged for the queueing it causes (no coordinated omission).
#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/buffer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench/bench_util.hpp"
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

// --- options ---------------------------------------------------------------------------------

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  int connections = 8;
  std::string duration = "10s";
  std::string warmup = "2s";
  std::string file = HIMS_BENCH_HL7_CORPUS;
  std::size_t messages = 2000;
  int threads = 1;
  double rate = 0;          // messages/s over all connections; 0: closed loop
  bool unique_ids = false;  // each send gets an MSH-10 never sent before in this run
  std::string label;
  bool json = false;
};

// "10s", "500ms", "1.5s", "2m" or a plain number of seconds.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  double scale = 1e9;
  if (text.ends_with("ms")) {
    scale = 1e6;
    text.remove_suffix(2);
  } else if (text.ends_with("s")) {
    text.remove_suffix(1);
  } else if (text.ends_with("m")) {
    scale = 60e9;
    text.remove_suffix(1);
  }
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0 || value > 3600) {
    return std::nullopt;
  }
  return std::chrono::nanoseconds(static_cast<std::int64_t>(value * scale));
}

bool is_loopback(const std::string& host) {
  boost::system::error_code ec;
  const asio::ip::address a = asio::ip::make_address(host, ec);
  return !ec && a.is_loopback();
}

// --- messages --------------------------------------------------------------------------------

struct Workload {
  std::vector<std::string> frames;          // <VT>msg<FS><CR>
  std::vector<std::string> control_ids;     // MSH-10 of each
  std::vector<std::size_t> control_offset;  // where MSH-10 starts in the frame
};

// --unique-ids: MSH-10 is overwritten in place with a number of the same width (so nothing else
// moves), `sequence` written in decimal with leading zeros, as a sender's counter would be.
constexpr std::size_t kMinUniqueWidth = 6;
void write_unique_id(std::string& frame, std::size_t offset, std::size_t width,
                     std::uint64_t sequence) {
  for (std::size_t i = width; i-- > 0;) {
    frame[offset + i] = static_cast<char>('0' + sequence % 10);
    sequence /= 10;
  }
}

std::optional<Workload> load_workload(const std::string& path, std::size_t limit,
                                      std::string& why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = "cannot read " + path;
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string data = std::move(ss).str();
  Workload w;
  std::size_t begin = 0;
  while (begin < data.size() && w.frames.size() < limit) {
    std::size_t end = data.find('\n', begin);
    if (end == std::string::npos) end = data.size();
    const std::string_view m(data.data() + begin, end - begin);
    begin = end + 1;
    if (m.empty()) continue;
    const std::string_view id = control_id(m);
    if (id.empty()) {
      why = "message " + std::to_string(w.frames.size() + 1) + " has no MSH-10";
      return std::nullopt;
    }
    w.frames.push_back(hl7v2::frame(m));
    w.control_ids.emplace_back(id);
    w.control_offset.push_back(static_cast<std::size_t>(id.data() - m.data()) + 1);  // after VT
  }
  if (w.frames.empty()) {
    why = "no messages in " + path;
    return std::nullopt;
  }
  return w;
}

// An ACK is right when it has a segment "MSA" whose MSA-1 is AA or CA and MSA-2 is `expected`.
bool ack_ok(std::string_view ack, std::string_view expected) {
  if (ack.size() < 4) return false;
  const char sep = ack.starts_with("MSH") ? ack[3] : '|';
  const std::array<char, 5> needle{kCr, 'M', 'S', 'A', sep};
  std::size_t k = ack.find(std::string_view(needle.data(), needle.size()));
  if (k != std::string_view::npos) {
    ++k;
  } else if (ack.starts_with(std::string_view(needle.data() + 1, 4))) {
    k = 0;
  } else {
    return false;
  }
  std::string_view msa = ack.substr(k);
  msa = msa.substr(0, msa.find_first_of("\r\n"));
  std::array<std::string_view, 2> fields;  // MSA-1, MSA-2
  for (std::string_view& f : fields) {
    const std::size_t s = msa.find(sep);
    if (s == std::string_view::npos) return false;
    msa.remove_prefix(s + 1);
    f = msa.substr(0, msa.find(sep));
  }
  return (fields[0] == "AA" || fields[0] == "CA") && fields[1] == expected;
}

// --- the run ---------------------------------------------------------------------------------

enum Phase : int { warming = 0, measuring = 1, stopping = 2 };

struct Shared {
  const Workload* work = nullptr;
  Clock::duration period{0};  // --rate: time between two sends of one connection; 0: closed loop
  Clock::time_point epoch;    // --rate: the schedule's origin
  int connections = 1;
  bool unique_ids = false;
  std::atomic<int> phase{warming};
  std::atomic<int> in_flight{0};
  std::atomic<int> connected{0};
  std::atomic<int> failed{0};
  std::atomic<std::size_t> cursor{0};  // the next message of the corpus to send, of all connections
};

struct Stats {
  std::vector<std::uint32_t> latency_ns;  // measured round trips
  std::uint64_t hl7_bytes = 0;            // measured
  std::uint64_t round_trips = 0;          // all, warm-up included
  std::uint64_t bad_acks = 0;
  std::uint64_t socket_errors = 0;
  std::uint64_t closed_by_server = 0;
  std::uint64_t late_sends = 0;  // --rate, measured: sent more than 1 ms after the schedule
  std::string first_bad;
};

class Connection {
 public:
  Connection(asio::io_context& io, Shared& shared, Stats& stats, int index)
      : socket_(io), timer_(io), shared_(shared), stats_(stats), index_(index) {
    if (shared_.period.count() != 0) {
      due_ = shared_.epoch + shared_.period * index / shared_.connections;
    }
  }

  void start(const tcp::endpoint& endpoint) {
    socket_.async_connect(endpoint, [this](const boost::system::error_code& ec) {
      if (ec) {
        fail("connect: " + ec.message());
        return;
      }
      socket_.set_option(tcp::no_delay(true));
      shared_.connected.fetch_add(1);
      read();
      pace();
    });
  }

  void close() {
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

 private:
  void fail(const std::string& what) {
    if (dead_) return;
    dead_ = true;
    if (in_flight_) {
      in_flight_ = false;
      shared_.in_flight.fetch_sub(1);
    }
    if (shared_.phase.load() == stopping) return;  // we are closing
    ++stats_.socket_errors;
    shared_.failed.fetch_add(1);
    if (stats_.first_bad.empty()) stats_.first_bad = "socket: " + what;
  }

  // Closed loop: send now. --rate: send at the next scheduled time (now if it has passed).
  void pace() {
    if (shared_.period.count() == 0) {
      send(Clock::now());
      return;
    }
    const Clock::time_point due = due_;
    due_ += shared_.period;
    const Clock::time_point now = Clock::now();
    if (due <= now) {
      if (now - due > std::chrono::milliseconds(1) &&
          shared_.phase.load(std::memory_order_relaxed) == measuring) {
        ++stats_.late_sends;
      }
      send(due);
      return;
    }
    timer_.expires_at(due);
    timer_.async_wait([this, due](const boost::system::error_code& ec) {
      if (!ec) send(due);
    });
  }

  void send(Clock::time_point scheduled) {
    if (dead_ || shared_.phase.load(std::memory_order_relaxed) == stopping) return;
    const Workload& w = *shared_.work;
    current_ = shared_.cursor.fetch_add(1, std::memory_order_relaxed) % w.frames.size();
    in_flight_ = true;
    shared_.in_flight.fetch_add(1, std::memory_order_relaxed);
    sent_at_ = scheduled;
    const std::string* frame = &w.frames[current_];
    expected_ = w.control_ids[current_];
    if (shared_.unique_ids) {
      // Sequence numbers interleave over the connections: sends * connections + index.
      out_ = *frame;
      const std::size_t width = expected_.size();
      write_unique_id(out_, w.control_offset[current_], width,
                      sends_ * static_cast<std::uint64_t>(shared_.connections) +
                          static_cast<std::uint64_t>(index_));
      expected_ = std::string_view(out_).substr(w.control_offset[current_], width);
      frame = &out_;
    }
    ++sends_;
    asio::async_write(socket_, asio::buffer(*frame),
                      [this](const boost::system::error_code& ec, std::size_t) {
                        if (ec) fail("write: " + ec.message());
                      });
  }

  void read() {
    const std::span<char> space = decoder_.prepare(kReadChunk);
    socket_.async_read_some(asio::buffer(space.data(), space.size()),
                            [this](const boost::system::error_code& ec, std::size_t n) {
                              if (ec) {
                                if (ec == asio::error::eof && shared_.phase.load() != stopping) {
                                  ++stats_.closed_by_server;
                                  if (stats_.first_bad.empty())
                                    stats_.first_bad = "server closed the connection";
                                }
                                fail("read: " + ec.message());
                                return;
                              }
                              const Clock::time_point now = Clock::now();
                              decoder_.commit(n);
                              for (;;) {
                                const hl7v2::FrameResult r = decoder_.next();
                                if (r.status == hl7v2::FrameStatus::need_more) break;
                                if (r.status != hl7v2::FrameStatus::frame) {
                                  fail("MLLP framing: " + std::string(hl7v2::to_string(r.status)));
                                  return;
                                }
                                on_reply(r.frame, now);
                              }
                              if (decoder_.stats().bytes_outside_frames != 0) {
                                fail("bytes outside an MLLP frame");
                                return;
                              }
                              read();
                            });
  }

  void on_reply(std::string_view ack, Clock::time_point now) {
    // A reply nobody asked for: nothing in flight, or more frames in the read that answered the
    // message in flight (they arrived before the next message was sent).
    if (!in_flight_ || sent_at_ > now) {
      ++stats_.bad_acks;
      if (stats_.first_bad.empty())
        stats_.first_bad = "unsolicited: " + std::string(ack.substr(0, 200));
      return;
    }
    in_flight_ = false;
    const Workload& w = *shared_.work;
    ++stats_.round_trips;
    if (!ack_ok(ack, expected_)) {
      ++stats_.bad_acks;
      if (stats_.first_bad.empty()) stats_.first_bad = std::string(ack.substr(0, 300));
    }
    if (shared_.phase.load(std::memory_order_relaxed) == measuring) {
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - sent_at_).count();
      stats_.latency_ns.push_back(
          static_cast<std::uint32_t>(std::min<std::int64_t>(ns, UINT32_MAX)));
      stats_.hl7_bytes += w.frames[current_].size() - 3;
    }
    shared_.in_flight.fetch_sub(1, std::memory_order_relaxed);
    pace();
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  Shared& shared_;
  Stats& stats_;
  hl7v2::FrameDecoder decoder_{
      {.max_frame_bytes = 16u << 20, .trailer = hl7v2::MllpTrailer::strict}};
  std::size_t current_ = 0;
  int index_;                  // this connection's number (--unique-ids)
  std::uint64_t sends_ = 0;    // messages this connection sent
  std::string out_;            // --unique-ids: the frame in flight, with its own MSH-10
  std::string_view expected_;  // the MSH-10 in flight (MSA-2 must echo it)
  Clock::time_point sent_at_;
  Clock::time_point due_;  // --rate: when the next message is to be sent
  bool in_flight_ = false;
  bool dead_ = false;
};

using hims::bench::json_escape;

std::string printable(std::string_view s) {
  std::string out(s);
  for (char& ch : out) {
    if (ch == kCr || ch == kVt || ch == kFs || ch == '\n') ch = ' ';
  }
  return out;
}

int run(const Options& o) {
  const auto duration = parse_duration(o.duration);
  const auto warmup = parse_duration(o.warmup);
  if (!duration || !warmup || duration->count() == 0) {
    std::fprintf(stderr, "mllp_load: bad --duration or --warmup (examples: 10s, 500ms, 2)\n");
    return 2;
  }
  if (!is_loopback(o.host)) {
    std::fprintf(stderr, "mllp_load: refusing %s: only loopback addresses (127.0.0.0/8, ::1)\n",
                 o.host.c_str());
    return 2;
  }
  std::string why;
  const std::optional<Workload> work = load_workload(o.file, o.messages, why);
  if (!work) {
    std::fprintf(stderr, "mllp_load: %s\n", why.c_str());
    return 2;
  }
  const tcp::endpoint endpoint(asio::ip::make_address(o.host), o.port);

  Shared shared;
  shared.work = &*work;
  shared.connections = o.connections;
  shared.unique_ids = o.unique_ids;
  if (o.unique_ids) {
    for (std::size_t i = 0; i < work->control_ids.size(); ++i) {
      if (work->control_ids[i].size() < kMinUniqueWidth) {
        std::fprintf(stderr,
                     "mllp_load: --unique-ids needs MSH-10 of %zu characters or more; message %zu "
                     "has %zu\n",
                     kMinUniqueWidth, i + 1, work->control_ids[i].size());
        return 2;
      }
    }
  }
  if (o.rate > 0) {
    shared.period = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(static_cast<double>(o.connections) / o.rate));
    shared.epoch = Clock::now();
  }
  const int threads = std::clamp(o.threads, 1, 16);
  std::vector<std::unique_ptr<asio::io_context>> ios;
  ios.reserve(static_cast<std::size_t>(threads));
  std::vector<Stats> stats(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) ios.push_back(std::make_unique<asio::io_context>(1));
  std::vector<std::unique_ptr<Connection>> conns;
  conns.reserve(static_cast<std::size_t>(o.connections));
  for (int i = 0; i < o.connections; ++i) {
    const auto t = static_cast<std::size_t>(i % threads);
    conns.push_back(std::make_unique<Connection>(*ios[t], shared, stats[t], i));
  }
  for (auto& c : conns) c->start(endpoint);

  std::vector<std::thread> runners;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& io : ios) {
    guards.push_back(asio::make_work_guard(*io));
    runners.emplace_back([&io_ctx = *io] { io_ctx.run(); });
  }
  auto finish_threads = [&] {
    for (auto& io : ios) io->stop();
    for (auto& r : runners) r.join();
    for (auto& c : conns) c->close();
  };

  // Connect (bounded), warm up, measure, drain.
  const Clock::time_point connect_deadline = Clock::now() + std::chrono::seconds(10);
  while (shared.connected.load() + shared.failed.load() < o.connections &&
         Clock::now() < connect_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (shared.connected.load() == 0) {
    shared.phase = stopping;
    finish_threads();
    std::fprintf(stderr, "mllp_load: could not connect to %s:%u: %s\n", o.host.c_str(), o.port,
                 stats[0].first_bad.c_str());
    return 1;
  }
  std::this_thread::sleep_for(*warmup);
  const Clock::time_point t0 = Clock::now();
  shared.phase = measuring;
  std::this_thread::sleep_for(*duration);
  shared.phase = stopping;
  const Clock::time_point t1 = Clock::now();
  const Clock::time_point drain_deadline = t1 + std::chrono::seconds(2);
  while (shared.in_flight.load() > 0 && Clock::now() < drain_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const int unanswered = shared.in_flight.load();
  finish_threads();

  // Merge and report.
  Stats all;
  for (Stats& s : stats) {
    all.latency_ns.insert(all.latency_ns.end(), s.latency_ns.begin(), s.latency_ns.end());
    all.hl7_bytes += s.hl7_bytes;
    all.round_trips += s.round_trips;
    all.bad_acks += s.bad_acks;
    all.socket_errors += s.socket_errors;
    all.closed_by_server += s.closed_by_server;
    all.late_sends += s.late_sends;
    if (all.first_bad.empty()) all.first_bad = s.first_bad;
  }
  std::vector<std::uint32_t>& lat = all.latency_ns;
  std::sort(lat.begin(), lat.end());
  const double secs = std::chrono::duration<double>(t1 - t0).count();
  const auto acked = static_cast<double>(lat.size());
  auto pct = [&](double p) -> double {
    if (lat.empty()) return 0;
    const auto i = std::min(lat.size() - 1, static_cast<std::size_t>(p * acked));
    return lat[i] / 1e6;
  };
  const double msgs_per_s = acked / secs;
  const double mb_per_s = static_cast<double>(all.hl7_bytes) / 1e6 / secs;
  const double max_ms = lat.empty() ? 0 : lat.back() / 1e6;
  const bool clean = all.bad_acks == 0 && all.socket_errors == 0 && unanswered == 0 && !lat.empty();

  if (o.json) {
    std::printf(
        "{\"bench\":\"mllp\",\"label\":\"%s\",\"client\":\"hims mllp_load\",\"host\":\"%s\","
        "\"port\":%u,\"conns\":%d,\"threads\":%d,\"duration_s\":%.3f,\"warmup_s\":%.3f,"
        "\"messages\":%zu,\"acked\":%zu,\"msgs_per_s\":%.0f,\"mb_per_s\":%.2f,\"p50_ms\":%.3f,"
        "\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,\"bad_acks\":%llu,"
        "\"socket_errors\":%llu,\"closed_by_server\":%llu,\"unanswered_at_end\":%d,"
        "\"total_round_trips\":%llu,\"rate\":%.0f,\"late_sends\":%llu,\"first_bad_ack\":%s}\n",
        json_escape(o.label).c_str(), json_escape(o.host).c_str(), o.port, o.connections, threads,
        secs, std::chrono::duration<double>(*warmup).count(), work->frames.size(), lat.size(),
        msgs_per_s, mb_per_s, pct(0.5), pct(0.9), pct(0.99), pct(0.999), max_ms,
        static_cast<unsigned long long>(all.bad_acks),
        static_cast<unsigned long long>(all.socket_errors),
        static_cast<unsigned long long>(all.closed_by_server), unanswered,
        static_cast<unsigned long long>(all.round_trips), o.rate,
        static_cast<unsigned long long>(all.late_sends),
        all.first_bad.empty() ? "null" : ("\"" + json_escape(all.first_bad) + "\"").c_str());
  } else {
    std::printf("mllp_load %s:%u%s%s: %d connections, %d thread(s), %zu messages cycled\n",
                o.host.c_str(), o.port, o.label.empty() ? "" : " ", o.label.c_str(), o.connections,
                threads, work->frames.size());
    std::printf("  %zu ACKs in %.3f s: %.0f msgs/s, %.2f MB/s of HL7 sent\n", lat.size(), secs,
                msgs_per_s, mb_per_s);
    if (o.rate > 0) {
      std::printf(
          "  paced at %.0f msgs/s: %llu sends more than 1 ms late; latency from the schedule\n",
          o.rate, static_cast<unsigned long long>(all.late_sends));
    }
    std::printf("  ACK latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", pct(0.5),
                pct(0.9), pct(0.99), pct(0.999), max_ms);
    std::printf(
        "  errors: bad ACKs %llu, socket errors %llu, closed by server %llu, "
        "unanswered at end %d\n",
        static_cast<unsigned long long>(all.bad_acks),
        static_cast<unsigned long long>(all.socket_errors),
        static_cast<unsigned long long>(all.closed_by_server), unanswered);
    if (!all.first_bad.empty())
      std::printf("  first problem: %s\n", printable(all.first_bad).c_str());
  }
  std::fflush(stdout);
  return clean ? 0 : 1;
}

int cli_main(int argc, char** argv) {
  Options o;
  CLI::App app{"Closed-loop MLLP load generator (loopback only)", "mllp_load"};
  app.add_option("--host", o.host, "server address (loopback only)")->capture_default_str();
  app.add_option("--port", o.port, "server port")->required();
  app.add_option("--connections,-c", o.connections,
                 "persistent connections, 1 message in flight each")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--duration,-d", o.duration, "measured time (10s, 500ms)")->capture_default_str();
  app.add_option("--warmup,-w", o.warmup, "unmeasured time before")->capture_default_str();
  app.add_option("--file,-f", o.file, "corpus: one message per line, segments end in CR")
      ->capture_default_str();
  app.add_option("--messages,-n", o.messages, "cycle through the first N messages")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{10'000'000}));
  app.add_option("--threads,-t", o.threads, "client threads (one io_context each)")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  app.add_option("--rate", o.rate,
                 "messages/s over all connections (paced, latency from the schedule); 0: closed "
                 "loop")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 10'000'000.0));
  app.add_flag("--unique-ids", o.unique_ids,
               "give every message sent a new MSH-10 (same width, a decimal counter), as a real "
               "sender does, so a server's duplicate check finds none");
  app.add_option("--label", o.label, "name of the server under test, copied to the output");
  app.add_flag("--json", o.json, "print one JSON line instead of text");
  CLI11_PARSE(app, argc, argv);
  return run(o);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return cli_main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mllp_load: %s\n", e.what());
    return 1;
  }
}

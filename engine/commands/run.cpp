// `hims-engine run`: loads the config, starts one MLLP server per source and answers every
// message with the Acknowledger's ACK, until SIGINT or SIGTERM. Until the engine core exists
// nothing is journaled: the ACK only says whether the message parses.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "adapters/mllp_server.hpp"
#include "engine/acknowledger.hpp"
#include "engine/commands.hpp"
#include "engine/config.hpp"

namespace hims::engine {

namespace {

adapters::MllpServerConfig server_config(const MllpSourceConfig& source) {
  adapters::MllpServerConfig config;
  config.source_id = source.id;
  config.host = source.listen.host;
  config.port = source.listen.port;
  config.max_connections = source.max_connections;
  config.max_message_bytes = static_cast<std::size_t>(source.max_message_size);
  config.idle_timeout = source.idle_timeout;
  config.read_timeout = source.read_timeout;
  if (source.tls) {
    adapters::TlsServerConfig tls;
    tls.cert_chain_file = source.tls->cert.string();
    tls.private_key_file = source.tls->key.string();
    tls.ca_file = source.tls->ca.string();
    tls.client_cert = source.tls->client_cert;
    config.tls = std::move(tls);
  }
  return config;
}

// The handler of one source: builds the ACK on the connection's strand (parsing is bounded by
// max_message_size and never blocks) and logs one line per message, without PHI.
adapters::MllpHandler make_handler(std::shared_ptr<const Acknowledger> acknowledger) {
  return [acknowledger = std::move(acknowledger)](Envelope envelope, adapters::MllpReplier reply) {
    const Acknowledgement a =
        acknowledger->acknowledge(envelope.bytes, std::chrono::system_clock::now());
    const log::Level level = a.accepted ? log::Level::info : log::Level::warn;
    if (log::enabled(level)) {
      if (a.accepted) {
        log::info("message acknowledged",
                  {{"source", envelope.source},
                   {"peer", envelope.peer},
                   {"control_id", a.control_id},
                   {"message_type", a.message_type},
                   {"version", a.version},
                   {"bytes", static_cast<std::uint64_t>(envelope.bytes.size())},
                   {"ack", a.code}});
      } else {
        log::warn("message rejected", {{"source", envelope.source},
                                       {"peer", envelope.peer},
                                       {"control_id", a.control_id},
                                       {"message_type", a.message_type},
                                       {"version", a.version},
                                       {"bytes", static_cast<std::uint64_t>(envelope.bytes.size())},
                                       {"ack", a.code},
                                       {"reason", a.reason}});
      }
    }
    reply(adapters::MllpReply::send_ack(a.ack));
  };
}

struct Listening {
  std::string id;
  std::string host;
  std::uint16_t port = 0;
  bool tls = false;
};

// Written atomically (temporary file, then rename) so a reader never sees half a file.
bool write_ready_file(const std::filesystem::path& path, const std::vector<Listening>& sources) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("pid");
  w.Int64(static_cast<std::int64_t>(::getpid()));
  w.Key("sources");
  w.StartObject();
  for (const Listening& s : sources) {
    w.Key(s.id.c_str());
    w.StartObject();
    w.Key("type");
    w.String("mllp");
    w.Key("host");
    w.String(s.host.c_str());
    w.Key("port");
    w.Uint(s.port);
    w.Key("tls");
    w.Bool(s.tls);
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << buffer.GetString() << "\n";
    if (!out.flush()) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

// Graceful stop on SIGINT/SIGTERM: close the listeners, let connections waiting for an ACK get
// it, and return from io.run() once every server has stopped. A second signal, or 30 s without
// finishing, stops the io_context at once. Every handler runs on one strand.
class Shutdown {
 public:
  Shutdown(boost::asio::io_context& io, std::vector<adapters::MllpServer>& servers)
      : io_(io),
        servers_(servers),
        strand_(boost::asio::make_strand(io)),
        signals_(strand_, SIGINT, SIGTERM),
        deadline_(strand_),
        poll_(strand_) {}

  void arm() {
    signals_.async_wait(
        [this](const boost::system::error_code& ec, int signal) { on_signal(ec, signal); });
  }

 private:
  void on_signal(const boost::system::error_code& ec, int signal) {
    if (ec) return;
    if (stopping_) {
      log::warn("second signal: stopping now", {{"signal", signal}});
      io_.stop();
      return;
    }
    stopping_ = true;
    log::info("stopping", {{"signal", signal}});
    for (auto& s : servers_) s.stop();
    deadline_.expires_after(std::chrono::seconds(30));
    deadline_.async_wait([this](const boost::system::error_code& wait_ec) {
      if (wait_ec) return;
      log::warn("graceful stop took too long: stopping now");
      io_.stop();
    });
    arm();
    poll();
  }

  // MllpServer::stop() is asynchronous; poll stopped() so the signal set and the deadline can be
  // cancelled once the servers have no work left, letting io.run() return.
  void poll() {
    const bool all = std::all_of(servers_.begin(), servers_.end(),
                                 [](const adapters::MllpServer& s) { return s.stopped(); });
    if (all) {
      signals_.cancel();
      deadline_.cancel();
      return;
    }
    poll_.expires_after(std::chrono::milliseconds(20));
    poll_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) poll();
    });
  }

  boost::asio::io_context& io_;
  std::vector<adapters::MllpServer>& servers_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer deadline_;
  boost::asio::steady_timer poll_;
  bool stopping_ = false;
};

}  // namespace

int run_command(const RunOptions& options) {
  LoadedConfig loaded = load_config(options.config);
  if (!loaded.ok()) {
    for (const ConfigError& e : loaded.errors) std::cerr << e.to_string() << "\n";
    std::cerr << "hims-engine run: " << options.config.string() << " is not valid ("
              << loaded.errors.size() << (loaded.errors.size() == 1 ? " error" : " errors")
              << "); nothing started\n";
    return kExitUsage;
  }
  const Config& config = loaded.config;
  log::init(options.log_format.value_or(config.log.format),
            options.log_level.value_or(config.log.level));

  boost::asio::io_context io;
  const std::string prefix = control_id_prefix_for(std::chrono::system_clock::now());
  std::vector<adapters::MllpServer> servers;
  std::vector<Listening> listening;
  for (const MllpSourceConfig& source : config.sources) {
    auto acknowledger = std::make_shared<const Acknowledger>(
        source.ack, source.max_message_size, prefix + std::to_string(servers.size()));
    auto server =
        adapters::MllpServer::start(io, server_config(source), make_handler(acknowledger));
    if (!server) {
      log::error("source cannot start", {{"source", source.id},
                                         {"listen", source.listen.to_string()},
                                         {"error", server.error().message()}});
      for (auto& s : servers) s.stop();
      io.run_for(std::chrono::seconds(5));
      return kExitUsage;
    }
    listening.push_back({source.id, source.listen.host, server->port(), source.tls.has_value()});
    servers.push_back(std::move(*server));
  }

  Shutdown shutdown(io, servers);
  shutdown.arm();

  if (!options.ready_file.empty() && !write_ready_file(options.ready_file, listening)) {
    log::error("cannot write the ready file", {{"path", options.ready_file.string()}});
    for (auto& s : servers) s.stop();
    io.run_for(std::chrono::seconds(5));
    return kExitUsage;
  }
  log::info("engine running", {{"config", options.config.string()},
                               {"sources", static_cast<std::uint64_t>(servers.size())}});

  const unsigned threads = std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();

  std::uint64_t acks = 0;
  std::uint64_t connections = 0;
  for (const auto& s : servers) {
    acks += s.stats().acks_sent.load();
    connections += s.stats().connections_accepted.load();
  }
  log::info("engine stopped", {{"connections", connections}, {"acks_sent", acks}});
  if (!options.ready_file.empty()) {
    std::error_code ec;
    std::filesystem::remove(options.ready_file, ec);
  }
  return kExitOk;
}

}  // namespace hims::engine

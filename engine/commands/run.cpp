// `hims-engine run`: loads the config, starts one MLLP server per source and answers every
// message with the Acknowledger's ACK, until SIGINT or SIGTERM. Until the engine core exists
// nothing is journaled: the ACK only says whether the message parses.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <vector>

#include "adapters/io_runtime.hpp"
#include "adapters/mllp_server.hpp"
#include "adapters/stop_signals.hpp"
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

// I/O threads: the CPUs this process may run on (taskset, cpusets), 1 to 4. More threads than
// CPUs only adds contention.
unsigned io_thread_count() { return std::clamp(adapters::IoRuntime::usable_cpus(), 1u, 4u); }

bool all_stopped(const std::vector<adapters::MllpServer>& servers) {
  return std::all_of(servers.begin(), servers.end(),
                     [](const adapters::MllpServer& s) { return s.stopped(); });
}

// Start-up failed: stop what started, give it up to 5 s, then abandon the rest.
void abandon(adapters::IoRuntime& runtime, std::vector<adapters::MllpServer>& servers) {
  for (auto& s : servers) s.stop();
  runtime.release();
  if (!runtime.join_for(std::chrono::seconds(5))) {
    runtime.stop();
    runtime.join();
  }
}

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

  // Declared before the servers: destroyed (stopped and joined) after them.
  adapters::IoRuntime runtime(io_thread_count());
  const std::string prefix = control_id_prefix_for(std::chrono::system_clock::now());
  std::vector<adapters::MllpServer> servers;
  std::vector<Listening> listening;
  for (const MllpSourceConfig& source : config.sources) {
    auto acknowledger = std::make_shared<const Acknowledger>(
        source.ack, source.max_message_size, prefix + std::to_string(servers.size()));
    auto server = adapters::MllpServer::start(runtime.context(), server_config(source),
                                              make_handler(acknowledger));
    if (!server) {
      log::error("source cannot start", {{"source", source.id},
                                         {"listen", source.listen.to_string()},
                                         {"error", server.error().message()}});
      abandon(runtime, servers);
      return kExitUsage;
    }
    listening.push_back({source.id, source.listen.host, server->port(), source.tls.has_value()});
    servers.push_back(std::move(*server));
  }

  // Graceful stop on SIGINT/SIGTERM: close the listeners, let connections waiting for an ACK get
  // it; the runtime's threads return once every server has stopped. A second signal, or 30 s
  // without finishing, stops them at once. Registered before the ready file exists.
  adapters::StopSignals stop_signals(
      runtime,
      [&servers] {
        for (auto& s : servers) s.stop();
      },
      [&servers] { return all_stopped(servers); });

  if (!options.ready_file.empty() && !write_ready_file(options.ready_file, listening)) {
    log::error("cannot write the ready file", {{"path", options.ready_file.string()}});
    stop_signals.cancel();
    abandon(runtime, servers);
    return kExitUsage;
  }
  log::info("engine running", {{"config", options.config.string()},
                               {"sources", static_cast<std::uint64_t>(servers.size())}});

  runtime.release();
  runtime.join();

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

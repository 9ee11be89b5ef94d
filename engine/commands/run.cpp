// `hims-engine run`: loads the config, opens the journal (store, migrations applied), starts the
// processing stage (routes) and one delivery worker per destination, one MLLP server per source
// and the HTTP listener (/health, /metrics), until SIGINT or SIGTERM. Every message is journaled
// raw with its metadata before it is answered (DESIGN.md 5.1): with ack mode on-commit the ACK
// (AA/CA, or AR/CR for a message that does not parse, journaled as rejected) goes out from the
// journal commit's completion; with on-processed, once the message was routed and its queue items
// committed (AE/CE when it errored). A message that could not be journaled gets AE/CE with
// ERR 207, so it is re-sent.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <vector>

#include "adapters/http_server.hpp"
#include "adapters/io_runtime.hpp"
#include "adapters/mllp_server.hpp"
#include "adapters/stop_signals.hpp"
#include "engine/acknowledger.hpp"
#include "engine/commands.hpp"
#include "engine/config.hpp"
#include "engine/delivery.hpp"
#include "engine/journal_writer.hpp"
#include "engine/metrics.hpp"
#include "engine/processor.hpp"
#include "engine/router.hpp"
#include "engine/store.hpp"

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

// Per-source series (docs/metrics.md), registered at start-up.
struct SourceInstruments {
  metrics::Counter received;
  metrics::Counter received_bytes;
  metrics::Counter rejected;
  metrics::Counter duplicates;
  metrics::Counter errored;
  metrics::Histogram ack_latency;

  SourceInstruments(metrics::Registry& r, const std::string& source) {
    const std::initializer_list<std::string_view> label{source};
    received = r.counter("hims_source_received_total", "Messages received by a source.", {"source"})
                   .with(label);
    received_bytes = r.counter("hims_source_received_bytes_total",
                               "Bytes of the messages received by a source.", {"source"})
                         .with(label);
    rejected = r.counter("hims_source_rejected_total",
                         "Messages answered AR/CR (unreadable, unsupported version).", {"source"})
                   .with(label);
    duplicates =
        r.counter("hims_source_duplicates_total",
                  "Messages acknowledged again as duplicates, not processed twice.", {"source"})
            .with(label);
    errored =
        r.counter("hims_source_errored_total",
                  "Messages answered AE/CE (not stored, or errored in processing).", {"source"})
            .with(label);
    ack_latency = r.histogram("hims_ack_latency_seconds",
                              "From the message received to its ACK handed to the connection.",
                              metrics::latency_buckets(), {"source"})
                      .with(label);
  }
};

// What one source's handler shares across its messages.
struct SourceContext {
  std::shared_ptr<const Acknowledger> acknowledger;
  AckMode ack_mode = AckMode::on_commit;
  SourceInstruments metrics;
  std::shared_ptr<const Router> router;
  std::shared_ptr<const ProcessingMetrics> processing;
  // A message taking a route that maps (Router::maps) is journaled `received` and handed to the
  // processor, which writes its rows, state and queue items in one transaction.
  Processor* processor = nullptr;
};

// What the completion of one journal submit needs to answer the message.
struct PendingAck {
  Acknowledgement ack;
  adapters::MllpReplier reply;
  std::string source;
  std::string peer;
  std::uint64_t bytes = 0;
  std::chrono::steady_clock::time_point received;
};

void send_ack(const SourceContext& ctx, PendingAck& p, const std::string& ack) {
  ctx.metrics.ack_latency.observe(std::chrono::steady_clock::now() - p.received);
  p.reply(adapters::MllpReply::send_ack(ack));
}

void log_answer(const PendingAck& p, const JournalReceipt& receipt) {
  const Acknowledgement& a = p.ack;
  const auto journal_id = static_cast<std::int64_t>(receipt.id);
  if (a.accepted) {
    if (!log::enabled(log::Level::debug)) return;
    log::debug(
        receipt.duplicate_of ? "duplicate message acknowledged again" : "message acknowledged",
        {{"source", p.source},
         {"peer", p.peer},
         {"control_id", a.control_id},
         {"message_type", a.message_type},
         {"version", a.version},
         {"bytes", p.bytes},
         {"ack", a.code},
         {"journal_id", journal_id},
         {"duplicate", receipt.duplicate_of ? "true" : "false"}});
  } else {
    if (!log::enabled(log::Level::warn)) return;
    log::warn("message rejected", {{"source", p.source},
                                   {"peer", p.peer},
                                   {"control_id", a.control_id},
                                   {"message_type", a.message_type},
                                   {"version", a.version},
                                   {"bytes", p.bytes},
                                   {"ack", a.code},
                                   {"journal_id", journal_id},
                                   {"reason", a.reason}});
  }
}

// AE/CE with ERR 207 and `ack_text`; returns the code sent.
std::string send_error_ack(const SourceContext& ctx, PendingAck& p, std::string_view ack_text) {
  Acknowledgement ae =
      ctx.acknowledger->error_ack(p.ack, ack_text, std::chrono::system_clock::now());
  send_ack(ctx, p, ae.ack);
  return std::move(ae.code);
}

// AE/CE with ERR 207 (the sender must send it again, or look at the errored message), logged.
void answer_error(const SourceContext& ctx, PendingAck& p, std::string_view ack_text,
                  std::string_view log_message, const std::string& error) {
  ctx.metrics.errored.inc();
  const std::string code = send_error_ack(ctx, p, ack_text);
  log::error(log_message, {{"source", p.source},
                           {"peer", p.peer},
                           {"control_id", p.ack.control_id},
                           {"message_type", p.ack.message_type},
                           {"bytes", p.bytes},
                           {"ack", code},
                           {"error", error}});
}

void answer_not_stored(const SourceContext& ctx, PendingAck& p, const Error& error) {
  answer_error(ctx, p, "the message could not be stored; send it again", "message not journaled",
               error.message());
}

// The first steps of an accepted message's completion: not stored -> AE; the receipt logged; a
// duplicate (DESIGN 5a) gets the same answer again (same bytes, same verdict) and is not
// processed twice. True when the message is answered here.
bool answered_before_processing(const SourceContext& ctx, PendingAck& p,
                                const Result<JournalReceipt>& receipt) {
  if (!receipt.ok()) {
    answer_not_stored(ctx, p, receipt.error());
    return true;
  }
  log_answer(p, *receipt);
  if (!receipt->duplicate_of) return false;
  ctx.metrics.duplicates.inc();
  send_ack(ctx, p, p.ack.ack);
  return true;
}

// The answer once the message's outcome is known: AE/CE for an errored message with
// on-processed, the ACK otherwise.
void answer_outcome(const SourceContext& ctx, PendingAck& p, const ProcessOutcome& outcome) {
  if (outcome.state == store::MessageState::errored && ctx.ack_mode == AckMode::on_processed) {
    answer_error(ctx, p, "the message could not be processed: " + outcome.detail, "message errored",
                 outcome.detail);
    return;
  }
  send_ack(ctx, p, p.ack.ack);
}

// A message taking a route with a mapping: journaled `received`, then processed by the processor
// (mapping, canonical rows, state and queue items in its transaction). With on-commit the ACK
// goes once it is journaled; with on-processed once the processor committed its outcome (AE/CE
// when it errored or the processing transaction failed: it is retried, the message is stored).
void submit_for_processing(const std::shared_ptr<const SourceContext>& ctx, JournalWriter& writer,
                           store::NewJournalEntry entry,
                           const std::shared_ptr<PendingAck>& pending) {
  Status submitted = writer.submit(std::move(entry), [ctx,
                                                      pending](Result<JournalReceipt> receipt) {
    if (answered_before_processing(*ctx, *pending, receipt)) return;
    const bool on_processed = ctx->ack_mode == AckMode::on_processed;
    ProcessCompletion done;
    if (on_processed) {
      done = [ctx, pending](Result<ProcessOutcome> outcome) {
        if (!outcome.ok() && outcome.error().is(ProcessErrc::stopped)) {
          // Stopping: the entry stays `received` for the next start (the processor logs how
          // many); an AE says so, without a log line per message.
          send_error_ack(*ctx, *pending,
                         "the engine is stopping; the message is stored and will be processed "
                         "after it starts again");
          return;
        }
        if (!outcome.ok()) {
          answer_error(*ctx, *pending,
                       "the message is stored but could not be processed yet; it will be "
                       "retried",
                       "processing failed", outcome.error().message());
          return;
        }
        answer_outcome(*ctx, *pending, *outcome);
      };
    }
    ctx->processor->submit(receipt->id, pending->source, std::move(receipt->raw), std::move(done));
    if (!on_processed) send_ack(*ctx, *pending, pending->ack.ack);
  });
  if (!submitted.ok()) answer_not_stored(*ctx, *pending, submitted.error());
}

// The handler of one source: builds the ACK and routes the message on the connection's strand
// (one parse, bounded by max_message_size; never blocks), submits the message with its outcome
// to the journal writer and returns; the writer's completion sends the ACK once the commit holds
// both (with on-processed, AE/CE for a message that errored). AE when it could not be stored.
// The connection reads nothing more until then. No PHI in the logs.
adapters::MllpHandler make_handler(std::shared_ptr<const SourceContext> ctx,
                                   JournalWriter& writer) {
  return [ctx = std::move(ctx), &writer](Envelope envelope, adapters::MllpReplier reply) {
    const auto now = std::chrono::system_clock::now();
    ctx->metrics.received.inc();
    ctx->metrics.received_bytes.inc(envelope.bytes.size());
    // One parse for the ACK and for routing (it views envelope.bytes: used before they move).
    const auto parsed = ctx->acknowledger->parse(envelope.bytes);
    auto pending = std::make_shared<PendingAck>(PendingAck{
        ctx->acknowledger->acknowledge(envelope.bytes, parsed, now), std::move(reply),
        envelope.source, envelope.peer, static_cast<std::uint64_t>(envelope.bytes.size()),
        std::chrono::steady_clock::now()});

    const Acknowledgement& a = pending->ack;
    // Routing here, on this I/O thread: the journal writer commits the entry, its new state and
    // its queue items in one transaction (DESIGN.md 5.2), so on-processed costs no extra commit.
    // (A message is only accepted when it parsed.)
    std::shared_ptr<RoutedMessage> routed;
    if (a.accepted) {
      routed = std::make_shared<RoutedMessage>(
          route_message(*ctx->router, envelope.source, *parsed, now));
    }
    store::NewJournalEntry entry;
    entry.raw = std::move(envelope.bytes);
    entry.source = std::move(envelope.source);
    entry.peer = std::move(envelope.peer);
    entry.received_at = envelope.received_at == std::chrono::system_clock::time_point{}
                            ? now
                            : envelope.received_at;
    entry.message_type = a.message_code;
    entry.trigger_event = a.trigger_event;
    entry.control_id = a.control_id;
    entry.sending_application = a.sending_application;
    entry.sending_facility = a.sending_facility;
    entry.state = a.accepted ? store::MessageState::received : store::MessageState::rejected;
    if (!a.accepted) entry.error = a.reason;
    // The content hash (duplicate check, journal column) on this I/O thread, not the writer's.
    entry.content_hash = store::sha256_hex(entry.raw);

    if (!a.accepted) {
      Status submitted =
          writer.submit(std::move(entry), [ctx, pending](Result<JournalReceipt> receipt) {
            if (!receipt.ok()) {
              answer_not_stored(*ctx, *pending, receipt.error());
              return;
            }
            log_answer(*pending, *receipt);
            ctx->metrics.rejected.inc();
            send_ack(*ctx, *pending, pending->ack.ack);
          });
      if (!submitted.ok()) answer_not_stored(*ctx, *pending, submitted.error());
      return;
    }
    const bool maps = std::any_of(routed->routes.begin(), routed->routes.end(),
                                  [&](auto r) { return ctx->router->maps(r); });
    if (maps) {
      submit_for_processing(ctx, writer, std::move(entry), pending);
      return;
    }
    InlineProcessing processing{routed->outcome.state, routed->outcome.detail,
                                std::move(routed->items)};
    routed->items.clear();
    // An accepted entry goes in `received` with its processing, so a receipt that is not a
    // duplicate is always `processed`: its outcome is the one routed here.
    Status submitted = writer.submit(
        std::move(entry), std::move(processing),
        [ctx, pending, routed](Result<JournalReceipt> receipt) {
          if (answered_before_processing(*ctx, *pending, receipt)) return;
          ctx->processing->count(*routed);
          if (routed->outcome.state == store::MessageState::errored &&
              ctx->ack_mode != AckMode::on_processed) {
            log::warn("message errored", {{"source", pending->source},
                                          {"control_id", pending->ack.control_id},
                                          {"journal_id", static_cast<std::int64_t>(receipt->id)},
                                          {"error", routed->outcome.detail}});
          }
          answer_outcome(*ctx, *pending, routed->outcome);
        });
    if (!submitted.ok()) answer_not_stored(*ctx, *pending, submitted.error());
  };
}

// The journal writer every source submits to, with each source's duplicate window.
Result<std::unique_ptr<JournalWriter>> open_writer(
    const Config& config, metrics::Registry& registry,
    std::function<void(const std::vector<std::string>&)> on_enqueued) {
  JournalWriterOptions options;
  options.metrics = &registry;
  options.on_enqueued = std::move(on_enqueued);
  store::OpenOptions store_options;
  store_options.lease_owner = config.node;
  for (const MllpSourceConfig& source : config.sources) {
    const auto window = std::chrono::duration_cast<std::chrono::seconds>(source.duplicate_window);
    options.duplicate_window_by_source.emplace(source.id, window);
    // SQLite looks duplicates up in memory: it keeps the longest window.
    store_options.duplicate_horizon = std::max(store_options.duplicate_horizon, window);
  }
  return JournalWriter::open(config.store, std::move(options), store_options);
}

store::OpenOptions worker_store_options(const Config& config) {
  store::OpenOptions o;
  o.migrate = false;  // the journal writer's store applied them
  o.lease_owner = config.node;
  return o;
}

// Warns about queue items waiting for a destination the config no longer has: they stay queued
// (nothing is lost) until the destination is configured again or they are replayed elsewhere.
void warn_orphaned_queues(store::Store& store, const Config& config) {
  auto summary = store.queue_summary(store::Clock::now());
  if (!summary.ok()) return;
  for (const store::DestinationStats& d : *summary) {
    const bool known =
        std::any_of(config.destinations.begin(), config.destinations.end(),
                    [&](const DestinationConfig& c) { return c.id == d.destination; });
    if (!known && d.pending > 0) {
      log::warn("queued items for a destination that is not configured",
                {{"destination", d.destination}, {"pending", d.pending}});
    }
  }
}

struct Listening {
  std::string id;
  std::string type;
  std::string host;
  std::uint16_t port = 0;
  bool tls = false;
};

// Written atomically (temporary file, then rename) so a reader never sees half a file.
bool write_ready_file(const std::filesystem::path& path, const std::vector<Listening>& sources,
                      const std::optional<Listening>& http) {
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
    w.String(s.type.c_str());
    w.Key("host");
    w.String(s.host.c_str());
    w.Key("port");
    w.Uint(s.port);
    w.Key("tls");
    w.Bool(s.tls);
    w.EndObject();
  }
  w.EndObject();
  if (http) {
    w.Key("http");
    w.StartObject();
    w.Key("host");
    w.String(http->host.c_str());
    w.Key("port");
    w.Uint(http->port);
    w.EndObject();
  }
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

// Everything that listens: stopped together on a signal, and on a failed start-up.
struct Listeners {
  std::vector<adapters::MllpServer> mllp;
  std::optional<adapters::HttpServer> http;

  void stop() {
    for (auto& s : mllp) s.stop();
    if (http) http->stop();
  }
  bool stopped() const {
    return std::all_of(mllp.begin(), mllp.end(),
                       [](const adapters::MllpServer& s) { return s.stopped(); }) &&
           (!http || http->stopped());
  }
};

// Start-up failed: stop what started, give it up to 5 s, then abandon the rest.
void abandon(adapters::IoRuntime& runtime, Listeners& listeners) {
  listeners.stop();
  runtime.release();
  if (!runtime.join_for(std::chrono::seconds(5))) {
    runtime.stop();
    runtime.join();
  }
}

// GET /health: 200 {"status":"ok",...} while the journal commits; 503 "failing" when its last
// commit failed. Destinations report their queue depth and last error (they do not make the
// engine unhealthy: a partner being down is what queues are for).
adapters::HttpResponse health(const JournalWriter& writer, const DeliveryService& delivery,
                              std::string_view backend) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  const bool ok = writer.healthy();
  w.StartObject();
  w.Key("status");
  w.String(ok ? "ok" : "failing");
  w.Key("store");
  w.StartObject();
  w.Key("backend");
  w.String(backend.data(), static_cast<rapidjson::SizeType>(backend.size()));
  w.Key("commits");
  w.String(ok ? "ok" : "failing");
  w.Key("journal_queue");
  w.Uint64(writer.queue_depth());
  w.EndObject();
  w.Key("destinations");
  w.StartObject();
  for (const DeliveryService::DestinationStats& d : delivery.stats()) {
    w.Key(d.destination.c_str());
    w.StartObject();
    w.Key("pending");
    w.Int64(d.depth);
    w.Key("sent");
    w.Uint64(d.sent);
    w.Key("retried");
    w.Uint64(d.retried);
    w.Key("dead");
    w.Uint64(d.dead);
    w.Key("last_error");
    w.String(d.last_error.c_str());
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  return adapters::HttpResponse::json(ok ? 200 : 503, buffer.GetString());
}

// Opens the transports of every destination; the first that fails stops the start-up.
Result<std::vector<DestinationWorkerSpec>> open_destinations(const Config& config) {
  std::vector<DestinationWorkerSpec> specs;
  for (const DestinationConfig& d : config.destinations) {
    auto transport = make_transport(d);
    if (!transport.ok()) {
      return Error(ConfigErrc::bad_value, "destinations." + d.id,
                   "cannot start: " + transport.error().message());
    }
    specs.push_back(DestinationWorkerSpec{d, std::move(*transport)});
  }
  return specs;
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
  metrics::Registry registry;

  // Routes were checked by the loader; build cannot fail here.
  RouterBuild built = Router::build(config.routes);
  if (!built.ok()) {
    for (const RouteProblem& p : built.problems) std::cerr << p.to_string() << "\n";
    return kExitUsage;
  }
  auto router = std::make_shared<const Router>(std::move(*built.router));

  // Declared before the servers: destroyed (stopped and joined) after them.
  adapters::IoRuntime runtime(io_thread_count());
  // Between the two: completions post ACKs into the runtime's io_context, so the writer stops
  // (draining) before it is destroyed, and after the servers that submit to them.
  // Declared before the writer, which wakes it after commits that queued items (and is
  // destroyed first).
  std::unique_ptr<DeliveryService> delivery;
  auto opened = open_writer(config, registry, [&delivery](const std::vector<std::string>& d) {
    if (delivery) delivery->wake(d);
  });
  if (!opened.ok()) {
    log::error("store cannot be opened",
               {{"store", redact_store_url(config.store)}, {"error", opened.error().message()}});
    return kExitUsage;
  }
  std::unique_ptr<JournalWriter> writer = std::move(*opened);
  log::info("journal open", {{"store", redact_store_url(config.store)}});

  // Delivery (the writer and the processor wake it), then the processor: it routes what is left
  // `received` (recovery, replays); sources route the messages they take themselves.
  auto specs = open_destinations(config);
  if (!specs.ok()) {
    log::error("destination cannot start", {{"error", specs.error().message()}});
    return kExitUsage;
  }
  DeliveryOptions delivery_options;
  delivery_options.metrics = &registry;
  auto delivery_started = DeliveryService::start(config.store, config.node, std::move(*specs),
                                                 std::move(delivery_options));
  if (!delivery_started.ok()) {
    log::error(
        "store cannot be opened for delivery",
        {{"store", redact_store_url(config.store)}, {"error", delivery_started.error().message()}});
    return kExitUsage;
  }
  delivery = std::move(*delivery_started);
  auto processor_store = store::open_store(config.store, worker_store_options(config));
  if (!processor_store.ok()) {
    log::error(
        "store cannot be opened for processing",
        {{"store", redact_store_url(config.store)}, {"error", processor_store.error().message()}});
    return kExitUsage;
  }
  warn_orphaned_queues(**processor_store, config);
  if (router->any_maps()) {
    // Every mapping against the store's canonical schema before anything is taken in.
    auto canonical = CanonicalWriter::open(**processor_store);
    Status fits = canonical.ok() ? Status{} : Status(canonical.error());
    for (std::size_t r = 0; fits.ok() && r < router->size(); ++r) {
      if (router->maps(r)) fits = canonical->check_error(*router->route(r).compiled_mapping);
    }
    if (!fits.ok()) {
      log::error("mapping does not fit the canonical schema", {{"error", fits.error().message()}});
      return kExitUsage;
    }
  }
  ProcessorOptions processor_options;
  processor_options.metrics = &registry;
  processor_options.on_enqueued = [&delivery](const std::vector<std::string>& destinations) {
    delivery->wake(destinations);
  };
  auto processor = std::make_unique<Processor>(std::move(*processor_store), router,
                                               std::move(processor_options));
  auto processing_metrics = std::make_shared<const ProcessingMetrics>(&registry, *router);

  const std::string prefix = control_id_prefix_for(std::chrono::system_clock::now());
  Listeners listeners;
  std::vector<Listening> listening;
  for (const MllpSourceConfig& source : config.sources) {
    auto ctx = std::make_shared<const SourceContext>(SourceContext{
        std::make_shared<const Acknowledger>(source.ack, source.max_message_size,
                                             prefix + std::to_string(listeners.mllp.size())),
        source.ack_mode, SourceInstruments(registry, source.id), router, processing_metrics,
        processor.get()});
    auto server = adapters::MllpServer::start(runtime.context(), server_config(source),
                                              make_handler(std::move(ctx), *writer));
    if (!server) {
      log::error("source cannot start", {{"source", source.id},
                                         {"listen", source.listen.to_string()},
                                         {"error", server.error().message()}});
      abandon(runtime, listeners);
      writer->stop();  // drain: its completions hand messages to the processor
      return kExitUsage;
    }
    listening.push_back(
        {source.id, "mllp", source.listen.host, server->port(), source.tls.has_value()});
    listeners.mllp.push_back(std::move(*server));
  }
  std::optional<Listening> http_listening;
  if (config.http) {
    adapters::HttpServerConfig http_config;
    http_config.host = config.http->listen.host;
    http_config.port = config.http->listen.port;
    const std::string backend((*writer).backend());
    std::vector<adapters::HttpRoute> routes{
        {"GET", "/metrics",
         [&registry](const adapters::HttpRequest&) {
           return adapters::HttpResponse{
               200, std::string(metrics::kContentType), registry.render(), {}};
         }},
        {"GET", "/health",
         [&writer, &delivery, backend](const adapters::HttpRequest&) {
           return health(*writer, *delivery, backend);
         }},
    };
    auto http = adapters::HttpServer::start(runtime.context(), http_config, std::move(routes));
    if (!http) {
      log::error("http listener cannot start",
                 {{"listen", config.http->listen.to_string()}, {"error", http.error().message()}});
      abandon(runtime, listeners);
      writer->stop();  // drain: its completions hand messages to the processor
      return kExitUsage;
    }
    http_listening = Listening{"http", "http", http_config.host, http->port(), false};
    listeners.http = std::move(*http);
  }

  // Graceful stop on SIGINT/SIGTERM: close the listeners, let connections waiting for an ACK get
  // it; the runtime's threads return once every listener has stopped. A second signal, or 30 s
  // without finishing, stops them at once. Registered before the ready file exists.
  adapters::StopSignals stop_signals(
      runtime, [&listeners] { listeners.stop(); }, [&listeners] { return listeners.stopped(); });

  if (!options.ready_file.empty() &&
      !write_ready_file(options.ready_file, listening, http_listening)) {
    log::error("cannot write the ready file", {{"path", options.ready_file.string()}});
    stop_signals.cancel();
    abandon(runtime, listeners);
    writer->stop();  // drain: its completions hand messages to the processor
    return kExitUsage;
  }
  log::info("engine running",
            {{"config", options.config.string()},
             {"node", config.node},
             {"sources", static_cast<std::uint64_t>(listeners.mllp.size())},
             {"routes", static_cast<std::uint64_t>(config.routes.size())},
             {"destinations", static_cast<std::uint64_t>(config.destinations.size())}});

  runtime.release();
  runtime.join();
  // The listeners are stopped: no more submits. Commit what is still queued, finish the batch
  // in processing (the rest stays `received` for the next start), then let each destination
  // finish the attempt in flight.
  writer->stop();
  processor->stop();
  delivery->stop();
  const JournalWriter::Stats journal = writer->stats();
  const Processor::Stats processed = processor->stats();
  std::uint64_t acks = 0;
  std::uint64_t connections = 0;
  for (const auto& s : listeners.mllp) {
    acks += s.stats().acks_sent.load();
    connections += s.stats().connections_accepted.load();
  }
  std::uint64_t sent = 0;
  for (const auto& d : delivery->stats()) sent += d.sent;
  log::info("engine stopped", {{"connections", connections},
                               {"acks_sent", acks},
                               {"journaled", journal.journaled},
                               {"duplicates", journal.duplicates},
                               {"journal_failures", journal.failed},
                               {"processed", processed.processed},
                               {"filtered", processed.filtered},
                               {"errored", processed.errored},
                               {"delivered", sent}});
  if (!options.ready_file.empty()) {
    std::error_code ec;
    std::filesystem::remove(options.ready_file, ec);
  }
  return kExitOk;
}

}  // namespace hims::engine

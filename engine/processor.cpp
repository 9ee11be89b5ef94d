#include "engine/processor.hpp"

#include <algorithm>
#include <utility>

#include "engine/log.hpp"
#include "engine/thread_name.hpp"
#include "hl7v2/message.hpp"

namespace hims::engine {

namespace {

// The message as destinations get it: from MSH (BOM and leading blank lines dropped), every
// segment ended by CR, as HL7 v2 over MLLP and in files expects.
std::string with_cr_terminators(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() + 1);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    if (c == '\r') {
      out.push_back('\r');
      if (i + 1 < bytes.size() && bytes[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out.push_back('\r');
    } else {
      out.push_back(c);
    }
  }
  if (!out.empty() && out.back() != '\r') out.push_back('\r');
  return out;
}

}  // namespace

RoutedMessage route_message(const Router& router, std::string_view source, std::string_view raw,
                            store::TimePoint not_before, ApplyMappings map) {
  auto parsed = hl7v2::MessageView::parse(raw);
  if (!parsed) {
    RoutedMessage out;
    out.outcome = {store::MessageState::errored,
                   "the message does not parse: " + parsed.error().message()};
    return out;
  }
  return route_message(router, source, *parsed, not_before, map);
}

RoutedMessage route_message(const Router& router, std::string_view source,
                            const hl7v2::MessageView& message, store::TimePoint not_before,
                            ApplyMappings map) {
  RoutedMessage out;
  const RouteMatches matches = router.match(MatchInput{source, message});
  if (matches.empty()) {
    out.outcome = {store::MessageState::filtered, "no route matched"};
    return out;
  }
  const std::string payload = with_cr_terminators(message.bytes());
  for (const std::uint32_t index : matches) {
    out.routes.push_back(index);
    out.queued.push_back(0);
    const RouteSpec& route = router.route(index);
    for (const std::string& destination : route.destinations) {
      const bool queued = std::any_of(
          out.items.begin(), out.items.end(),
          [&](const store::NewQueueItem& item) { return item.destination == destination; });
      if (queued) continue;  // two routes to one destination: delivered once
      store::NewQueueItem item;
      item.destination = destination;
      item.payload = payload;
      item.not_before = not_before;
      item.route = route.name;
      item.source = std::string(source);
      out.items.push_back(std::move(item));
      ++out.queued.back();
    }
  }
  if (map == ApplyMappings::yes) {
    for (const std::uint32_t index : out.routes) {
      if (!router.maps(index)) continue;
      const Mapping& mapping = *router.route(index).compiled_mapping;
      const std::string& route = router.route(index).name;
      auto fail = [&](const std::string& why) {
        out.items.clear();
        out.mapped.clear();
        std::fill(out.queued.begin(), out.queued.end(), 0);
        out.outcome = {store::MessageState::errored,
                       "route '" + route + "', mapping '" + mapping.name() + "': " + why};
      };
      if (!mapping.accepts(message)) {
        fail("the mapping does not take " + std::string(message.message_code()) + "^" +
             std::string(message.trigger_event()));
        return out;
      }
      auto mapped = mapping.apply(message);
      if (!mapped.ok()) {
        fail(mapped.error().message());
        return out;
      }
      out.mapped.push_back(std::move(*mapped));
    }
  }
  out.outcome = {store::MessageState::processed, ""};
  return out;
}

std::string_view to_string(ProcessErrc code) {
  switch (code) {
    case ProcessErrc::stopped:
      return "processing_stopped";
  }
  return "processing_unknown";
}

ProcessingMetrics::ProcessingMetrics(metrics::Registry* registry, const Router& router) {
  if (registry == nullptr) return;
  auto outcome = registry->counter("hims_processed_total",
                                   "Journal entries processed, by outcome (processed: routed "
                                   "and queued; filtered: no route matched; errored).",
                                   {"outcome"});
  processed_ = outcome.with({"processed"});
  filtered_ = outcome.with({"filtered"});
  errored_ = outcome.with({"errored"});
  auto received =
      registry->counter("hims_route_received_total", "Messages that matched the route.", {"route"});
  auto queued = registry->counter("hims_route_queued_total",
                                  "Items queued to the route's destinations.", {"route"});
  for (std::size_t i = 0; i < router.size(); ++i) {
    const std::string name(router.name(i));
    route_received_.push_back(received.with({name}));
    route_queued_.push_back(queued.with({name}));
  }
}

void ProcessingMetrics::count(const RoutedMessage& routed) const {
  switch (routed.outcome.state) {
    case store::MessageState::processed:
      processed_.inc();
      break;
    case store::MessageState::filtered:
      filtered_.inc();
      break;
    default:
      errored_.inc();
      break;
  }
  for (std::size_t k = 0; k < routed.routes.size(); ++k) {
    const std::uint32_t route = routed.routes[k];
    if (route >= route_received_.size()) continue;
    route_received_[route].inc();
    if (k < routed.queued.size()) route_queued_[route].inc(routed.queued[k]);
  }
}

Processor::Processor(std::unique_ptr<store::Store> store, std::shared_ptr<const Router> router,
                     ProcessorOptions options)
    : store_(std::move(store)),
      router_(std::move(router)),
      options_(std::move(options)),
      counters_(options_.metrics, *router_) {
  if (options_.metrics != nullptr) {
    commit_latency_ = options_.metrics
                          ->histogram("hims_processing_commit_latency_seconds",
                                      "One processing transaction (states and queue items).",
                                      metrics::latency_buckets())
                          .with({});
    auto rows = options_.metrics->counter(
        "hims_canonical_rows_total",
        "Canonical rows written by mapped routes, by change (created, updated, merged).",
        {"change"});
    rows_created_ = rows.with({"created"});
    rows_updated_ = rows.with({"updated"});
    rows_merged_ = rows.with({"merged"});
    canonical_events_ = options_.metrics
                            ->counter("hims_canonical_events_total",
                                      "domain_events rows written with the canonical rows.")
                            .with({});
  }
  options_.max_batch = std::max<std::size_t>(options_.max_batch, 1);
  if (router_->any_maps()) {
    // The catalog is read here, before the thread starts; without it no mapped message can be
    // written, so each stays `received` and is tried again (logged at every batch).
    auto writer = CanonicalWriter::open(*store_);
    if (writer.ok()) {
      writer_.emplace(std::move(*writer));
    } else {
      log::error("cannot read the canonical schema", {{"error", writer.error().message()}});
    }
  }
  thread_ = std::thread([this] {
    set_thread_name("hims-process");
    run();
  });
}

Processor::~Processor() { stop(); }

void Processor::submit(store::JournalId id, std::string source, std::string raw,
                       ProcessCompletion done) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(Work{id, std::move(source), std::move(raw), std::move(done)});
  }
  wake_.notify_one();
}

void Processor::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

Processor::Stats Processor::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

// Inside the processing transaction: the canonical rows of each mapped entry still `received`
// (an entry processed already keeps what it wrote then), each message under its own savepoint.
// A message the writer refuses becomes `errored` with the writer's error and queues nothing; a
// store failure fails the transaction (the batch is tried again).
Status Processor::write_canonical(std::vector<Work>& batch, std::vector<RoutedMessage>& routed,
                                  store::TimePoint now, CanonicalWriteStats& written) {
  std::vector<store::JournalId> ids;
  std::vector<std::size_t> at;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (routed[i].mapped.empty()) continue;
    ids.push_back(batch[i].id);
    at.push_back(i);
  }
  auto still = store_->still_received(ids);
  if (!still.ok()) return still.take_error();
  for (std::size_t k = 0; k < at.size(); ++k) {
    if (!(*still)[k]) continue;
    RoutedMessage& r = routed[at[k]];
    if (!writer_) {
      return Error(CanonicalErrc::bad_mapping, "processor",
                   "the canonical schema could not be read at start");
    }
    // Several mapped routes: all their rows or none (an outer savepoint around the writes).
    CanonicalWriteStats entry;
    auto write_all = [&]() -> Status {
      for (const MappedMessage& message : r.mapped) {
        auto w = writer_->write(*store_, message, batch[at[k]].id, now);
        if (!w.ok()) return w.take_error();
        entry += *w;
      }
      return {};
    };
    Status s;
    if (r.mapped.size() > 1) {
      auto outer = store_->under_savepoint("hims_entry", write_all);
      if (!outer.ok()) return outer.take_error();
      s = std::move(*outer);
    } else {
      s = write_all();
    }
    if (!s.ok()) {
      if (s.error().domain() == ErrorDomain::store) return s;  // the transaction is broken
      r.outcome = {store::MessageState::errored, s.error().message()};
      r.items.clear();
      std::fill(r.queued.begin(), r.queued.end(), 0);
      continue;
    }
    written += entry;
  }
  return {};
}

std::vector<Processor::Work> Processor::scan() {
  auto entries = store_->unprocessed(options_.max_batch);
  std::vector<Work> out;
  if (!entries.ok()) {
    log::error("journal scan failed", {{"error", entries.error().message()}});
    return out;
  }
  out.reserve(entries->size());
  for (store::JournalEntry& e : *entries) {
    out.push_back(Work{e.id, std::move(e.source), std::move(e.raw), {}});
  }
  return out;
}

void Processor::run() {
  // Start-up: what a crash or a replay left `received` goes first.
  bool rescan = true;
  auto next_scan = std::chrono::steady_clock::now();
  for (;;) {
    if (abandon_if_stopping()) return;
    std::vector<Work> batch;
    if (rescan) {
      batch = scan();
      // A full batch means more may wait: scan again straight after this one.
      rescan = batch.size() == options_.max_batch;
      next_scan = std::chrono::steady_clock::now() + options_.rescan_interval;
    }
    if (batch.empty()) {
      std::unique_lock lock(mutex_);
      wake_.wait_until(lock, next_scan, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) continue;  // abandon_if_stopping
      if (queue_.empty()) {
        rescan = true;
        continue;
      }
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    process(batch);
  }
}

// Stopping: the batch in hand has finished; what is still queued stays `received` (the next
// start's scan takes it) and each of its completions hears so now. Draining it instead could
// take minutes after a burst (mapped messages on PostgreSQL went at about 200 a second, a round
// trip per canonical statement), past a service manager's stop timeout.
bool Processor::abandon_if_stopping() {
  std::deque<Work> left;
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) return false;
    left.swap(queue_);
  }
  if (!left.empty()) {
    log::info("processing stopped; entries left received for the next start",
              {{"entries", static_cast<std::uint64_t>(left.size())}});
  }
  for (Work& w : left) {
    if (w.done) {
      w.done(Error(ProcessErrc::stopped, "processor",
                   "stopping: the entry stays received and is processed at the next start"));
    }
  }
  return true;
}

void Processor::process(std::vector<Work>& batch) {
  const Router& router = *router_;
  std::vector<RoutedMessage> routed(batch.size());
  std::vector<store::ProcessingCommit> commits;  // hold the routed items
  std::vector<bool> applied;                     // per entry: not processed already
  CanonicalWriteStats written;                   // by the committed transaction
  for (;;) {
    const store::TimePoint now = options_.clock();
    commits.clear();
    commits.reserve(batch.size());
    bool mapped = false;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      routed[i] = route_message(router, batch[i].source, batch[i].raw, now, ApplyMappings::yes);
      mapped = mapped || !routed[i].mapped.empty();
    }
    const auto started = std::chrono::steady_clock::now();
    written = {};
    // One transaction, a few statements per batch, plus the canonical rows of mapped messages.
    Result<std::vector<bool>> committed = std::vector<bool>{};
    Status status = store_->transact([&]() -> Status {
      if (mapped) {
        if (Status s = write_canonical(batch, routed, now, written); !s.ok()) return s;
      }
      for (std::size_t i = 0; i < batch.size(); ++i) {
        RoutedMessage& r = routed[i];
        commits.push_back(store::ProcessingCommit{batch[i].id, r.outcome.state, r.outcome.detail,
                                                  std::move(r.items)});
      }
      committed = store_->commit_processing_batch(commits, now);
      if (!committed.ok()) return committed.error();
      return {};
    });
    if (!status.ok() && committed.ok()) committed = status.error();
    if (committed.ok()) {
      commit_latency_.observe(std::chrono::steady_clock::now() - started);
      applied = std::move(*committed);
      applied.resize(batch.size(), false);
      break;
    }
    {
      std::lock_guard lock(mutex_);
      ++stats_.failed_batches;
    }
    log::error("processing transaction failed; retrying",
               {{"entries", static_cast<std::uint64_t>(batch.size())},
                {"error", committed.error().message()}});
    for (Work& w : batch) {
      if (w.done) std::exchange(w.done, {})(committed.error());
    }
    std::unique_lock lock(mutex_);
    // Stopping: leave the batch `received`; the next start's scan takes it.
    if (wake_.wait_for(lock, options_.retry_pause, [this] { return stopping_; })) return;
  }

  std::vector<std::string> woken;
  Stats delta;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const ProcessOutcome& outcome = routed[i].outcome;
    if (!applied[i]) {
      ++delta.skipped;
      // Processed already, by a scan of this run with the same routes: routing is pure, so the
      // recorded outcome is the one computed here, unless the message maps (whether the store
      // took its rows was decided then): that one is read back.
      if (!batch[i].done) continue;
      if (routed[i].mapped.empty()) {
        batch[i].done(outcome);
        continue;
      }
      auto recorded = store_->get(batch[i].id);
      if (!recorded.ok()) {
        batch[i].done(recorded.error());
      } else if (!*recorded) {
        batch[i].done(Error(store::StoreErrc::not_found, "journal", "the entry is gone"));
      } else {
        batch[i].done(ProcessOutcome{(*recorded)->state, (*recorded)->error});
      }
      continue;
    }
    counters_.count(routed[i]);
    switch (outcome.state) {
      case store::MessageState::processed:
        ++delta.processed;
        break;
      case store::MessageState::filtered:
        ++delta.filtered;
        break;
      default:
        ++delta.errored;
        log::warn("message errored", {{"source", batch[i].source},
                                      {"journal_id", static_cast<std::int64_t>(batch[i].id)},
                                      {"error", outcome.detail}});
        break;
    }
    for (const store::NewQueueItem& item : commits[i].items) {
      if (std::find(woken.begin(), woken.end(), item.destination) == woken.end()) {
        woken.push_back(item.destination);
      }
    }
    if (batch[i].done) batch[i].done(outcome);
  }
  {
    std::lock_guard lock(mutex_);
    stats_.processed += delta.processed;
    stats_.filtered += delta.filtered;
    stats_.errored += delta.errored;
    stats_.skipped += delta.skipped;
    stats_.canonical_rows += written.created + written.updated + written.merged;
  }
  rows_created_.inc(written.created);
  rows_updated_.inc(written.updated);
  rows_merged_.inc(written.merged);
  canonical_events_.inc(written.events);
  if (!woken.empty() && options_.on_enqueued) options_.on_enqueued(woken);
}

}  // namespace hims::engine

// `hims-engine replay`: errored (or filtered) messages back to `received`, dead letters back to
// their queue. Works on the store directly, so the engine may be running (it picks the work up
// within a second or two) or not (it does at its next start).
#include <iostream>

#include "engine/commands.hpp"
#include "engine/commands/store_target.hpp"

namespace hims::engine {

namespace {

constexpr std::string_view kDetail = "replayed by hims-engine replay";

// Every entry in `state` matching the filters, oldest first, page by page.
Result<std::vector<store::JournalId>> matching(store::Store& store, store::MessageState state,
                                               const ReplayOptions& o) {
  std::vector<store::JournalId> ids;
  store::JournalFilter f;
  f.state = state;
  f.source = o.source;
  f.received_from = o.since;
  f.received_until = o.until;
  f.limit = 1000;
  for (;;) {
    auto page = store.list(f);
    if (!page.ok()) return page.take_error();
    for (const store::JournalEntry& e : *page) ids.push_back(e.id);
    if (page->size() < f.limit) return ids;
    f.after_id = page->back().id;
  }
}

}  // namespace

int replay_command(const ReplayOptions& o) {
  if (o.messages.empty() && !o.errored && !o.filtered && o.dead_letters.empty() && !o.all_dead) {
    std::cerr << "hims-engine replay: name what to replay: --message ID, --errored, --filtered, "
                 "--dead-letter ID or --dead\n";
    return kExitUsage;
  }
  auto store = detail::open_target(o.target, "replay", /*migrate=*/true);
  if (!store) return kExitUsage;
  const auto now = store::Clock::now();
  int failures = 0;

  std::vector<store::JournalId> messages(o.messages.begin(), o.messages.end());
  for (const auto state : {store::MessageState::errored, store::MessageState::filtered}) {
    if ((state == store::MessageState::errored && !o.errored) ||
        (state == store::MessageState::filtered && !o.filtered)) {
      continue;
    }
    auto ids = matching(*store, state, o);
    if (!ids.ok()) {
      std::cerr << "hims-engine replay: " << ids.error().message() << "\n";
      return kExitFailed;
    }
    messages.insert(messages.end(), ids->begin(), ids->end());
  }
  std::int64_t replayed = 0;
  for (const store::JournalId id : messages) {
    if (o.dry_run) {
      std::cout << "message " << id << " would be replayed\n";
      continue;
    }
    auto n = store->reprocess(id, now, kDetail);
    if (!n.ok()) {
      std::cout << "message " << id << " error: " << n.error().message() << "\n";
      ++failures;
    } else if (*n == 0) {
      std::cout << "message " << id << " not replayed: not errored or filtered\n";
      ++failures;
    } else {
      std::cout << "message " << id << " replayed\n";
      ++replayed;
    }
  }

  std::int64_t requeued = 0;
  std::vector<store::DeadLetterFilter> dead;
  for (const std::int64_t id : o.dead_letters) {
    store::DeadLetterFilter f;
    f.id = id;
    dead.push_back(f);
  }
  if (o.all_dead) {
    store::DeadLetterFilter f;
    f.destination = o.destination;
    dead.push_back(f);
  }
  for (const store::DeadLetterFilter& f : dead) {
    if (o.dry_run) {
      store::QueueFilter q;
      q.status = store::QueueItemStatus::dead;
      q.destination = f.destination;
      q.id = f.id;
      q.limit = 100000;
      auto items = store->list_queue(q);
      if (!items.ok()) {
        std::cerr << "hims-engine replay: " << items.error().message() << "\n";
        return kExitFailed;
      }
      for (const store::QueueItem& item : *items) {
        std::cout << "dead letter " << item.id << " (" << item.destination
                  << ") would be queued again\n";
      }
      continue;
    }
    auto n = store->requeue_dead(f, now);
    if (!n.ok()) {
      std::cerr << "hims-engine replay: " << n.error().message() << "\n";
      return kExitFailed;
    }
    if (f.id && *n == 0) {
      std::cout << "dead letter " << *f.id << " not queued again: not a dead letter\n";
      ++failures;
    } else if (f.id) {
      std::cout << "dead letter " << *f.id << " queued again\n";
    }
    requeued += *n;
  }
  if (!o.dry_run) {
    std::cout << replayed << (replayed == 1 ? " message" : " messages") << " replayed, " << requeued
              << (requeued == 1 ? " dead letter" : " dead letters") << " queued again\n";
  }
  return failures == 0 ? kExitOk : kExitFailed;
}

}  // namespace hims::engine

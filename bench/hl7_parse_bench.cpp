// HL7 v2 parser throughput on the gen_hl7.py corpus (20,000 messages, 50.4 MB), single thread.
//
//   hl7_parse_bench [--corpus=PATH] [google benchmark flags, e.g. --benchmark_repetitions=5]
//   hl7_parse_bench --verify-only       checksums only
//   hl7_parse_bench --profile=MODE      one untimed pass of MODE (tokenize ... full_decode), for
//                                       callgrind --toggle-collect='*profile_pass*'
//
// The corpus (segments end with CR, messages are separated by one LF) is read and split into
// string_views before any timing, like the peers' harness (/work/shared/bench/peers/node/
// hl7_parse.js). One benchmark iteration is one pass over every message of a subset (all, adt,
// oru); bytes/s and items/s (messages/s) count the message bytes without the LF, as the peers do.
//
//   tokenize     MessageView::reparse of every message into one reused MessageView
//   parse        MessageView::parse of every message (a new view, its index allocated each time)
//   touch        parse + PID-5.1 and OBX-5 of every OBX (the peers' `touch` mode)
//   full         touch + every field, repetition, component and sub-component raw view, walked
//                with ElementView::children() (the peers' `full` mode stops at components)
//   full_indexed the same walk through size() and repetition(r)/component(c)/subcomponent(s)
//   full_visit   the same walk in one pass per field with ElementView::for_each_leaf(); it also
//                visits empty components and repetitions (as one empty leaf each), so its
//                `leaves` counter is higher, while the checksum and the raw bytes are the same
//   full_decode  full + decode_to() of every sub-component (escapes decoded, UTF-8)
//
// Checksums (printed before the benchmarks, and as the `checksum` counter): `touch` sums
// len(PID-5.1) + 1000 + len(OBX-5) per OBX, exactly as hl7_parse.js; over the 20,000 messages
// the peers get 202092573. `full` adds, per segment, field and repetition, the number of
// components (at least 1), as the baseline-split and @medplum/core adapters do; they get
// 212928363, which includes one empty trailing "segment" per message that JavaScript's
// split('\r') yields after the final CR; we report ours plus that artifact next to theirs.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "hl7v2/message.hpp"

namespace {

using hims::hl7v2::Delimiters;
using hims::hl7v2::ElementView;
using hims::hl7v2::MessageView;
using hims::hl7v2::SegmentView;

// What the peers compute on the default corpus (PEERS.md, hl7_parse.js).
constexpr std::uint64_t kPeerTouchChecksum = 202092573;  // every peer that does not unescape
constexpr std::uint64_t kPeerFullChecksum = 212928363;   // baseline-split and @medplum/core
constexpr std::size_t kCorpusMessages = 20000;

struct Subset {
  std::vector<std::string_view> messages;
  std::uint64_t bytes = 0;
  void add(std::string_view m) {
    messages.push_back(m);
    bytes += m.size();
  }
};

struct Corpus {
  std::string path;
  std::string data;
  Subset all, adt, oru;
};

Corpus& corpus() {
  static Corpus c;
  return c;
}

// MSH-9.1 by plain byte scanning, so the split does not depend on the code under test.
std::string_view message_code(std::string_view m) {
  const std::size_t eol = m.find('\r');
  const std::string_view msh = m.substr(0, eol);
  if (msh.size() < 4) return {};
  const char sep = msh[3];
  std::size_t pos = 3;  // the 1st separator (MSH-1); MSH-9 starts after the 8th
  for (int i = 0; i < 7 && pos != std::string_view::npos; ++i) pos = msh.find(sep, pos + 1);
  if (pos == std::string_view::npos) return {};
  return msh.substr(pos + 1, 3);
}

bool load_corpus(const std::string& path) {
  Corpus& c = corpus();
  c.path = path;
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  c.data = std::move(ss).str();
  const std::string_view all = c.data;
  std::size_t begin = 0;
  while (begin < all.size()) {
    std::size_t end = all.find('\n', begin);
    if (end == std::string_view::npos) end = all.size();
    const std::string_view m = all.substr(begin, end - begin);
    begin = end + 1;
    if (m.empty()) continue;
    c.all.add(m);
    const std::string_view code = message_code(m);
    if (code == "ADT") c.adt.add(m);
    if (code == "ORU") c.oru.add(m);
  }
  return !c.all.messages.empty();
}

// --- the work done per message ------------------------------------------------------------

struct Tally {
  std::uint64_t checksum = 0;    // the peers' formula (touch, + components for full)
  std::uint64_t leaves = 0;      // sub-components walked
  std::uint64_t leaf_bytes = 0;  // their raw (or decoded) bytes
};

bool is_header(std::string_view name) { return name == "MSH" || name == "BHS" || name == "FHS"; }

void touch(const MessageView& m, Tally& t) {
  bool pid_seen = false;
  for (SegmentView seg : m) {
    const std::string_view name = seg.name();
    if (name == "OBX") {
      t.checksum += 1000 + seg.field(5).raw().size();
    } else if (!pid_seen && name == "PID") {
      pid_seen = true;
      t.checksum += seg.field(5).component(1).raw().size();
    }
  }
}

// MSH-2 is literal for the parser; String.split counts "^~\&" as 2 + 1 components.
std::uint64_t split_count(std::string_view raw, const Delimiters& d) {
  std::uint64_t n = 1;
  for (char ch : raw) n += (ch == d.repetition || ch == d.component) ? 1 : 0;
  return n;
}

void visit_leaf(const ElementView& sub, Tally& t, std::string& scratch, bool decode) {
  ++t.leaves;
  if (decode) {
    scratch.clear();
    sub.decode_to(scratch);
    t.leaf_bytes += scratch.size();
  } else {
    t.leaf_bytes += sub.raw().size();
  }
}

// Walk with ElementView::children() (one forward scan per level).
template <bool Decode>
void walk_field_ranges(const ElementView& field, Tally& t, std::string& scratch) {
  if (field.empty()) {  // empty field: one empty repetition of one empty component
    t.checksum += 1;
    return;
  }
  for (const ElementView rep : field.children()) {
    std::uint64_t comps = 0;
    for (const ElementView comp : rep.children()) {
      ++comps;
      for (const ElementView sub : comp.children()) visit_leaf(sub, t, scratch, Decode);
    }
    t.checksum += std::max<std::uint64_t>(comps, 1);
  }
}

// Walk with size() and 1-based repetition(r) / component(c) / subcomponent(s).
template <bool Decode>
void walk_field_indexed(const ElementView& field, Tally& t, std::string& scratch) {
  const std::size_t reps = field.size();
  if (reps == 0) {
    t.checksum += 1;
    return;
  }
  for (std::size_t r = 1; r <= reps; ++r) {
    const ElementView rep = field.repetition(r);
    const std::size_t comps = rep.size();
    t.checksum += std::max<std::size_t>(comps, 1);
    for (std::size_t c = 1; c <= comps; ++c) {
      const ElementView comp = rep.component(c);
      const std::size_t subs = comp.size();
      for (std::size_t s = 1; s <= subs; ++s) visit_leaf(comp.subcomponent(s), t, scratch, Decode);
    }
  }
}

// Walk in one pass with ElementView::for_each_leaf(): every (repetition, component,
// sub-component) position, empty ones included; components counted as the highest component
// number seen in each repetition.
void walk_field_visit(const ElementView& field, Tally& t) {
  if (field.empty()) {
    t.checksum += 1;
    return;
  }
  std::size_t rep = 1;
  std::size_t comps = 1;
  field.for_each_leaf([&](std::size_t r, std::size_t c, std::size_t, ElementView leaf) {
    if (r != rep) {
      t.checksum += comps;
      rep = r;
    }
    comps = c;
    ++t.leaves;
    t.leaf_bytes += leaf.raw().size();
  });
  t.checksum += comps;
}

enum class Walk { ranges, indexed, visit };

template <bool Decode, Walk How = Walk::ranges>
void walk_field(const ElementView& field, Tally& t, std::string& scratch) {
  if constexpr (How == Walk::indexed) {
    walk_field_indexed<Decode>(field, t, scratch);
  } else if constexpr (How == Walk::visit) {
    walk_field_visit(field, t);
  } else {
    walk_field_ranges<Decode>(field, t, scratch);
  }
}

template <bool Decode, Walk How = Walk::ranges>
void walk(const MessageView& m, Tally& t, std::string& scratch) {
  for (SegmentView seg : m) {
    const bool header = is_header(seg.name());
    const std::size_t fields = seg.field_count();
    for (std::size_t f = 0; f <= fields; ++f) {
      if (header && f == 1) continue;  // MSH-1: the separator, not a field for String.split
      const ElementView field = seg.field(f);
      if (header && f == 2) {
        t.checksum += split_count(field.raw(), m.delimiters());
        continue;
      }
      walk_field<Decode, How>(field, t, scratch);
    }
  }
}

enum class Mode { tokenize, parse, touch, full, full_indexed, full_visit, full_decode };

// One pass over `subset`; false (and an error in `why`) when a message does not parse.
bool run_pass(Mode mode, const Subset& subset, MessageView& reused, Tally& t, std::string& scratch,
              std::string& why) {
  for (std::string_view text : subset.messages) {
    if (mode == Mode::tokenize) {
      const hims::Status st = reused.reparse(text);
      if (!st) {
        why = st.error().message();
        return false;
      }
      t.checksum += reused.segment_count();
      continue;
    }
    hims::Result<MessageView> parsed = MessageView::parse(text);
    if (!parsed) {
      why = parsed.error().message();
      return false;
    }
    const MessageView& m = *parsed;
    switch (mode) {
      case Mode::parse:
        t.checksum += m.segment_count();
        break;
      case Mode::touch:
        touch(m, t);
        break;
      case Mode::full:
        touch(m, t);
        walk<false>(m, t, scratch);
        break;
      case Mode::full_indexed:
        touch(m, t);
        walk<false, Walk::indexed>(m, t, scratch);
        break;
      case Mode::full_visit:
        touch(m, t);
        walk<false, Walk::visit>(m, t, scratch);
        break;
      case Mode::full_decode:
        touch(m, t);
        walk<true>(m, t, scratch);
        break;
      case Mode::tokenize:
        break;
    }
  }
  return true;
}

void bm_pass(benchmark::State& state, Mode mode, const Subset* subset) {
  if (subset->messages.empty()) {
    state.SkipWithError("empty subset (corpus not loaded?)");
    return;
  }
  MessageView reused;
  std::string scratch;
  scratch.reserve(4096);
  Tally last;
  std::string why;
  for (auto _ : state) {
    Tally t;
    if (!run_pass(mode, *subset, reused, t, scratch, why)) {
      state.SkipWithError(why.c_str());
      return;
    }
    benchmark::DoNotOptimize(t);
    last = t;
  }
  const auto iterations = static_cast<std::int64_t>(state.iterations());
  state.SetBytesProcessed(iterations * static_cast<std::int64_t>(subset->bytes));
  state.SetItemsProcessed(iterations * static_cast<std::int64_t>(subset->messages.size()));
  state.counters["checksum"] = static_cast<double>(last.checksum);
  if (mode == Mode::full || mode == Mode::full_indexed || mode == Mode::full_visit ||
      mode == Mode::full_decode) {
    state.counters["leaves"] = static_cast<double>(last.leaves);
  }
}

// One untimed pass per mode: print the checksums and whether they match the peers'.
bool verify() {
  const Subset& all = corpus().all;
  MessageView reused;
  std::string scratch;
  std::string why;
  Tally touch_t;
  Tally full_t;
  Tally indexed_t;
  Tally visit_t;
  Tally decode_t;
  if (!run_pass(Mode::touch, all, reused, touch_t, scratch, why) ||
      !run_pass(Mode::full, all, reused, full_t, scratch, why) ||
      !run_pass(Mode::full_indexed, all, reused, indexed_t, scratch, why) ||
      !run_pass(Mode::full_visit, all, reused, visit_t, scratch, why) ||
      !run_pass(Mode::full_decode, all, reused, decode_t, scratch, why)) {
    std::fprintf(stderr, "hl7_parse_bench: a corpus message does not parse: %s\n", why.c_str());
    return false;
  }
  const bool default_corpus = all.messages.size() == kCorpusMessages;
  const std::uint64_t full_js = full_t.checksum + all.messages.size();
  auto verdict = [&](bool ok) { return !default_corpus ? "n/a" : ok ? "MATCH" : "MISMATCH"; };
  std::printf("corpus: %s: %zu messages (%zu ADT, %zu ORU), %llu bytes\n", corpus().path.c_str(),
              all.messages.size(), corpus().adt.messages.size(), corpus().oru.messages.size(),
              static_cast<unsigned long long>(all.bytes));
  std::printf("checksum touch: ours %llu, peers %llu: %s\n",
              static_cast<unsigned long long>(touch_t.checksum),
              static_cast<unsigned long long>(kPeerTouchChecksum),
              verdict(touch_t.checksum == kPeerTouchChecksum));
  std::printf(
      "checksum full: ours %llu (+%zu JS trailing-segment artifact = %llu), peers %llu: %s\n",
      static_cast<unsigned long long>(full_t.checksum), all.messages.size(),
      static_cast<unsigned long long>(full_js), static_cast<unsigned long long>(kPeerFullChecksum),
      verdict(full_js == kPeerFullChecksum));
  const bool same = indexed_t.checksum == full_t.checksum && indexed_t.leaves == full_t.leaves &&
                    indexed_t.leaf_bytes == full_t.leaf_bytes;
  std::printf("full_indexed walk (component(i) ...) agrees with the children() walk: %s\n",
              same ? "yes" : "NO");
  const bool visit_same =
      visit_t.checksum == full_t.checksum && visit_t.leaf_bytes == full_t.leaf_bytes;
  std::printf(
      "full_visit walk (for_each_leaf) agrees with the children() walk: %s (%llu positions, "
      "empty ones included)\n",
      visit_same ? "yes" : "NO", static_cast<unsigned long long>(visit_t.leaves));
  std::printf("leaves (sub-components): %llu, raw bytes %llu, decoded bytes %llu\n",
              static_cast<unsigned long long>(full_t.leaves),
              static_cast<unsigned long long>(full_t.leaf_bytes),
              static_cast<unsigned long long>(decode_t.leaf_bytes));
  std::fflush(stdout);
  return same && visit_same;
}

// --profile=MODE: one untimed pass of MODE over the whole corpus, for
//   valgrind --tool=callgrind --toggle-collect='*profile_pass*' hl7_parse_bench --profile=full
[[gnu::noinline]] bool profile_pass(Mode mode, Tally& t) {
  MessageView reused;
  std::string scratch;
  std::string why;
  return run_pass(mode, corpus().all, reused, t, scratch, why);
}

std::optional<Mode> mode_named(std::string_view name) {
  if (name == "tokenize") return Mode::tokenize;
  if (name == "parse") return Mode::parse;
  if (name == "touch") return Mode::touch;
  if (name == "full") return Mode::full;
  if (name == "full_indexed") return Mode::full_indexed;
  if (name == "full_visit") return Mode::full_visit;
  if (name == "full_decode") return Mode::full_decode;
  return std::nullopt;
}

void register_all() {
  Corpus& c = corpus();
  struct Named {
    const char* name;
    Mode mode;
  };
  const std::array<Named, 7> modes{{{"tokenize", Mode::tokenize},
                                    {"parse", Mode::parse},
                                    {"touch", Mode::touch},
                                    {"full", Mode::full},
                                    {"full_indexed", Mode::full_indexed},
                                    {"full_visit", Mode::full_visit},
                                    {"full_decode", Mode::full_decode}}};
  struct NamedSubset {
    const char* name;
    const Subset* subset;
  };
  const std::array<NamedSubset, 3> subsets{{{"all", &c.all}, {"adt", &c.adt}, {"oru", &c.oru}}};
  for (const Named& m : modes) {
    for (const NamedSubset& s : subsets) {
      const std::string name = std::string("hl7/") + m.name + "/" + s.name;
      benchmark::RegisterBenchmark(name.c_str(), bm_pass, m.mode, s.subset)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
}

int bench_main(int argc, char** argv) {
  std::string path = HIMS_BENCH_HL7_CORPUS;
  if (const char* env = std::getenv("HIMS_HL7_CORPUS"); env != nullptr && *env != '\0') path = env;
  bool verify_only = false;
  std::string profile;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a.starts_with("--corpus=")) {
      path = std::string(a.substr(9));
    } else if (a.starts_with("--profile=")) {
      profile = std::string(a.substr(10));
    } else if (a == "--verify-only") {
      verify_only = true;
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (!load_corpus(path)) {
    std::fprintf(stderr,
                 "hl7_parse_bench: cannot read the corpus %s (build the bench_hl7_corpus target, "
                 "or pass --corpus=PATH)\n",
                 path.c_str());
    return 2;
  }
  if (!profile.empty()) {
    const std::optional<Mode> mode = mode_named(profile);
    if (!mode) {
      std::fprintf(stderr, "hl7_parse_bench: unknown --profile mode %s\n", profile.c_str());
      return 2;
    }
    Tally t;
    if (!profile_pass(*mode, t)) return 1;
    std::printf("%s: checksum %llu, leaves %llu\n", profile.c_str(),
                static_cast<unsigned long long>(t.checksum),
                static_cast<unsigned long long>(t.leaves));
    return 0;
  }
  if (!verify()) return 1;
  if (verify_only) return 0;
  register_all();
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  try {
    return bench_main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hl7_parse_bench: %s\n", e.what());
    return 1;
  }
}

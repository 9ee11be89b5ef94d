// What the disk alone does for a durable ACK: one small write and one fdatasync on a schedule, the
// way a quiet engine's group commit ends, timed one by one. Run beside the engine it tells the
// disk's stalls from the engine's; run alone it says what p99 any engine that ACKs after its
// fsync can reach on this disk.
//
//   fsync_probe [--dir /tmp] [--seconds 10] [--interval-ms 20] [--bytes 4096] [--stall-ms 10]
// Prints one JSON line: the syncs, their p50/p99/max, and each sync over --stall-ms (its start
// in seconds from the first, and its length), at most 50 of them listed.
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.hpp"

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kProgram = "fsync_probe";

[[noreturn]] void die(const std::string& why) { hims::bench::die(kProgram, why); }

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct Stall {
  double at_s;
  double ms;
};

}  // namespace

int main(int argc, char** argv) {
  std::string dir = std::filesystem::temp_directory_path().string();
  double seconds = 10;
  int interval_ms = 20;
  std::size_t bytes = 4096;
  double stall_ms = 10;
  CLI::App app{
      "Times one small write and fdatasync on a schedule: the disk's share of a durable ACK, "
      "and its stalls"};
  app.add_option("--dir", dir, "folder on the disk to probe (a file is made there and removed)");
  app.add_option("--seconds", seconds, "how long to probe")->check(CLI::Range(0.1, 86400.0));
  app.add_option("--interval-ms", interval_ms, "one sync every this many milliseconds")
      ->check(CLI::Range(1, 10000));
  app.add_option("--bytes", bytes, "bytes written (at offset 0) before each sync")
      ->check(CLI::Range(1, 1 << 24));
  app.add_option("--stall-ms", stall_ms, "a sync longer than this is listed as a stall")
      ->check(CLI::Range(0.1, 100000.0));
  CLI11_PARSE(app, argc, argv);

  const std::filesystem::path path =
      std::filesystem::path(dir) / ("fsync_probe." + std::to_string(::getpid()));
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) die("cannot create " + path.string() + ": " + std::strerror(errno));
  const std::vector<char> block(bytes, 'x');
  // The first write allocates the block; every timed one overwrites it, as a reused WAL does.
  if (::pwrite(fd, block.data(), block.size(), 0) != static_cast<ssize_t>(block.size()) ||
      ::fsync(fd) != 0) {
    die(std::string("first write: ") + std::strerror(errno));
  }

  std::vector<double> syncs;
  std::vector<Stall> stalls;
  double stalled_ms = 0;
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  const auto interval = std::chrono::milliseconds(interval_ms);
  for (auto next = start; next < end; next += interval) {
    std::this_thread::sleep_until(next);
    const auto t0 = Clock::now();
    if (::pwrite(fd, block.data(), block.size(), 0) != static_cast<ssize_t>(block.size()) ||
        ::fdatasync(fd) != 0) {
      die(std::string("write or fdatasync: ") + std::strerror(errno));
    }
    const auto t1 = Clock::now();
    const double ms = ms_between(t0, t1);
    syncs.push_back(ms);
    if (ms > stall_ms) {
      stalled_ms += ms;
      stalls.push_back({ms_between(start, t0) / 1000.0, ms});
    }
    // A sync longer than the interval moves the schedule on instead of firing a burst.
    if (t1 > next + interval) next = t1 - interval;
  }
  ::close(fd);
  std::filesystem::remove(path);
  if (syncs.empty()) die("no sync ran");

  std::sort(syncs.begin(), syncs.end());
  const auto at = [&](double q) {
    return syncs[std::min(syncs.size() - 1, static_cast<std::size_t>(q * syncs.size()))];
  };
  std::printf(
      "{\"bench\":\"fsync_probe\",\"dir\":\"%s\",\"seconds\":%.1f,\"interval_ms\":%d,"
      "\"bytes\":%zu,\"syncs\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.1f,"
      "\"stall_ms\":%.1f,\"stalls\":%zu,\"stalled_ms\":%.1f,\"stall_list\":[",
      hims::bench::json_escape(dir).c_str(), ms_between(start, Clock::now()) / 1000.0, interval_ms,
      bytes, syncs.size(), at(0.5), at(0.99), syncs.back(), stall_ms, stalls.size(), stalled_ms);
  for (std::size_t i = 0; i < stalls.size() && i < 50; ++i) {
    std::printf("%s{\"at_s\":%.2f,\"ms\":%.1f}", i == 0 ? "" : ",", stalls[i].at_s, stalls[i].ms);
  }
  std::printf("]}\n");
  return 0;
}

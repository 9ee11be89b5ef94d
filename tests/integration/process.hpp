// Integration-test helpers: temporary directories, child processes (the hims-engine binary, the
// openssl CLI) with captured output and deadlines, a running engine found through --ready-file,
// an MLLP client config for the engine's sources, and a test PKI; with the polling wait of
// tests/support/eventually.hpp. Test-only; header-only so each test executable includes what it
// needs.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "adapters/mllp_client.hpp"
#include "tests/support/corpus.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/temp_dir.hpp"

namespace hims::test {

using Clock = std::chrono::steady_clock;

inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::move(ss).str();
}

inline void spit(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// A child process with stdout and stderr in files. Killed (SIGKILL) and reaped on destruction
// if still running, so no test leaves one behind whatever way it exits.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::filesystem::path& output_dir,
          const std::string& name) {
    out_path_ = output_dir / (name + ".stdout");
    err_path_ = output_dir / (name + ".stderr");
    std::vector<char*> args;
    std::vector<std::string> copy = argv;
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      const int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int in = ::open("/dev/null", O_RDONLY);
      if (out < 0 || err < 0 || in < 0) ::_exit(126);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    if (pid_ < 0) ADD_FAILURE() << "fork failed";
  }
  ~Process() { kill_now(); }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running() {
    if (exit_status_ || pid_ <= 0) return false;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      record(status);
      return false;
    }
    return r == 0;
  }
  // The exit status (128 + signal when killed by a signal), or nullopt when the deadline passes.
  std::optional<int> wait(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const auto deadline = Clock::now() + timeout;
    while (running()) {
      if (Clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return exit_status_;
  }
  void signal(int sig) {
    if (running()) ::kill(pid_, sig);
  }
  void kill_now() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      record(status);
    }
  }
  std::string out() const { return slurp(out_path_); }
  std::string err() const { return slurp(err_path_); }

 private:
  void record(int status) {
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::filesystem::path out_path_;
  std::filesystem::path err_path_;
};

struct RunResult {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs a command to completion (killing it after `timeout`).
inline RunResult run_process(const std::vector<std::string>& argv, const TempDir& dir,
                             std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  static int counter = 0;
  Process p(argv, dir.path(), "run" + std::to_string(++counter));
  auto status = p.wait(timeout);
  if (!status) {
    ADD_FAILURE() << argv[0] << " did not finish within " << timeout.count() << " ms";
    p.kill_now();
  }
  return {status.value_or(-1), p.out(), p.err()};
}

inline std::string engine() { return engine_binary().string(); }

// An MLLP client of a running engine's source on 127.0.0.1, every time-out 10 s.
inline adapters::MllpClientConfig mllp_client_config(std::uint16_t port) {
  adapters::MllpClientConfig config;
  config.host = "127.0.0.1";
  config.port = port;
  config.connect_timeout = std::chrono::seconds(10);
  config.ack_timeout = std::chrono::seconds(10);
  config.write_timeout = std::chrono::seconds(10);
  return config;
}

// `hims-engine run` with a config written to a temp dir; waits for its ready file. A config
// without a top-level `store:` gets a SQLite journal in that dir (never var/ of the test's cwd).
class RunningEngine {
 public:
  RunningEngine(const TempDir& dir, const std::string& config_yaml,
                std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    config_ = dir / "engine.yaml";
    ready_ = dir / "ready.json";
    std::filesystem::remove(ready_);
    const bool has_store =
        config_yaml.starts_with("store:") || config_yaml.find("\nstore:") != std::string::npos;
    spit(config_, has_store ? config_yaml
                            : "store: sqlite:" + (dir / "journal" / "hims.db").string() + "\n" +
                                  config_yaml);
    process_.emplace(
        std::vector<std::string>{engine(), "run", "--config", config_.string(), "--ready-file",
                                 ready_.string(), "--log-level", "debug"},
        dir.path(), "engine");
    const auto deadline = Clock::now() + timeout;
    while (!std::filesystem::exists(ready_)) {
      if (!process_->running()) {
        ADD_FAILURE() << "hims-engine run exited early:\n" << process_->err();
        return;
      }
      if (Clock::now() >= deadline) {
        ADD_FAILURE() << "hims-engine run not ready in time:\n" << process_->err();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    rapidjson::Document doc;
    const std::string text = slurp(ready_);
    doc.Parse(text.c_str());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("sources")) {
      ADD_FAILURE() << "bad ready file: " << text;
      return;
    }
    for (auto it = doc["sources"].MemberBegin(); it != doc["sources"].MemberEnd(); ++it) {
      ports_.emplace_back(it->name.GetString(),
                          static_cast<std::uint16_t>(it->value["port"].GetUint()));
    }
    if (doc.HasMember("http") && doc["http"].IsObject()) {
      http_port_ = static_cast<std::uint16_t>(doc["http"]["port"].GetUint());
    }
    ready_text_ = text;
  }

  bool ready() const { return !ports_.empty(); }
  std::uint16_t port(const std::string& source) const {
    for (const auto& [id, port] : ports_) {
      if (id == source) return port;
    }
    ADD_FAILURE() << "no source " << source << " in the ready file";
    return 0;
  }
  // The HTTP listener's port (0 when the config has no `http`).
  std::uint16_t http_port() const { return http_port_; }
  const std::string& ready_text() const { return ready_text_; }
  const std::filesystem::path& ready_file() const { return ready_; }
  Process& process() { return *process_; }

  // SIGTERM, then the exit status (nullopt if it did not stop in time; it is then killed).
  std::optional<int> stop(int sig = SIGTERM) {
    process_->signal(sig);
    auto status = process_->wait(std::chrono::seconds(20));
    if (!status) process_->kill_now();
    return status;
  }

 private:
  std::filesystem::path config_;
  std::filesystem::path ready_;
  std::optional<Process> process_;
  std::vector<std::pair<std::string, std::uint16_t>> ports_;
  std::string ready_text_;
  std::uint16_t http_port_ = 0;
};

// A CA, a server certificate for 127.0.0.1/localhost and a client certificate, made with the
// openssl CLI (EC P-256 keys: fast).
struct TestPki {
  std::filesystem::path ca;
  std::filesystem::path server_cert;
  std::filesystem::path server_key;
  std::filesystem::path client_cert;
  std::filesystem::path client_key;
  std::filesystem::path other_ca;  // a CA that signed nothing we use
};

inline bool openssl(const TempDir& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = run_process(argv, dir);
  if (r.status != 0) ADD_FAILURE() << "openssl " << args[0] << " failed:\n" << r.err;
  return r.status == 0;
}

inline std::optional<TestPki> make_test_pki(const TempDir& dir) {
  auto p = [&](const char* name) { return (dir / name).string(); };
  const std::vector<std::string> ec{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                    "-nodes"};
  auto req = [&](std::vector<std::string> args) {
    std::vector<std::string> all{"req"};
    all.insert(all.end(), ec.begin(), ec.end());
    all.insert(all.end(), args.begin(), args.end());
    return openssl(dir, all);
  };
  for (const char* ca : {"ca", "other-ca"}) {
    if (!req({"-x509", "-days", "2", "-keyout", p(ca) + std::string(".key"), "-out",
              p(ca) + std::string(".pem"), "-subj", std::string("/CN=hims test ") + ca, "-addext",
              "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"})) {
      return std::nullopt;
    }
  }
  spit(dir / "server.ext",
       "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  spit(dir / "client.ext", "extendedKeyUsage=clientAuth\n");
  for (const char* who : {"server", "client"}) {
    const std::string w = who;
    if (!req({"-keyout", p(who) + std::string(".key"), "-out", p(who) + std::string(".csr"),
              "-subj", "/CN=hims test " + w})) {
      return std::nullopt;
    }
    if (!openssl(dir, {"x509", "-req", "-in", p(who) + std::string(".csr"), "-CA", p("ca.pem"),
                       "-CAkey", p("ca.key"), "-CAcreateserial", "-days", "2", "-out",
                       p(who) + std::string(".pem"), "-extfile", p(who) + std::string(".ext")})) {
      return std::nullopt;
    }
  }
  return TestPki{dir / "ca.pem",     dir / "server.pem", dir / "server.key",
                 dir / "client.pem", dir / "client.key", dir / "other-ca.pem"};
}

}  // namespace hims::test

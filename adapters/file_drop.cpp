// The file destination: POSIX calls directly (open/write/fsync/rename), so each failure keeps its
// errno and the directory fsync that makes a rename durable is possible.
#include "adapters/file_drop.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <ctime>
#include <optional>
#include <system_error>
#include <utility>

#include "engine/log.hpp"

namespace hims::adapters {

namespace fs = std::filesystem;

std::string_view to_string(FileDropErrc code) {
  switch (code) {
    case FileDropErrc::bad_config:
      return "bad_config";
    case FileDropErrc::cannot_create_dir:
      return "cannot_create_dir";
    case FileDropErrc::dir_missing:
      return "dir_missing";
    case FileDropErrc::permission_denied:
      return "permission_denied";
    case FileDropErrc::disk_full:
      return "disk_full";
    case FileDropErrc::write_failed:
      return "write_failed";
    case FileDropErrc::name_too_long:
      return "name_too_long";
  }
  return "unknown";
}

namespace {

enum class Placeholder : std::uint8_t {
  id,
  journal_id,
  source,
  route,
  destination,
  control_id,
  date,
  time
};

struct PlaceholderSpec {
  std::string_view name;
  Placeholder placeholder;
  std::size_t min_bytes;  // the shortest value it expands to
};

constexpr std::size_t kMaxValueBytes = 64;
constexpr std::size_t kMaxNameBytes = 255;  // NAME_MAX of the usual Linux file systems
constexpr int kTempAttempts = 100;
constexpr mode_t kFileMode = 0666;  // less the umask, like any file a program creates

constexpr std::array<PlaceholderSpec, 8> kPlaceholders{{
    {"id", Placeholder::id, 1},
    {"journal_id", Placeholder::journal_id, 1},
    {"source", Placeholder::source, 1},
    {"route", Placeholder::route, 1},
    {"destination", Placeholder::destination, 1},
    {"control_id", Placeholder::control_id, 1},
    {"date", Placeholder::date, 8},
    {"time", Placeholder::time, 6},
}};

const PlaceholderSpec* find_placeholder(std::string_view name) {
  for (const auto& spec : kPlaceholders) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

// Splits a template into literal text and placeholders, calling on_literal(std::string_view) and
// on_placeholder(const PlaceholderSpec&) in order. Answers what is wrong, or nothing.
template <class OnLiteral, class OnPlaceholder>
std::optional<std::string> walk_template(std::string_view tpl, OnLiteral&& on_literal,
                                         OnPlaceholder&& on_placeholder) {
  std::size_t pos = 0;
  while (pos < tpl.size()) {
    const std::size_t open = tpl.find_first_of("{}", pos);
    if (open == std::string_view::npos) {
      on_literal(tpl.substr(pos));
      break;
    }
    if (tpl[open] == '}') return "'}' without '{' at byte " + std::to_string(open);
    if (open > pos) on_literal(tpl.substr(pos, open - pos));
    const std::size_t close = tpl.find_first_of("{}", open + 1);
    if (close == std::string_view::npos || tpl[close] == '{') {
      return "'{' without '}' at byte " + std::to_string(open);
    }
    const std::string_view name = tpl.substr(open + 1, close - open - 1);
    const PlaceholderSpec* spec = find_placeholder(name);
    if (spec == nullptr) return "unknown placeholder {" + std::string(name) + "}";
    on_placeholder(*spec);
    pos = close + 1;
  }
  return std::nullopt;
}

bool file_name_byte(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

void append_sanitised(std::string& out, std::string_view value) {
  if (value.empty()) {
    out += "none";
    return;
  }
  value = value.substr(0, kMaxValueBytes);
  const bool only_dots = value.find_first_not_of('.') == std::string_view::npos;
  for (const char c : value) {
    out += (only_dots || !file_name_byte(c)) ? '_' : c;
  }
}

std::tm utc(std::chrono::system_clock::time_point at) {
  const std::time_t t = std::chrono::system_clock::to_time_t(at);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return tm;
}

void append_time(std::string& out, const std::tm& tm, const char* format) {
  std::array<char, 32> buf{};
  const std::size_t n = std::strftime(buf.data(), buf.size(), format, &tm);
  out.append(buf.data(), n);
}

FileDropErrc errc_for(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return FileDropErrc::dir_missing;
    case EACCES:
    case EPERM:
    case EROFS:
      return FileDropErrc::permission_denied;
    case ENOSPC:
    case EDQUOT:
      return FileDropErrc::disk_full;
    default:
      return FileDropErrc::write_failed;
  }
}

// "write: No space left on device (errno 28)"
Error sys_error(int err, const fs::path& where, std::string_view call) {
  return {errc_for(err), where.string(),
          std::string(call) + ": " + std::generic_category().message(err) + " (errno " +
              std::to_string(err) + ")"};
}

// Writes a then b completely (one writev when the kernel takes it all). Answers 0 or an errno.
int write_all(int fd, std::string_view a, std::string_view b = {}) {
  while (!a.empty() || !b.empty()) {
    std::array<iovec, 2> iov{};
    int count = 0;
    if (!a.empty()) iov[count++] = {const_cast<char*>(a.data()), a.size()};
    if (!b.empty()) iov[count++] = {const_cast<char*>(b.data()), b.size()};
    const ssize_t n = ::writev(fd, iov.data(), count);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    auto done = static_cast<std::size_t>(n);
    const std::size_t from_a = std::min(done, a.size());
    a.remove_prefix(from_a);
    b.remove_prefix(done - from_a);
  }
  return 0;
}

// Makes a rename or a new directory entry durable. Answers 0 or an errno.
int fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  const int err = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

// Opens a fresh temp file ".hims-drop-<pid>-<n>.tmp" in dir (O_EXCL: never someone else's).
int open_temp(const fs::path& dir, std::uint64_t& counter, fs::path& temp) {
  int fd = -1;
  for (int attempt = 0; attempt < kTempAttempts; ++attempt) {
    temp = dir /
           (".hims-drop-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + ".tmp");
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kFileMode);
    if (fd >= 0 || errno != EEXIST) break;
  }
  return fd;
}

}  // namespace

Status FileDropConfig::validate() const {
  auto bad = [](std::string key, std::string detail) {
    return Error(FileDropErrc::bad_config, std::move(key), std::move(detail));
  };
  if (destination_id.empty()) return bad("destination_id", "must not be empty");
  if (dir.empty()) return bad("dir", "must be set");
  if (name_template.empty()) return bad("name_template", "must not be empty");
  std::size_t min_bytes = 0;
  bool has_id = false;
  bool bad_byte = false;
  auto problem = walk_template(
      name_template,
      [&](std::string_view text) {
        min_bytes += text.size();
        if (text.find_first_of(std::string_view("/\0", 2)) != std::string_view::npos) {
          bad_byte = true;
        }
      },
      [&](const PlaceholderSpec& spec) {
        min_bytes += spec.min_bytes;
        has_id = has_id || spec.placeholder == Placeholder::id ||
                 spec.placeholder == Placeholder::journal_id;
      });
  if (problem) return bad("name_template", std::move(*problem));
  if (bad_byte) return bad("name_template", "must not contain '/' or NUL");
  if (name_template == "." || name_template == "..") {
    return bad("name_template", R"(must not be "." or "..")");
  }
  if (mode == FileDropMode::per_message && !has_id) {
    return bad("name_template", "per_message mode needs {id} or {journal_id} in the name");
  }
  if (min_bytes > kMaxNameBytes) {
    return bad("name_template", "expands to at least " + std::to_string(min_bytes) +
                                    " bytes; a file name has at most " +
                                    std::to_string(kMaxNameBytes));
  }
  return {};
}

FileDrop::FileDrop(FileDropConfig config) : config_(std::move(config)) {}

FileDrop::FileDrop(FileDrop&& other) noexcept
    : config_(std::move(other.config_)),
      temp_counter_(other.temp_counter_),
      append_fd_(std::exchange(other.append_fd_, -1)),
      append_name_(std::move(other.append_name_)),
      append_dev_(other.append_dev_),
      append_ino_(other.append_ino_) {}

FileDrop& FileDrop::operator=(FileDrop&& other) noexcept {
  if (this != &other) {
    close_append();
    config_ = std::move(other.config_);
    temp_counter_ = other.temp_counter_;
    append_fd_ = std::exchange(other.append_fd_, -1);
    append_name_ = std::move(other.append_name_);
    append_dev_ = other.append_dev_;
    append_ino_ = other.append_ino_;
  }
  return *this;
}

FileDrop::~FileDrop() { close_append(); }

void FileDrop::close_append() {
  if (append_fd_ >= 0) ::close(append_fd_);
  append_fd_ = -1;
  append_name_.clear();
}

Result<FileDrop> FileDrop::create(FileDropConfig config) {
  if (auto valid = config.validate(); !valid) return valid.take_error();
  std::error_code ec;
  fs::path dir = fs::absolute(config.dir, ec);
  if (ec) return Error(FileDropErrc::cannot_create_dir, config.dir.string(), ec.message());
  fs::create_directories(dir, ec);
  if (ec) return Error(FileDropErrc::cannot_create_dir, dir.string(), "mkdir: " + ec.message());
  if (!fs::is_directory(dir, ec)) {
    return Error(FileDropErrc::cannot_create_dir, dir.string(), "exists and is not a directory");
  }
  // Probe: the same call write() makes, so a read-only or foreign directory fails at start-up.
  std::uint64_t counter = 0;
  fs::path probe;
  const int fd = open_temp(dir, counter, probe);
  if (fd < 0) return sys_error(errno, dir, "create a file");
  ::close(fd);
  ::unlink(probe.c_str());
  config.dir = std::move(dir);
  FileDrop drop(std::move(config));
  drop.temp_counter_ = counter;
  return drop;
}

std::string FileDrop::expand_name(const FileDropItem& item) const {
  std::string out;
  out.reserve(config_.name_template.size() + 32);
  std::optional<std::tm> tm;  // computed once, only when {date} or {time} is used
  auto problem = walk_template(
      config_.name_template, [&](std::string_view text) { out += text; },
      [&](const PlaceholderSpec& spec) {
        switch (spec.placeholder) {
          case Placeholder::id:
            out += std::to_string(item.id);
            break;
          case Placeholder::journal_id:
            out += std::to_string(item.journal_id);
            break;
          case Placeholder::source:
            append_sanitised(out, item.source);
            break;
          case Placeholder::route:
            append_sanitised(out, item.route);
            break;
          case Placeholder::destination:
            append_sanitised(out, config_.destination_id);
            break;
          case Placeholder::control_id:
            append_sanitised(out, item.control_id);
            break;
          case Placeholder::date:
            if (!tm) tm = utc(item.at);
            append_time(out, *tm, "%Y%m%d");
            break;
          case Placeholder::time:
            if (!tm) tm = utc(item.at);
            append_time(out, *tm, "%H%M%S");
            break;
        }
      });
  (void)problem;  // create() validated the template
  return out;
}

Result<fs::path> FileDrop::write(const FileDropItem& item) {
  const std::string name = expand_name(item);
  const fs::path path = config_.dir / name;
  if (name.size() > kMaxNameBytes) {
    // Checked here, not left to ENAMETOOLONG, so that no temp file is written in vain.
    return Error(FileDropErrc::name_too_long, path.string(),
                 std::to_string(name.size()) + " bytes; a file name has at most " +
                     std::to_string(kMaxNameBytes));
  }
  auto written = config_.mode == FileDropMode::per_message ? write_file(path, item.payload)
                                                           : append(path, name, item.payload);
  if (!written) {
    log::warn("file drop write failed", {{"destination", config_.destination_id},
                                         {"id", item.id},
                                         {"journal_id", item.journal_id},
                                         {"error", written.error().message()}});
  }
  return written;
}

Result<fs::path> FileDrop::write_file(const fs::path& path, std::string_view payload) {
  fs::path temp;
  int fd = open_temp(config_.dir, temp_counter_, temp);
  if (fd < 0) return sys_error(errno, path, "create temp file");
  auto fail = [&](int err, std::string_view call) {
    if (fd >= 0) ::close(fd);
    ::unlink(temp.c_str());
    return sys_error(err, path, call);
  };
  if (const int err = write_all(fd, payload); err != 0) return fail(err, "write");
  if (config_.fsync && ::fsync(fd) != 0) return fail(errno, "fsync");
  const int closed = ::close(fd);
  fd = -1;
  if (closed != 0) return fail(errno, "close");
  if (::rename(temp.c_str(), path.c_str()) != 0) return fail(errno, "rename");
  if (config_.fsync) {
    if (const int err = fsync_dir(config_.dir); err != 0) {
      return sys_error(err, path, "fsync directory");
    }
  }
  return path;
}

Result<fs::path> FileDrop::append(const fs::path& path, const std::string& name,
                                  std::string_view payload) {
  if (append_fd_ >= 0) {
    struct stat st {};
    const bool same_file = name == append_name_ && ::stat(path.c_str(), &st) == 0 &&
                           st.st_dev == append_dev_ && st.st_ino == append_ino_;
    if (!same_file) close_append();  // rolled over, or moved away by its reader
  }
  if (append_fd_ < 0) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, kFileMode);
    if (fd < 0) return sys_error(errno, path, "open");
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      return sys_error(err, path, "fstat");
    }
    // Before the first record: the file's directory entry must be durable too.
    if (config_.fsync) {
      if (const int err = fsync_dir(config_.dir); err != 0) {
        ::close(fd);
        return sys_error(err, path, "fsync directory");
      }
    }
    append_fd_ = fd;
    append_name_ = name;
    append_dev_ = st.st_dev;
    append_ino_ = st.st_ino;
  }
  struct stat before {};
  if (::fstat(append_fd_, &before) != 0) {
    const int err = errno;
    close_append();
    return sys_error(err, path, "fstat");
  }
  // On failure, cut the partial record off so that the retry's record is the only one.
  auto fail = [&](int err, std::string_view call) {
    if (::ftruncate(append_fd_, before.st_size) != 0) {
      log::error("file drop could not remove a partial record",
                 {{"destination", config_.destination_id}, {"file", name}});
    }
    close_append();
    return sys_error(err, path, call);
  };
  if (const int err = write_all(append_fd_, payload, "\n"); err != 0) return fail(err, "write");
  if (config_.fsync && ::fdatasync(append_fd_) != 0) return fail(errno, "fdatasync");
  return path;
}

}  // namespace hims::adapters

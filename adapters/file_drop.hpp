// FileDrop: the file destination's transport. Writes each delivered message into a directory,
// either one file per message (atomic: temp file, fsync, rename, directory fsync) or appended to a
// batch file named by a template (e.g. one file a day). Blocking POSIX I/O: call it from a
// delivery worker, never from an I/O thread. One owner thread (not thread-safe); movable.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "engine/result.hpp"

namespace hims::adapters {

enum class FileDropErrc : std::uint8_t {
  bad_config,         // validate(): empty dir, bad name template
  cannot_create_dir,  // create(): the directory (or a parent) cannot be made, or is not a directory
  dir_missing,        // ENOENT/ENOTDIR: the directory went away after create()
  permission_denied,  // EACCES/EPERM/EROFS: create()'s probe file or a write
  disk_full,          // ENOSPC/EDQUOT
  write_failed,       // any other open/write/fsync/close/rename failure (errno text in the detail)
  name_too_long,      // the item's name expands to more than 255 bytes: this item never fits
};

constexpr ErrorDomain error_domain(FileDropErrc) { return ErrorDomain::io; }
std::string_view to_string(FileDropErrc code);

enum class FileDropMode : std::uint8_t {
  per_message,  // one file per message, written atomically; a redelivery overwrites it
  append,       // payload + "\n" appended to the file the template names (a batch file)
};

struct FileDropConfig {
  std::string destination_id = "file";  // the `destination` log field and {destination}
  std::filesystem::path dir;            // created (with parents) by create()
  FileDropMode mode = FileDropMode::per_message;
  // The file name. Placeholders: {id} {journal_id} {source} {route} {destination} {control_id}
  // {date} (YYYYMMDD, UTC) {time} (HHMMSS, UTC); other bytes are literal ('{' and '}' only in
  // placeholders, no '/'). per_message templates must hold {id} or {journal_id}, so that two
  // messages never share a file. Example: "{date}-{journal_id}-{id}.hl7", "{source}-{date}.hl7".
  std::string name_template;
  bool fsync = true;  // fsync the file (and the directory after a new name) before write() returns
  // Errors (FileDropErrc::bad_config, where = the key): empty dir or destination_id, empty
  // template, unknown placeholder, unbalanced brace, '/' or NUL, "." or "..", no {id} or
  // {journal_id} in per_message mode, a template whose shortest name exceeds 255 bytes.
  Status validate() const;
};

// What one delivery writes. The views must stay valid for the call only.
struct FileDropItem {
  std::int64_t id = 0;  // queue item id
  std::int64_t journal_id = 0;
  std::string_view source, route, control_id, payload;
  // For {date} and {time}. Pass a time that is stable across redeliveries (the journal's receive
  // time, say), so that a redelivered item gets the same name.
  std::chrono::system_clock::time_point at;
};

class FileDrop {
 public:
  // Validates the config, makes the directory (with parents; an absolute path is kept, so a
  // later chdir does not matter) and checks that a file can be created in it.
  // Errors (FileDropErrc): bad_config, cannot_create_dir, permission_denied, disk_full,
  // write_failed.
  static Result<FileDrop> create(FileDropConfig config);

  FileDrop(FileDrop&& other) noexcept;
  FileDrop& operator=(FileDrop&& other) noexcept;
  FileDrop(const FileDrop&) = delete;
  FileDrop& operator=(const FileDrop&) = delete;
  ~FileDrop();

  // Writes the item's payload and returns the path written.
  // per_message: <dir>/<name> atomically: a temp file ".hims-drop-*" in dir, write, fsync (if
  //   set), rename over <name>, fsync the directory (if set). A reader never sees a partial file;
  //   the same item delivered again gets the same name and overwrites it (no duplicate).
  // append: appends payload then "\n" (HL7 batch-file style: segments keep their CR terminators,
  //   one message per record) to <dir>/<name>, then fsync (if set). The file stays open while the
  //   name stays the same; a new name (the date rolled over), or the file moved or deleted by its
  //   reader, opens the file anew. A failed write is cut back off the file, so no partial record
  //   stays; still, a redelivery after a success that the engine did not record appends again
  //   (at least once). One FileDrop per batch file: other writers are not coordinated.
  // The directory is never re-created here. Errors (FileDropErrc; where = the path, detail =
  // the failing call and errno text): dir_missing, permission_denied, disk_full, write_failed
  // (an operator can fix these: worth a retry), name_too_long (permanent for this item).
  Result<std::filesystem::path> write(const FileDropItem& item);

  // The file name the template gives for this item. Placeholder values are sanitised: a byte
  // outside [A-Za-z0-9._-] becomes '_', an empty value "none", a value of dots only '_'s, and a
  // value is cut at 64 bytes.
  std::string expand_name(const FileDropItem& item) const;

  const FileDropConfig& config() const { return config_; }

 private:
  explicit FileDrop(FileDropConfig config);
  Result<std::filesystem::path> write_file(const std::filesystem::path& path,
                                           std::string_view payload);
  Result<std::filesystem::path> append(const std::filesystem::path& path, const std::string& name,
                                       std::string_view payload);
  void close_append();

  FileDropConfig config_;
  std::uint64_t temp_counter_ = 0;
  int append_fd_ = -1;                             // the open batch file (append mode), or -1
  std::string append_name_;                        // its name
  std::uint64_t append_dev_ = 0, append_ino_ = 0;  // its identity, to notice a moved file
};

}  // namespace hims::adapters

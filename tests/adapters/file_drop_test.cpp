// FileDrop: template validation and expansion, atomic per-message files, append batch files
// (roll-over, reopen after a move), and the errors for bad or vanished directories.
#include "adapters/file_drop.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/support/temp_dir.hpp"

namespace hims::adapters {
namespace {

namespace fs = std::filesystem;
using std::chrono::system_clock;

// 2024-03-05 06:07:08 UTC
const system_clock::time_point kMarch5 = system_clock::from_time_t(1709618828);
const system_clock::time_point kMarch6 = kMarch5 + std::chrono::hours(24);

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

FileDropConfig config_in(const fs::path& dir, std::string name_template,
                         FileDropMode mode = FileDropMode::per_message) {
  FileDropConfig config;
  config.destination_id = "lab_drop";
  config.dir = dir;
  config.mode = mode;
  config.name_template = std::move(name_template);
  return config;
}

FileDropItem item(std::int64_t id, std::string_view payload) {
  FileDropItem it;
  it.id = id;
  it.journal_id = 1000 + id;
  it.source = "lab_mllp";
  it.route = "adt_to_file";
  it.control_id = "MSG00001";
  it.payload = payload;
  it.at = kMarch5;
  return it;
}

const std::string kMessage =
    "MSH|^~\\&|LAB|FAC|EHR|FAC|20240305060708||ORU^R01|MSG00001|P|2.5\rPID|1||123^^^HOSP^MR\r"
    "OBX|1|NM|GLU^Glucose||5.4|mmol/L\r";

// --- validate ---------------------------------------------------------------------------------

Status validate_template(std::string name_template, FileDropMode mode = FileDropMode::per_message) {
  return config_in("/tmp/unused", std::move(name_template), mode).validate();
}

TEST(FileDropConfig, AcceptsEveryPlaceholder) {
  EXPECT_TRUE(validate_template(
      "{id}-{journal_id}-{source}-{route}-{destination}-{control_id}-{date}T{time}.hl7"));
  EXPECT_TRUE(validate_template("{date}.hl7", FileDropMode::append));
}

TEST(FileDropConfig, RejectsBadTemplates) {
  struct Case {
    std::string name_template;
    std::string detail_part;
  };
  const std::vector<Case> cases = {
      {"", "must not be empty"},
      {"{id}-{patient}.hl7", "unknown placeholder {patient}"},
      {"{id", "'{' without '}'"},
      {"{id}{.hl7", "'{' without '}'"},
      {"{id}}.hl7", "'}' without '{'"},
      {"{{id}}", "'{' without '}'"},
      {"sub/{id}.hl7", "'/'"},
      {std::string("{id}\0.hl7", 9), "NUL"},
      {"{source}.hl7", "needs {id} or {journal_id}"},
      {"{id}{date}" + std::string(250, 'x'), "expands to at least 259 bytes"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name_template);
    auto status = validate_template(c.name_template);
    ASSERT_FALSE(status);
    EXPECT_TRUE(status.error().is(FileDropErrc::bad_config));
    EXPECT_EQ(status.error().where(), "name_template");
    EXPECT_NE(status.error().detail().find(c.detail_part), std::string::npos)
        << status.error().message();
  }
}

TEST(FileDropConfig, RejectsDotNamesAndMissingDir) {
  for (const std::string name : {".", ".."}) {
    auto status = validate_template(name, FileDropMode::append);
    ASSERT_FALSE(status) << name;
    EXPECT_TRUE(status.error().is(FileDropErrc::bad_config));
  }
  auto config = config_in("", "{id}.hl7");
  auto status = config.validate();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().where(), "dir");
  EXPECT_EQ(status.error().domain(), ErrorDomain::io);
}

TEST(FileDropConfig, CreateRejectsAnInvalidConfig) {
  test::TempDir tmp("hims-drop");
  auto drop = FileDrop::create(config_in(tmp / "out", "{nope}.hl7"));
  ASSERT_FALSE(drop);
  EXPECT_TRUE(drop.error().is(FileDropErrc::bad_config));
  EXPECT_FALSE(fs::exists(tmp / "out"));  // validated before anything is made
}

// --- names ------------------------------------------------------------------------------------

TEST(FileDrop, ExpandsEveryPlaceholder) {
  test::TempDir tmp("hims-drop");
  auto drop = FileDrop::create(
      config_in(tmp.path(),
                "{id}_{journal_id}_{source}_{route}_{destination}_{control_id}_{date}_{time}.hl7"));
  ASSERT_TRUE(drop) << drop.error().message();
  EXPECT_EQ(drop->expand_name(item(7, kMessage)),
            "7_1007_lab_mllp_adt_to_file_lab_drop_MSG00001_20240305_060708.hl7");
}

TEST(FileDrop, SanitisesPlaceholderValues) {
  test::TempDir tmp("hims-drop");
  auto drop = FileDrop::create(config_in(tmp.path(), "{id}-{source}-{route}-{control_id}.hl7"));
  ASSERT_TRUE(drop) << drop.error().message();
  auto it = item(3, kMessage);
  it.source = "../../etc/passwd";
  it.route = "";
  it.control_id = "a b\\c\x01\xc3\xa9";
  EXPECT_EQ(drop->expand_name(it), "3-.._.._etc_passwd-none-a_b_c___.hl7");

  it.source = "..";
  it.route = ".";
  const std::string long_id(100, 'Z');
  it.control_id = long_id;
  EXPECT_EQ(drop->expand_name(it), "3-__-_-" + std::string(64, 'Z') + ".hl7");

  it.id = -5;
  it.source = "x";
  it.route = "r";
  it.control_id = "c";
  EXPECT_EQ(drop->expand_name(it), "-5-x-r-c.hl7");
}

// --- per_message ------------------------------------------------------------------------------

TEST(FileDrop, PerMessageWritesTheBytesAsGiven) {
  test::TempDir tmp("hims-drop");
  auto drop = FileDrop::create(config_in(tmp / "a" / "b", "{date}-{journal_id}-{id}.hl7"));
  ASSERT_TRUE(drop) << drop.error().message();
  EXPECT_TRUE(fs::is_directory(tmp / "a" / "b"));  // made with its parents

  const std::string binary = kMessage + std::string("\0\xff\n\r", 4);
  auto path = drop->write(item(42, binary));
  ASSERT_TRUE(path) << path.error().message();
  EXPECT_EQ(*path, tmp.path() / "a" / "b" / "20240305-1042-42.hl7");
  EXPECT_EQ(read_file(*path), binary);
  EXPECT_EQ(names_in(tmp / "a" / "b"), std::vector<std::string>{"20240305-1042-42.hl7"});
}

TEST(FileDrop, RedeliveryOverwritesInsteadOfDuplicating) {
  test::TempDir tmp("hims-drop");
  auto drop = FileDrop::create(config_in(tmp.path(), "{id}.hl7"));
  ASSERT_TRUE(drop) << drop.error().message();
  ASSERT_TRUE(drop->write(item(9, "first attempt, longer than the second")));
  auto again = drop->write(item(9, kMessage));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(read_file(*again), kMessage);
  ASSERT_TRUE(drop->write(item(10, "other")));
  EXPECT_EQ(names_in(tmp.path()), (std::vector<std::string>{"10.hl7", "9.hl7"}));  // no temp left
}

TEST(FileDrop, PerMessageWithoutFsyncWritesToo) {
  test::TempDir tmp("hims-drop");
  auto config = config_in(tmp.path(), "{id}.hl7");
  config.fsync = false;
  auto drop = FileDrop::create(config);
  ASSERT_TRUE(drop) << drop.error().message();
  auto path = drop->write(item(1, ""));
  ASSERT_TRUE(path) << path.error().message();
  EXPECT_TRUE(fs::exists(*path));
  EXPECT_EQ(fs::file_size(*path), 0u);
}

TEST(FileDrop, RelativeDirIsKeptAbsolute) {
  test::TempDir tmp("hims-drop");
  const fs::path before = fs::current_path();
  fs::current_path(tmp.path());
  auto drop = FileDrop::create(config_in("rel/out", "{id}.hl7"));
  fs::current_path(before);
  ASSERT_TRUE(drop) << drop.error().message();
  EXPECT_EQ(drop->config().dir, tmp.path() / "rel" / "out");
  auto path = drop->write(item(1, kMessage));
  ASSERT_TRUE(path) << path.error().message();
  EXPECT_EQ(read_file(tmp.path() / "rel" / "out" / "1.hl7"), kMessage);
}

TEST(FileDrop, MovedDropKeepsWorking) {
  test::TempDir tmp("hims-drop");
  auto created = FileDrop::create(config_in(tmp.path(), "{date}.hl7", FileDropMode::append));
  ASSERT_TRUE(created) << created.error().message();
  FileDrop drop = std::move(created).value();
  ASSERT_TRUE(drop.write(item(1, "one")));
  FileDrop moved = std::move(drop);
  ASSERT_TRUE(moved.write(item(2, "two")));
  EXPECT_EQ(read_file(tmp / "20240305.hl7"), "one\ntwo\n");
}

// --- append -----------------------------------------------------------------------------------

TEST(FileDrop, AppendWritesOneRecordPerMessageAndRollsOverWithTheDate) {
  test::TempDir tmp("hims-drop");
  auto drop = FileDrop::create(config_in(tmp.path(), "{source}-{date}.hl7", FileDropMode::append));
  ASSERT_TRUE(drop) << drop.error().message();
  const std::string second = "MSH|^~\\&|LAB|FAC|EHR|FAC|20240305070000||ORU^R01|MSG00002|P|2.5\r";

  auto p1 = drop->write(item(1, kMessage));
  ASSERT_TRUE(p1) << p1.error().message();
  auto p2 = drop->write(item(2, second));
  ASSERT_TRUE(p2) << p2.error().message();
  EXPECT_EQ(*p1, *p2);
  EXPECT_EQ(read_file(*p1), kMessage + "\n" + second + "\n");

  auto next_day = item(3, "day two");
  next_day.at = kMarch6;
  auto p3 = drop->write(next_day);
  ASSERT_TRUE(p3) << p3.error().message();
  EXPECT_EQ(p3->filename(), "lab_mllp-20240306.hl7");
  EXPECT_EQ(read_file(*p3), "day two\n");
  EXPECT_EQ(read_file(*p1), kMessage + "\n" + second + "\n");  // the old day is untouched
  EXPECT_EQ(names_in(tmp.path()),
            (std::vector<std::string>{"lab_mllp-20240305.hl7", "lab_mllp-20240306.hl7"}));
}

TEST(FileDrop, AppendAddsToAnExistingFile) {
  test::TempDir tmp("hims-drop");
  tmp.write("batch.hl7", "old\n");
  auto drop = FileDrop::create(config_in(tmp.path(), "batch.hl7", FileDropMode::append));
  ASSERT_TRUE(drop) << drop.error().message();
  ASSERT_TRUE(drop->write(item(1, "new")));
  EXPECT_EQ(read_file(tmp / "batch.hl7"), "old\nnew\n");
}

TEST(FileDrop, AppendReopensAFileItsReaderMovedAway) {
  test::TempDir tmp("hims-drop");
  auto drop = FileDrop::create(config_in(tmp / "out", "batch.hl7", FileDropMode::append));
  ASSERT_TRUE(drop) << drop.error().message();
  ASSERT_TRUE(drop->write(item(1, "one")));
  fs::rename(tmp / "out" / "batch.hl7", tmp / "picked-up.hl7");  // a pick-up takes the file
  ASSERT_TRUE(drop->write(item(2, "two")));
  EXPECT_EQ(read_file(tmp / "picked-up.hl7"), "one\n");
  EXPECT_EQ(read_file(tmp / "out" / "batch.hl7"), "two\n");

  fs::remove(tmp / "out" / "batch.hl7");  // or deletes it
  ASSERT_TRUE(drop->write(item(3, "three")));
  EXPECT_EQ(read_file(tmp / "out" / "batch.hl7"), "three\n");
}

// --- errors -----------------------------------------------------------------------------------

TEST(FileDrop, DirUnderARegularFileCannotBeCreated) {
  test::TempDir tmp("hims-drop");
  tmp.write("plain", "x");
  auto drop = FileDrop::create(config_in(tmp / "plain" / "out", "{id}.hl7"));
  ASSERT_FALSE(drop);
  EXPECT_TRUE(drop.error().is(FileDropErrc::cannot_create_dir)) << drop.error().message();
  EXPECT_NE(drop.error().where().find("plain"), std::string::npos);

  auto on_file = FileDrop::create(config_in(tmp / "plain", "{id}.hl7"));
  ASSERT_FALSE(on_file);
  EXPECT_TRUE(on_file.error().is(FileDropErrc::cannot_create_dir)) << on_file.error().message();
}

TEST(FileDrop, UnwritableDirIsAnError) {
  test::TempDir tmp("hims-drop");
  fs::path dir = tmp / "ro";
  if (::geteuid() == 0) {
    // root passes permission bits; sysfs refuses new files even to root.
    dir = "/sys";
    const fs::path probe = dir / ".hims-drop-test-probe";
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
      ::close(fd);
      ::unlink(probe.c_str());
      GTEST_SKIP() << "no directory that root cannot write to";
    }
  } else {
    fs::create_directory(dir);
    fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
  }
  auto drop = FileDrop::create(config_in(dir, "{id}.hl7"));
  ASSERT_FALSE(drop);
  EXPECT_TRUE(drop.error().is(FileDropErrc::permission_denied)) << drop.error().message();
  EXPECT_EQ(drop.error().where(), dir.string());
  EXPECT_NE(drop.error().detail().find("Permission denied"), std::string::npos)
      << drop.error().message();
  if (::geteuid() != 0) fs::permissions(dir, fs::perms::owner_all);
}

TEST(FileDrop, VanishedDirIsReportedNotRecreated) {
  for (const auto mode : {FileDropMode::per_message, FileDropMode::append}) {
    SCOPED_TRACE(static_cast<int>(mode));
    test::TempDir tmp("hims-drop");
    auto drop = FileDrop::create(config_in(tmp / "out", "{id}.hl7", mode));
    ASSERT_TRUE(drop) << drop.error().message();
    fs::remove_all(tmp / "out");
    auto path = drop->write(item(1, kMessage));
    ASSERT_FALSE(path);
    EXPECT_TRUE(path.error().is(FileDropErrc::dir_missing)) << path.error().message();
    EXPECT_EQ(path.error().where(), (tmp / "out" / "1.hl7").string());
    EXPECT_NE(path.error().detail().find("No such file or directory (errno 2)"), std::string::npos)
        << path.error().message();
    EXPECT_FALSE(fs::exists(tmp / "out"));
  }
}

TEST(FileDrop, OverlongNameIsAPermanentErrorForThatItem) {
  test::TempDir tmp("hims-drop");
  auto drop =
      FileDrop::create(config_in(tmp.path(), "{id}-{source}-{route}-{control_id}-{time}.hl7"));
  ASSERT_TRUE(drop) << drop.error().message();
  auto it = item(1, kMessage);
  const std::string long_value(64, 'v');
  it.source = it.route = it.control_id = long_value;
  auto ok = drop->write(it);  // 1 + 3 * 65 + 7 + 4 = 207 bytes
  ASSERT_TRUE(ok) << ok.error().message();

  auto config = config_in(tmp / "wide",
                          "{id}-{source}-{route}-{control_id}-" + std::string(60, 'x') + ".hl7");
  auto wide = FileDrop::create(config);
  ASSERT_TRUE(wide) << wide.error().message();
  auto path = wide->write(it);  // 1 + 3 * 65 + 1 + 60 + 4 = 261 bytes
  ASSERT_FALSE(path);
  EXPECT_TRUE(path.error().is(FileDropErrc::name_too_long)) << path.error().message();
  EXPECT_NE(path.error().detail().find("261 bytes"), std::string::npos) << path.error().message();
  EXPECT_TRUE(names_in(tmp / "wide").empty());
}

TEST(FileDrop, NameTakenByADirectoryFailsAndLeavesNoTempFile) {
  test::TempDir tmp("hims-drop");
  auto drop = FileDrop::create(config_in(tmp.path(), "{id}.hl7"));
  ASSERT_TRUE(drop) << drop.error().message();
  fs::create_directory(tmp / "5.hl7");
  fs::create_directory(tmp / "5.hl7" / "inside");  // rename cannot replace a non-empty directory
  auto path = drop->write(item(5, kMessage));
  ASSERT_FALSE(path);
  EXPECT_TRUE(path.error().is(FileDropErrc::write_failed)) << path.error().message();
  EXPECT_NE(path.error().detail().find("rename"), std::string::npos);
  EXPECT_EQ(names_in(tmp.path()), std::vector<std::string>{"5.hl7"});
}

TEST(FileDropErrc, NamesEveryCode) {
  EXPECT_EQ(to_string(FileDropErrc::bad_config), "bad_config");
  EXPECT_EQ(to_string(FileDropErrc::cannot_create_dir), "cannot_create_dir");
  EXPECT_EQ(to_string(FileDropErrc::dir_missing), "dir_missing");
  EXPECT_EQ(to_string(FileDropErrc::permission_denied), "permission_denied");
  EXPECT_EQ(to_string(FileDropErrc::disk_full), "disk_full");
  EXPECT_EQ(to_string(FileDropErrc::write_failed), "write_failed");
  EXPECT_EQ(to_string(FileDropErrc::name_too_long), "name_too_long");
}

}  // namespace
}  // namespace hims::adapters

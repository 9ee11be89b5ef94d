// Loading mapping files: every kind of mistake is reported with file:line:column and key path,
// all problems at once; valid files (the test mappings) load.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "engine/mapping.hpp"
#include "tests/support/corpus.hpp"
#include "tests/support/temp_dir.hpp"

namespace hims::engine {
namespace {

const char* const kHeader = "mapping: t\nfrom: hl7v2\nmessages: [ADT^A01]\n";

std::vector<ConfigError> errors_of(const std::string& yaml, const std::string& file = "m.yaml") {
  return parse_mapping(yaml, file).errors;
}

std::string all(const std::vector<ConfigError>& errors) {
  std::string out;
  for (const ConfigError& e : errors) out += e.to_string() + "\n";
  return out;
}

// The one error `body` (after the header) gives: its code, key and a piece of its detail.
void expect_error(const std::string& body, ConfigErrc code, const std::string& key,
                  const std::string& detail_part) {
  const auto errors = errors_of(kHeader + body);
  ASSERT_EQ(errors.size(), 1u) << body << "\n" << all(errors);
  EXPECT_EQ(errors[0].code, code) << all(errors);
  EXPECT_EQ(errors[0].key, key) << all(errors);
  EXPECT_NE(errors[0].detail.find(detail_part), std::string::npos) << all(errors);
  EXPECT_EQ(errors[0].where.file, "m.yaml");
  EXPECT_GT(errors[0].where.line, 0) << all(errors);
  EXPECT_GT(errors[0].where.column, 0) << all(errors);
}

std::string entity(const std::string& columns, const std::string& extra = "") {
  return "entities:\n  - as: p\n    table: patients\n    key: [a]\n" + extra +
         "    columns:\n      a: PID-3.1\n" + columns;
}

TEST(MappingLoad, LoadsTheTestMappings) {
  for (const auto& file :
       test::files_under(test::source_dir() / "tests" / "data" / "mappings", {".yaml"})) {
    if (file.parent_path().filename() == "tables") continue;  // included table files
    MappingLoad loaded = read_mapping(file);
    EXPECT_TRUE(loaded.ok()) << file << "\n" << all(loaded.errors);
  }
}

TEST(MappingLoad, ReportsYamlSyntaxWithLineAndColumn) {
  const auto errors = errors_of("mapping: t\nentities: [\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, ConfigErrc::syntax);
  EXPECT_GT(errors[0].where.line, 0);
}

TEST(MappingLoad, RequiresTheTopLevelKeys) {
  const auto errors = errors_of("description: nothing\n");
  std::vector<std::string> keys;
  for (const auto& e : errors) {
    EXPECT_EQ(e.code, ConfigErrc::missing_key);
    keys.push_back(e.key);
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"mapping", "from", "messages", "entities"}));
  EXPECT_EQ(errors_of("- a\n- b\n").at(0).code, ConfigErrc::wrong_type);
}

TEST(MappingLoad, RejectsUnknownKeysEverywhere) {
  expect_error(entity("") + "colour: red\n", ConfigErrc::unknown_key, "colour", "unknown key");
  expect_error(entity("", "    colums: {}\n"), ConfigErrc::unknown_key, "entities[0].colums",
               "expected one of: as, table");
  expect_error(entity("      b: {path: PID-5, tranform: trim}\n"), ConfigErrc::unknown_key,
               "entities[0].columns.b.tranform", "unknown key");
  expect_error("tables: {sex: {map: {M: male}, defualt: x}}\n" + entity(""),
               ConfigErrc::unknown_key, "tables.sex.defualt", "unknown key");
  expect_error(entity("", "    when: {path: PID-3, exist: true}\n"), ConfigErrc::unknown_key,
               "entities[0].when.exist", "unknown key");
}

TEST(MappingLoad, RejectsBadTopLevelValues) {
  expect_error("timezone: Europe/Paris\n" + entity(""), ConfigErrc::bad_value, "timezone",
               "not UTC or an offset");
  expect_error("timezone: +2500\n" + entity(""), ConfigErrc::bad_value, "timezone", "offset");
  const auto errors =
      errors_of("mapping: 'a b'\nfrom: fhir\nmessages: [adt^A01, ORU, '']\n" + entity(""));
  std::vector<std::string> keys;
  for (const auto& e : errors) keys.push_back(e.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"mapping", "from", "messages[0]", "messages[1]",
                                            "messages[2]"}))
      << all(errors);
}

TEST(MappingLoad, ChecksPaths) {
  expect_error(entity("      b: PID-\n"), ConfigErrc::bad_value, "entities[0].columns.b",
               "'PID-' is not an HL7 v2 path");
  expect_error(entity("      b: PID\n"), ConfigErrc::bad_value, "entities[0].columns.b",
               "names a whole segment");
  expect_error(entity("      b: \"PID-3[*].1\"\n"), ConfigErrc::bad_value, "entities[0].columns.b",
               "selects many values");
  expect_error(entity("      b: {path: PID-3.1, join: \",\"}\n"), ConfigErrc::bad_value,
               "entities[0].columns.b.join", "join needs a path that selects many");
  expect_error(entity("      b: .1\n"), ConfigErrc::bad_value, "entities[0].columns.b",
               "only valid inside a for_each over repetitions");
  expect_error(entity("      b: \"PID-3[5=].1\"\n"), ConfigErrc::bad_value, "entities[0].columns.b",
               "filter");
  expect_error(entity("      b: true\n"), ConfigErrc::bad_value, "entities[0].columns.b",
               "write {value: true}");
  expect_error(entity("", "    for_each: \"PID-3[*]\"\n") + "      b: .0\n", ConfigErrc::bad_value,
               "entities[0].columns.b", "not a relative path");
}

TEST(MappingLoad, ChecksValueSpecs) {
  expect_error(entity("      b: {path: PID-7, type: datetime}\n"), ConfigErrc::bad_value,
               "entities[0].columns.b.type", "'datetime' is not a type");
  expect_error(entity("      b: {path: PID-7, value: 1}\n"), ConfigErrc::bad_value,
               "entities[0].columns.b", "more than one source");
  expect_error(entity("      b: {type: int}\n"), ConfigErrc::bad_value, "entities[0].columns.b",
               "needs one of: path, value");
  expect_error(entity("      b: {value: abc, type: int}\n"), ConfigErrc::bad_value,
               "entities[0].columns.b.value", "not a whole number");
  expect_error(entity("      b: {path: PID-7, type: date, default: 2024-13-01}\n"),
               ConfigErrc::bad_value, "entities[0].columns.b.default", "not an HL7 date");
  expect_error(entity("      b: {path: PID-7, transform: [trim, titlecase]}\n"),
               ConfigErrc::bad_value, "entities[0].columns.b.transform", "'titlecase'");
  expect_error(entity("      b: {path: PID-7, type: json}\n"), ConfigErrc::bad_value,
               "entities[0].columns.b.type", "type json is built with json");
  expect_error(entity("      b: {ref: p, type: int}\n", "") + "", ConfigErrc::bad_value,
               "entities[0].columns.b.type", "does not apply to a ref");
  expect_error(entity("      b: {value: 1, transform: trim}\n"), ConfigErrc::bad_value,
               "entities[0].columns.b.transform", "not to value");
  expect_error(entity("      b: {concat: []}\n"), ConfigErrc::wrong_type,
               "entities[0].columns.b.concat", "non-empty list");
  expect_error(entity("      b: {json: {x: {ref: p}}}\n"), ConfigErrc::bad_value,
               "entities[0].columns.b.json.x.ref", "a ref is a column of its own");
  expect_error(entity("      b: {path: PID-7, required: yes}\n"), ConfigErrc::bad_value,
               "entities[0].columns.b.required", "true or false");
  expect_error(entity("      b:\n"), ConfigErrc::wrong_type, "entities[0].columns.b",
               "must be a path");
  expect_error(entity("      b: {path: PID-7, when: {path: PID-8}}\n"), ConfigErrc::bad_value,
               "entities[0].columns.b.when", "needs one test");
  expect_error(entity("      b: {path: PID-7, when: {path: PID-8, equals: M, in: [F]}}\n"),
               ConfigErrc::bad_value, "entities[0].columns.b.when", "more than one test");
  expect_error(entity("      b: {path: PID-7, when: {equals: M}}\n"), ConfigErrc::missing_key,
               "entities[0].columns.b.when.path", "is required with equals");
  expect_error(entity("      b: {path: PID-7, when: {all: []}}\n"), ConfigErrc::wrong_type,
               "entities[0].columns.b.when.all", "non-empty list");
}

TEST(MappingLoad, ChecksCodeTables) {
  expect_error(entity("      g: {path: PID-8, code: sexx}\n"), ConfigErrc::unknown_id,
               "entities[0].columns.g.code", "unknown code table \"sexx\"");
  expect_error("tables: {sex: {map: {M: male}, default: x, strict: true}}\n" + entity(""),
               ConfigErrc::bad_value, "tables.sex", "both default and strict");
  expect_error("tables: {sex: {default: x}}\n" + entity(""), ConfigErrc::missing_key,
               "tables.sex.map", "is required");
  expect_error("tables: {sex: {map: [M, F]}}\n" + entity(""), ConfigErrc::wrong_type,
               "tables.sex.map", "map of codes");
  expect_error("tables: {level: {map: {H: high}}}\n" +
                   entity("      g: {path: PID-8, code: level, type: int}\n"),
               ConfigErrc::bad_value, "entities[0].columns.g.code (table level, code H)",
               "not a whole number");
  expect_error("tables: {'9x': {map: {H: high}}}\n" + entity(""), ConfigErrc::bad_value,
               "tables.9x", "table name");
}

TEST(MappingLoad, IncludesTableFilesAndNamesThemInErrors) {
  test::TempDir dir;
  std::ofstream(dir / "hl7.yaml")
      << "tables:\n  sex: {map: {M: male}}\n  bad: {map: {M: x}, strict: maybe}\n";
  std::ofstream(dir / "m.yaml") << kHeader
                                << "tables: {include: hl7.yaml}\n" +
                                       entity("      g: {path: PID-8, code: sex}\n");
  MappingLoad loaded = read_mapping(dir / "m.yaml");
  ASSERT_EQ(loaded.errors.size(), 1u) << all(loaded.errors);
  EXPECT_EQ(loaded.errors[0].where.file, (dir / "hl7.yaml").string());
  EXPECT_EQ(loaded.errors[0].where.line, 3);
  EXPECT_EQ(loaded.errors[0].key, "tables.bad.strict");

  std::ofstream(dir / "hl7.yaml", std::ios::trunc) << "tables:\n  sex: {map: {M: male}}\n";
  EXPECT_TRUE(read_mapping(dir / "m.yaml").ok());
  std::ofstream(dir / "dup.yaml") << kHeader
                                  << "tables: {include: hl7.yaml, sex: {map: {F: female}}}\n" +
                                         entity("");
  const auto dup = read_mapping(dir / "dup.yaml").errors;
  ASSERT_EQ(dup.size(), 1u) << all(dup);
  EXPECT_EQ(dup[0].code, ConfigErrc::duplicate);
  std::ofstream(dir / "missing.yaml") << kHeader << "tables: {include: nope.yaml}\n" + entity("");
  const auto missing = read_mapping(dir / "missing.yaml").errors;
  ASSERT_EQ(missing.size(), 1u) << all(missing);
  EXPECT_EQ(missing[0].code, ConfigErrc::unreadable);
  EXPECT_EQ(missing[0].key, "tables.include");
}

TEST(MappingLoad, ChecksEntities) {
  expect_error(
      "entities:\n  - as: p\n    table: patients\n    key: [a, b]\n    columns: {a: PID-3}\n",
      ConfigErrc::bad_value, "entities[0].key[1]", "key column `b` is not one of");
  expect_error(
      "entities:\n  - as: p\n    table: patients\n    key: [a, a]\n    columns: {a: PID-3}\n",
      ConfigErrc::duplicate, "entities[0].key[1]", "twice in the key");
  expect_error("entities:\n  - as: p\n    table: patients\n    columns: {a: PID-3}\n",
               ConfigErrc::missing_key, "entities[0].key", "natural key");
  expect_error(
      "entities:\n  - as: 'p q'\n    table: patients\n    key: a\n    columns: {a: PID-3}\n",
      ConfigErrc::bad_value, "entities[0].as", "instance name");
  expect_error("entities:\n  - as: p\n    table: 'x y'\n    key: a\n    columns: {a: PID-3}\n",
               ConfigErrc::bad_value, "entities[0].table", "not a table name");
  expect_error("entities: []\n", ConfigErrc::wrong_type, "entities", "non-empty list");
  expect_error(entity("") + "  - as: p\n    table: x\n    key: [a]\n    columns: {a: PID-1}\n",
               ConfigErrc::duplicate, "entities[1].as", "already the name of entities[0]");
  expect_error(entity("", "    for_each: \"OBX[2]\"\n"), ConfigErrc::bad_value,
               "entities[0].for_each", "names one occurrence");
  expect_error(entity("", "    for_each: \"PID-3[*].1\"\n"), ConfigErrc::bad_value,
               "entities[0].for_each", "for_each takes a segment id");
  expect_error(entity("", "    for_each: \"PID-3\"\n"), ConfigErrc::bad_value,
               "entities[0].for_each", "for_each takes a segment id");
}

TEST(MappingLoad, LimitsLoopNesting) {
  std::string yaml = kHeader + std::string("entities:\n");
  std::string indent = "  ";
  for (int i = 0; i < 9; ++i) {
    yaml += indent + "- as: e" + std::to_string(i) + "\n" + indent + "  table: t\n" + indent +
            "  for_each: OBX\n" + indent + "  key: [a]\n" + indent + "  columns: {a: OBX-1}\n";
    if (i < 8) yaml += indent + "  entities:\n";
    indent += "    ";
  }
  const auto errors = errors_of(yaml);
  ASSERT_EQ(errors.size(), 1u) << all(errors);
  EXPECT_NE(errors[0].detail.find("at most 8 deep"), std::string::npos);
}

TEST(MappingLoad, ChecksRefs) {
  expect_error(entity("      r: {ref: nobody}\n"), ConfigErrc::unknown_id,
               "entities[0].columns.r.ref", "no entity is named `nobody`");
  expect_error(entity("      r: {ref: p}\n"), ConfigErrc::bad_value, "entities[0].columns.r.ref",
               "cannot refer to itself");
  // A ref to an entity with one row per repetition, from outside it.
  expect_error(entity("      r: {ref: id}\n") +
                   "  - as: id\n    table: ids\n    for_each: \"PID-3[*]\"\n    key: [v]\n"
                   "    columns: {v: .1}\n",
               ConfigErrc::bad_value, "entities[0].columns.r.ref", "one row per for_each");
  // A cousin is not visible.
  expect_error(
      "entities:\n"
      "  - as: a\n    table: t\n    key: [x]\n    columns: {x: PID-1}\n"
      "    entities:\n      - as: a1\n        table: t\n        key: [x]\n        columns: {x: "
      "PID-1}\n"
      "  - as: b\n    table: t\n    key: [x]\n    columns: {x: PID-1}\n"
      "    entities:\n      - as: b1\n        table: t\n        key: [x]\n"
      "        columns: {x: PID-1, r: {ref: a1}}\n",
      ConfigErrc::bad_value, "entities[1].entities[0].columns.r.ref", "not visible here");
  // A circle between siblings.
  expect_error(
      "entities:\n"
      "  - as: a\n    table: t\n    key: [x]\n    columns: {x: PID-1, r: {ref: b}}\n"
      "  - as: b\n    table: t\n    key: [x]\n    columns: {x: PID-1, r: {ref: a}}\n",
      ConfigErrc::bad_value, "entities[0]", "go round in a circle");
}

TEST(MappingLoad, CollectsEveryProblemInFileOrder) {
  const std::string yaml = std::string(kHeader) +
                           "colour: red\n"
                           "entities:\n"
                           "  - as: p\n"
                           "    table: patients\n"
                           "    key: [mrn, nope]\n"
                           "    columns:\n"
                           "      mrn: PID-\n"
                           "      gender: {path: PID-8, code: sexx}\n"
                           "      r: {ref: order}\n";
  const auto errors = errors_of(yaml);
  ASSERT_EQ(errors.size(), 5u) << all(errors);
  for (std::size_t i = 1; i < errors.size(); ++i) {
    EXPECT_LE(errors[i - 1].where.line, errors[i].where.line);
  }
  EXPECT_EQ(errors[3].to_string(),
            "m.yaml:11:35: entities[0].columns.gender.code: unknown code table \"sexx\" "
            "(tables: none)");
  const Error e = parse_mapping(yaml, "m.yaml").to_error();
  EXPECT_TRUE(e.is(MappingErrc::bad_mapping));
  EXPECT_EQ(e.where(), "m.yaml:4:1 colour");
  EXPECT_NE(e.detail().find("\nm.yaml:12:"), std::string::npos) << e.detail();
}

TEST(MappingLoad, LoadMappingReportsAnUnreadableFile) {
  auto m = load_mapping("/nonexistent/mapping.yaml");
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.error().is(MappingErrc::bad_mapping));
  EXPECT_NE(m.error().message().find("cannot read file"), std::string::npos);
  auto t = load_mapping_text(std::string(kHeader) + entity(""), "inline.yaml");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->name(), "t");
  EXPECT_EQ(t->file(), "inline.yaml");
}

TEST(MappingLoad, OddYamlNeverThrows) {
  for (const char* text : {"", "~", "[]", "{a: *x}", "mapping: !!binary x", "entities: {a: 1}",
                           "\t", "entities:\n  - ~\n", "entities:\n  - as: [a]\n",
                           "tables: {include: [~]}\n", "messages: {a: b}"}) {
    MappingLoad loaded = parse_mapping(text, "odd.yaml");
    EXPECT_FALSE(loaded.ok()) << text;
  }
}

TEST(MappingLoad, ChecksFirstAndKeyAny) {
  expect_error(entity("      b: {first: []}\n"), ConfigErrc::wrong_type,
               "entities[0].columns.b.first", "non-empty list");
  expect_error(entity("      b: {first: [{json: {x: PID-5}}]}\n"), ConfigErrc::bad_value,
               "entities[0].columns.b.first", "a first part cannot be a json object");
  expect_error(entity("      b: {first: [{ref: p}]}\n"), ConfigErrc::bad_value,
               "entities[0].columns.b.first[0].ref", "not part of a json, concat or first value");
  expect_error(entity("      b: {first: [PID-5], path: PID-6}\n"), ConfigErrc::bad_value,
               "entities[0].columns.b", "more than one source");
  const std::string any_key =
      "entities:\n  - as: p\n    table: lab_orders\n    key: {any: [a, b]}\n"
      "    columns:\n      a: ORC-2.1\n      b: ORC-3.1\n";
  EXPECT_TRUE(errors_of(kHeader + any_key).empty()) << all(errors_of(kHeader + any_key));
  expect_error(
      "entities:\n  - as: p\n    table: t\n    key: {all: [a]}\n    columns:\n      a: "
      "ORC-2.1\n",
      ConfigErrc::unknown_key, "entities[0].key.all", "expected one of: any");
  expect_error(
      "entities:\n  - as: p\n    table: t\n    key: {any: [a, c]}\n    columns:\n      a: "
      "ORC-2.1\n",
      ConfigErrc::bad_value, "entities[0].key.any[1]", "not one of the entity's columns");
  expect_error(
      "entities:\n  - as: p\n    table: t\n    key: {any: [a, [b, b]]}\n    columns:\n      a: "
      "ORC-2.1\n      b: ORC-3.1\n",
      ConfigErrc::duplicate, "entities[0].key.any[1][1]", "twice in the key");
  expect_error(
      "entities:\n  - as: p\n    table: t\n    key: {any: a}\n    columns:\n      a: "
      "ORC-2.1\n",
      ConfigErrc::wrong_type, "entities[0].key.any", "list of alternative keys");
}

TEST(MappingLoad, ChecksInsertDefault) {
  expect_error(entity("      b: {path: PID-5, default: x, insert_default: y}\n"),
               ConfigErrc::bad_value, "entities[0].columns.b.insert_default",
               "default and insert_default together");
  expect_error(entity("      b: {json: {x: {path: PID-5, insert_default: y}}}\n"),
               ConfigErrc::bad_value, "entities[0].columns.b.json.x.insert_default",
               "for a column");
  expect_error(entity("      b: {path: PID-7, type: date, insert_default: soon}\n"),
               ConfigErrc::bad_value, "entities[0].columns.b.insert_default", "");
}

TEST(MappingLoad, ChecksGroups) {
  const std::string group =
      "entities:\n  - as: g\n    for_each: ORC\n    entities:\n      - as: o\n"
      "        table: lab_orders\n        key: [a]\n        columns: {a: ORC-2}\n";
  EXPECT_TRUE(errors_of(kHeader + group).empty()) << all(errors_of(kHeader + group));
  // Without a loop it is not a group: table, columns and key are missing.
  const auto no_loop =
      errors_of(std::string(kHeader) +
                "entities:\n  - as: g\n    entities:\n      - as: o\n        table: lab_orders\n"
                "        key: [a]\n        columns: {a: ORC-2}\n");
  ASSERT_EQ(no_loop.size(), 3u) << all(no_loop);
  EXPECT_EQ(no_loop[0].key, "entities[0].table");
  EXPECT_NE(no_loop[0].detail.find("is a group"), std::string::npos) << all(no_loop);
  // Nothing refers to a group.
  expect_error(group + "  - as: x\n    table: t\n    key: [a]\n    columns: {a: {ref: g}}\n",
               ConfigErrc::bad_value, "entities[1].columns.a.ref", "is a group");
}

}  // namespace
}  // namespace hims::engine

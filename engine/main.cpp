// hims-engine: the command line. The only place that knows every module: it parses the options
// and hands them to one command (engine/commands.hpp). Exceptions stop here.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include "engine/commands.hpp"
#include "engine/config.hpp"

namespace {

using hims::engine::kExitUsage;

// CLI11 validator for durations with units ("10s", "500ms").
struct DurationValidator : public CLI::Validator {
  DurationValidator() {
    name_ = "DURATION";
    func_ = [](const std::string& text) -> std::string {
      auto d = hims::engine::parse_duration(text);
      if (!d || d->count() <= 0) {
        return "'" + text +
               "' is not a duration (a whole number and a unit: ms, s, m, h; e.g. 10s)";
      }
      return {};
    };
  }
};

// --since / --until: a duration back from now ("2h", "30m") or a UTC date and time
// ("2026-11-22", "2026-11-22T08:30", "2026-11-22T08:30:00Z").
std::optional<std::chrono::system_clock::time_point> parse_when(const std::string& text) {
  if (auto ago = hims::engine::parse_duration(text)) {
    return std::chrono::system_clock::now() - *ago;
  }
  std::tm tm{};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  char tail[8] = {};
  const int n =
      std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%7s", &y, &mo, &d, &h, &mi, &sec, tail);
  if (n < 3 || (n == 7 && std::string_view(tail) != "Z")) return std::nullopt;
  if (n == 4) return std::nullopt;  // an hour without minutes
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  const time_t t = ::timegm(&tm);
  if (t == static_cast<time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(t);
}

struct WhenValidator : public CLI::Validator {
  WhenValidator() {
    name_ = "WHEN";
    func_ = [](const std::string& text) -> std::string {
      if (parse_when(text)) return {};
      return "'" + text +
             "' is neither a duration back from now (2h, 30m) nor a UTC time "
             "(2026-11-22, 2026-11-22T08:30:00Z)";
    };
  }
};

// --config FILE or --store URL, for the commands that work on the store.
void add_store_options(CLI::App* cmd, hims::engine::StoreSelection& target) {
  auto* config = cmd->add_option("-c,--config", target.config,
                                 "Configuration file (YAML) whose `store` to use");
  config->check(CLI::ExistingFile);
  cmd->add_option("--store", target.store,
                  "Store URL (sqlite:PATH or postgresql://...) instead of --config's")
      ->excludes(config);
}

int run_cli(int argc, char** argv) {
  CLI::App app{
      "hims-engine: an HL7 v2 / FHIR / X12 integration engine.\n"
      "This version runs MLLP sources, journals each HL7 v2 message before acknowledging it, "
      "routes it\n"
      "and delivers it to MLLP, file and ZeroMQ destinations through durable queues."};
  app.set_version_flag("--version", hims::engine::version_text());
  app.require_subcommand(1);
  app.fallthrough(false);

  // run
  hims::engine::RunOptions run;
  std::string run_format;
  std::string run_level;
  CLI::App* run_cmd = app.add_subcommand(
      "run", "Start the configured sources, journal and route every message, deliver it");
  run_cmd->footer(
      "Every message is journaled in the store (default sqlite:var/hims.db) before its ACK: "
      "AA (CA in enhanced mode, MSH-15/16 valued) for a message that parses, AR (CR) with an "
      "ERR segment for one that does not or names an unsupported version, AE (CE) with ERR 207 "
      "when it could not be stored (send it again). A duplicate within the source's "
      "duplicate_window is acknowledged again and stored once. Each message then takes every "
      "route that matches (none: state `filtered`) and is queued for the routes' destinations, "
      "delivered in order per destination with retries and dead letters. With ack_mode "
      "on-processed the ACK waits for that (AE when processing failed). Messages left "
      "unprocessed and queue items left undelivered by a stop or crash resume at start. The "
      "`http` listener serves /health and /metrics. Logs are JSON lines (or text) on "
      "stderr, without PHI. SIGINT or SIGTERM stops gracefully (exit status 0); an invalid "
      "config, a store that cannot be opened, a destination or port that cannot be set up "
      "gives exit status 2.");
  run_cmd->add_option("-c,--config", run.config, "Configuration file (YAML)")
      ->required()
      ->check(CLI::ExistingFile);
  run_cmd
      ->add_option("--log-format", run_format,
                   "Log line format on stderr (overrides log.format): json or text")
      ->check(CLI::IsMember({"json", "text"}));
  run_cmd
      ->add_option("--log-level", run_level,
                   "Lowest level logged (overrides log.level): debug, info, warn, error or off")
      ->check(CLI::IsMember({"debug", "info", "warn", "error", "off"}));
  run_cmd->add_option("--ready-file", run.ready_file,
                      "Once every source listens, write a JSON file naming the bound ports "
                      "({\"pid\":..,\"sources\":{\"<id>\":{\"host\":..,\"port\":..}},"
                      "\"http\":{\"host\":..,\"port\":..}})");

  // send
  hims::engine::SendOptions send;
  std::vector<std::string> send_files;
  std::string send_timeout = "10s";
  CLI::App* send_cmd =
      app.add_subcommand("send", "Send HL7 v2 messages over MLLP and print each ACK code");
  send_cmd->footer(
      "Files may hold many messages (batches, blank-line separated, comment lines, MLLP "
      "captures); segment terminators are sent as CR. One line per message on stdout: "
      "FILE#N CONTROL_ID CODE [MSA-3 text], CODE being AA AE AR CA CE CR, or `error: ...`. "
      "Exit status 0 when every message was accepted (AA or CA), 1 otherwise, 2 on bad options.");
  send_cmd->add_option("--mllp", send.mllp, "Where to send: HOST:PORT")->required();
  send_cmd->add_option("files", send_files, "Files holding one or many HL7 v2 messages")
      ->required()
      ->check(CLI::ExistingFile);
  send_cmd->add_option("--tls-ca", send.tls_ca, "CA bundle (PEM) that verifies the server: TLS")
      ->check(CLI::ExistingFile);
  send_cmd->add_option("--tls-cert", send.tls_cert, "Client certificate (PEM) for mutual TLS")
      ->check(CLI::ExistingFile);
  send_cmd->add_option("--tls-key", send.tls_key, "Private key (PEM) of --tls-cert")
      ->check(CLI::ExistingFile);
  send_cmd
      ->add_option("--timeout", send_timeout,
                   "Time-out for connecting and for each ACK (e.g. 500ms, 10s, 1m)")
      ->capture_default_str()
      ->check(DurationValidator());

  // inspect
  hims::engine::InspectOptions inspect;
  CLI::App* inspect_cmd =
      app.add_subcommand("inspect", "Print the parsed structure of HL7 v2 messages in a file");
  inspect_cmd->footer(
      "Segments and fields with their paths (PID-5, PID-5[2].1, PID-3[1].4.1), raw values and, "
      "where escapes change them, decoded values; parse errors with their location. Exit "
      "status 0 when every message parses, 1 otherwise.");
  inspect_cmd->add_option("file", inspect.file, "File holding one or many HL7 v2 messages")
      ->required()
      ->check(CLI::ExistingFile);
  inspect_cmd->add_flag("--json", inspect.json, "Print one JSON document instead of text");

  // map
  hims::engine::MapOptions map;
  CLI::App* map_cmd = app.add_subcommand(
      "map", "Run a mapping file over HL7 v2 messages and print the canonical rows");
  map_cmd->footer(
      "Prints one JSON document per message: {\"mapping\", \"rows\": [{\"id\", \"table\", "
      "\"as\", \"key\", \"rule\", \"columns\"}]}, a reference to another row as "
      "{\"ref\": \"<as>#<n>\"}. The language: docs/mappings.md. Exit status 0 when every "
      "message maps, 1 when the mapping file has errors (each printed as FILE:LINE:COLUMN: KEY: "
      "PROBLEM) or a message does not parse, is not a type the mapping takes, or does not map "
      "(the error on stderr), 2 on bad options. With --store, the rows are also written to that "
      "store (migrated first; each message in its own transaction, as `run` writes them) and "
      "stderr tells what each message created, updated and left unchanged; a row the store "
      "refuses makes the exit status 1.");
  map_cmd->add_option("mapping", map.mapping, "Mapping file (YAML)")
      ->required()
      ->check(CLI::ExistingFile);
  map_cmd->add_option("input", map.input, "File holding one or many HL7 v2 messages")
      ->required()
      ->check(CLI::ExistingFile);
  map_cmd->add_flag("--compact", map.compact, "One line of JSON per message");
  map_cmd->add_option("--store", map.store,
                      "Also write the rows to this store (sqlite:PATH or postgresql://...)");

  // check
  hims::engine::CheckOptions check;
  CLI::App* check_cmd = app.add_subcommand("check", "Validate a configuration file");
  check_cmd->footer(
      "Prints `ok`, or every error as FILE:LINE:COLUMN: KEY: PROBLEM. Also checks that the "
      "files it names (TLS) are readable and that listen ports are free. Exit status 0 when "
      "valid, 1 otherwise.");
  check_cmd->add_option("-c,--config", check.config, "Configuration file (YAML)")->required();

  // migrate
  hims::engine::MigrateOptions migrate;
  CLI::App* migrate_cmd =
      app.add_subcommand("migrate", "Apply the store's pending schema migrations");
  migrate_cmd->footer(
      "`run` applies them at start too. With neither --config nor --store: the default store "
      "(sqlite:var/hims.db). Prints each migration applied; exit status 0 when the schema is up "
      "to date, 1 when a migration failed (nothing of it is applied), 2 when the store cannot be "
      "opened.");
  add_store_options(migrate_cmd, migrate.target);
  migrate_cmd->add_flag("--status", migrate.status_only,
                        "List applied and pending migrations; apply nothing");

  // replay
  hims::engine::ReplayOptions replay;
  std::string replay_since;
  std::string replay_until;
  CLI::App* replay_cmd =
      app.add_subcommand("replay", "Process errored messages again, or queue dead letters again");
  replay_cmd->footer(
      "Messages go back to state `received` and are processed again (routes as configured now); "
      "dead letters go back to their destination queue with their attempts reset. A running "
      "engine picks them up within about a second, a stopped one at its next start. Prints one "
      "line per message or dead letter; exit status 0 when everything named was replayed, 1 "
      "when something was not (wrong state, unknown id).");
  add_store_options(replay_cmd, replay.target);
  replay_cmd->add_option("--message", replay.messages,
                         "Journal id of an errored or filtered message (repeatable)");
  replay_cmd->add_flag("--errored", replay.errored,
                       "Every errored message (see --source, --since, --until)");
  replay_cmd->add_flag("--filtered", replay.filtered,
                       "Every filtered message (see --source, --since, --until)");
  replay_cmd->add_option("--dead-letter", replay.dead_letters,
                         "Queue item id of a dead letter (repeatable)");
  replay_cmd->add_flag("--dead", replay.all_dead, "Every dead letter (see --destination)");
  replay_cmd->add_option("--source", replay.source, "Only messages from this source");
  replay_cmd->add_option("--destination", replay.destination,
                         "Only dead letters of this destination");
  replay_cmd
      ->add_option("--since", replay_since,
                   "Only messages received at or after: 2h (ago) or 2026-11-22T08:00:00Z")
      ->check(WhenValidator());
  replay_cmd
      ->add_option("--until", replay_until,
                   "Only messages received before: 30m (ago) or 2026-11-22T09:00:00Z")
      ->check(WhenValidator());
  replay_cmd->add_flag("--dry-run", replay.dry_run, "Print what would be replayed; change nothing");

  // stats
  hims::engine::StatsOptions stats;
  CLI::App* stats_cmd =
      app.add_subcommand("stats", "Print journal counts per source and state, and queue figures");
  stats_cmd->footer(
      "Read from the store, so it works whether the engine runs or not. Per source: messages "
      "received (not yet processed), processed, filtered, errored, rejected. Per destination: "
      "items pending, delivered, dead, and the age of the oldest pending item.");
  add_store_options(stats_cmd, stats.target);
  stats_cmd->add_flag("--json", stats.json, "Print one JSON document instead of tables");

  CLI::App* version_cmd = app.add_subcommand("version", "Print the version and exit");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }

  if (*run_cmd) {
    if (!run_format.empty()) {
      run.log_format = run_format == "text" ? hims::log::Format::text : hims::log::Format::json;
    }
    if (!run_level.empty())
      run.log_level = hims::log::parse_level(run_level, hims::log::Level::info);
    return hims::engine::run_command(run);
  }
  if (*send_cmd) {
    for (auto& f : send_files) send.files.emplace_back(f);
    send.timeout = *hims::engine::parse_duration(send_timeout);
    return hims::engine::send_command(send);
  }
  if (*inspect_cmd) return hims::engine::inspect_command(inspect);
  if (*map_cmd) return hims::engine::map_command(map);
  if (*check_cmd) return hims::engine::check_command(check);
  if (*migrate_cmd) return hims::engine::migrate_command(migrate);
  if (*replay_cmd) {
    if (!replay_since.empty()) replay.since = parse_when(replay_since);
    if (!replay_until.empty()) replay.until = parse_when(replay_until);
    return hims::engine::replay_command(replay);
  }
  if (*stats_cmd) return hims::engine::stats_command(stats);
  if (*version_cmd) {
    std::cout << hims::engine::version_text() << "\n";
    return 0;
  }
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_cli(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hims-engine: %s\n", e.what());
    return kExitUsage;
  }
}

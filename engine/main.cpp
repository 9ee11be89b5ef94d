// hims-engine: the command line. The only place that knows every module: it parses the options
// and hands them to one command (engine/commands.hpp). Exceptions stop here.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <iostream>
#include <map>
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

int run_cli(int argc, char** argv) {
  CLI::App app{
      "hims-engine: an HL7 v2 / FHIR / X12 integration engine.\n"
      "This version runs MLLP sources, journals each HL7 v2 message and acknowledges it."};
  app.set_version_flag("--version", hims::engine::version_text());
  app.require_subcommand(1);
  app.fallthrough(false);

  // run
  hims::engine::RunOptions run;
  std::string run_format;
  std::string run_level;
  CLI::App* run_cmd =
      app.add_subcommand("run", "Start the configured sources and acknowledge every message");
  run_cmd->footer(
      "Every message is journaled in the store (default sqlite:var/hims.db) before its ACK: "
      "AA (CA in enhanced mode, MSH-15/16 valued) for a message that parses, AR (CR) with an "
      "ERR segment for one that does not or names an unsupported version, AE (CE) with ERR 207 "
      "when it could not be stored (send it again). A duplicate within the source's "
      "duplicate_window is acknowledged again and stored once. Logs are JSON lines (or text) on "
      "stderr, without PHI. SIGINT or SIGTERM stops gracefully (exit status 0); an invalid "
      "config, a store that cannot be opened or a port that cannot be bound gives exit status "
      "2.");
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
                      "({\"pid\":..,\"sources\":{\"<id>\":{\"host\":..,\"port\":..}}})");

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

  // check
  hims::engine::CheckOptions check;
  CLI::App* check_cmd = app.add_subcommand("check", "Validate a configuration file");
  check_cmd->footer(
      "Prints `ok`, or every error as FILE:LINE:COLUMN: KEY: PROBLEM. Also checks that the "
      "files it names (TLS) are readable and that listen ports are free. Exit status 0 when "
      "valid, 1 otherwise.");
  check_cmd->add_option("-c,--config", check.config, "Configuration file (YAML)")->required();

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
  if (*check_cmd) return hims::engine::check_command(check);
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

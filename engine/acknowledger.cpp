#include "engine/acknowledger.hpp"

#include <utility>
#include <vector>

#include "hl7v2/ack.hpp"
#include "hl7v2/message.hpp"
#include "hl7v2/types.hpp"

namespace hims::engine {

namespace {

std::string base36(std::uint64_t n) {
  static constexpr char kDigits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::string out;
  do {
    out.insert(out.begin(), kDigits[n % 36]);
    n /= 36;
  } while (n != 0);
  return out;
}

// "203 Unsupported version id at MSH-12: ..." for the log (positions and codes only).
std::string describe(const hl7v2::AckError& error) {
  std::string out = std::to_string(static_cast<unsigned>(error.condition));
  const std::string_view text = hl7v2::condition_text(error.condition);
  if (!text.empty()) out.append(" ").append(text);
  if (!error.location.segment.empty()) {
    out.append(" at ").append(error.location.segment);
    if (error.location.field != 0) out.append("-").append(std::to_string(error.location.field));
  }
  if (!error.detail.empty()) out.append(": ").append(error.detail);
  return out;
}

}  // namespace

std::string control_id_prefix_for(std::chrono::system_clock::time_point start) {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(start.time_since_epoch());
  return "A" + base36(static_cast<std::uint64_t>(std::max<std::int64_t>(seconds.count(), 0)));
}

Acknowledger::Acknowledger(AckConfig ack, std::uint64_t max_message_size,
                           std::string control_id_prefix)
    : ack_(std::move(ack)),
      max_message_size_(max_message_size),
      control_id_prefix_(std::move(control_id_prefix)) {}

std::string Acknowledger::next_control_id() const {
  return control_id_prefix_ + "-" + base36(counter_.fetch_add(1, std::memory_order_relaxed) + 1);
}

hl7v2::AckOptions Acknowledger::ack_options(std::chrono::system_clock::time_point now) const {
  hl7v2::AckOptions options;
  options.sending_application = ack_.application;
  options.sending_facility = ack_.facility;
  options.timestamp = hl7v2::Timestamp::from_sys_time(
                          std::chrono::time_point_cast<std::chrono::microseconds>(now), 0)
                          .to_hl7();
  options.control_id = next_control_id();
  return options;
}

void Acknowledger::answer(Acknowledgement& out, hl7v2::AckOutcome outcome,
                          const hl7v2::AckOptions& options,
                          const std::vector<hl7v2::AckError>& errors) {
  const hl7v2::OriginalHeader& header = out.header;
  // Nothing is processed after acceptance yet, so when MSH-15 asks for no accept ack (NE, or ER
  // on success) the application ack (MSH-16) is the answer; MLLP needs one answer per message,
  // so with NE/NE the commit-level code is sent anyway.
  std::optional<hl7v2::AckCode> code = hl7v2::accept_ack_code(header, outcome);
  if (!code) code = hl7v2::application_ack_code(header, outcome);
  if (!code) code = hl7v2::ack_code(outcome, hl7v2::ack_mode(header) == hl7v2::AckMode::enhanced);
  out.ack = hl7v2::build_ack(header, *code, options, errors);
  out.code = std::string(hl7v2::to_string(*code));
  out.accepted = hl7v2::is_positive(*code);
}

Acknowledgement Acknowledger::error_ack(const Acknowledgement& original, std::string_view detail,
                                        std::chrono::system_clock::time_point now) const {
  Acknowledgement out = original;
  hl7v2::AckError error;
  error.condition = hl7v2::ErrorCondition::application_internal_error;
  error.detail = std::string(detail);
  const std::vector<hl7v2::AckError> errors{error};
  out.reason = describe(error);
  answer(out, hl7v2::AckOutcome::error, ack_options(now), errors);
  return out;
}

Result<hl7v2::MessageView> Acknowledger::parse(std::string_view message) const {
  hl7v2::ParseOptions parse_options;
  parse_options.limits.max_bytes = static_cast<std::size_t>(max_message_size_);
  return hl7v2::MessageView::parse(message, parse_options);
}

Acknowledgement Acknowledger::acknowledge(std::string_view message,
                                          const Result<hl7v2::MessageView>& parsed,
                                          std::chrono::system_clock::time_point now) const {
  Acknowledgement out;
  hl7v2::OriginalHeader header;
  std::vector<hl7v2::AckError> errors;
  if (parsed && parsed->header().name() != "MSH") {
    // One message per MLLP frame: a batch or file (BHS/FHS ...) is refused as a whole.
    header = hl7v2::OriginalHeader::recover(message);
    hl7v2::AckError error;
    error.condition = hl7v2::ErrorCondition::segment_sequence;
    error.location.segment = std::string(parsed->header().name());
    error.location.sequence = 1;
    error.detail = "a batch or file header in an MLLP frame: send one message (MSH) per frame";
    errors.push_back(error);
    out.reason = "header: " + describe(error);
  } else if (parsed) {
    header = hl7v2::OriginalHeader::from(*parsed);
    errors = hl7v2::check_header(header);
    if (!errors.empty()) out.reason = "header: " + describe(errors.front());
  } else {
    header = hl7v2::OriginalHeader::recover(message);
    errors.push_back(hl7v2::to_ack_error(parsed.error()));
    out.reason = parsed.error().message();
  }
  out.control_id = header.control_id;
  out.message_type = header.message_code;
  if (!header.trigger_event.empty()) out.message_type.append("^").append(header.trigger_event);
  out.version = header.version;
  out.message_code = header.message_code;
  out.trigger_event = header.trigger_event;
  out.sending_application = header.sending_application;
  out.sending_facility = header.sending_facility;

  const auto outcome = errors.empty() ? hl7v2::AckOutcome::accepted : hl7v2::AckOutcome::rejected;
  out.header = std::move(header);
  answer(out, outcome, ack_options(now), errors);
  return out;
}

}  // namespace hims::engine

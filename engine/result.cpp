#include "engine/result.hpp"

namespace hims {

std::string_view to_string(ErrorDomain domain) {
  switch (domain) {
    case ErrorDomain::hl7v2:
      return "hl7v2";
    case ErrorDomain::mllp:
      return "mllp";
    case ErrorDomain::config:
      return "config";
    case ErrorDomain::engine:
      return "engine";
    case ErrorDomain::io:
      return "io";
    case ErrorDomain::fhir:
      return "fhir";
    case ErrorDomain::edi:
      return "edi";
    case ErrorDomain::store:
      return "store";
  }
  return "unknown";
}

std::string Error::message() const {
  std::string out;
  out.reserve(name_.size() + where_.size() + detail_.size() + 16);
  out.append(to_string(domain_)).append(".").append(name_);
  if (!where_.empty()) out.append(" at ").append(where_);
  if (!detail_.empty()) out.append(": ").append(detail_);
  return out;
}

}  // namespace hims

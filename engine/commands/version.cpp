#include <openssl/opensslv.h>
#include <yaml-cpp/yaml.h>

#include <boost/version.hpp>

#include <string>

#include "engine/commands.hpp"

#ifndef HIMS_VERSION
#define HIMS_VERSION "0.0.0"
#endif

namespace hims::engine {

std::string version_text() {
  std::string text = "hims-engine " HIMS_VERSION "\n";
  text += "  HL7 v2 2.1 to 2.8.2 over MLLP (TLS: " OPENSSL_VERSION_TEXT ")\n";
  text += "  Boost " + std::to_string(BOOST_VERSION / 100000) + "." +
          std::to_string(BOOST_VERSION / 100 % 1000) + "." + std::to_string(BOOST_VERSION % 100);
  return text;
}

}  // namespace hims::engine

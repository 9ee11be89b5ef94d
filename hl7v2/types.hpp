// HL7 v2 data types decoded into small owning values: TS/DTM and DT (dates and times with their
// precision and UTC offset), XPN, XAD, CX, XCN, CWE/CE, HD, XON. Built from ElementViews; every
// text member is decoded UTF-8 and owns its bytes. Value types; no shared state; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/result.hpp"
#include "hl7v2/message.hpp"

namespace hims::hl7v2 {

// One primitive value (ST, ID, IS, NM, ...) taken out of a message, and how it was sent:
//   - `null` true:  the sender wrote the explicit HL7 null `""` ("delete this value"); text empty.
//   - `null` false, text empty: the value was absent or empty ("no change / not sent").
//   - otherwise: text holds the value, escapes decoded, converted to UTF-8.
struct Value {
  std::string text;
  bool null = false;

  // The first sub-component of the first component of the first repetition of `element`, at
  // whatever level `element` is (a primitive ignores extra components/sub-components, as HL7
  // asks receivers to). `null` is set when that value, or the whole element, is `""`.
  static Value from(ElementView element);

  // True when a value was sent (not empty, not the explicit null).
  bool has_value() const { return !text.empty(); }
  bool operator==(const Value&) const = default;
};

// How much of a date/time a value gives: `2024` is year, `202403051430` minute.
enum class TimePrecision : std::uint8_t { year, month, day, hour, minute, second, fraction };
std::string_view to_string(TimePrecision precision);

// DT: a calendar date at year, month or day precision. Fields beyond the precision are 1.
struct Date {
  int year = 1970;
  unsigned month = 1;
  unsigned day = 1;
  TimePrecision precision = TimePrecision::day;  // year, month or day

  // "2024", "2024-03" or "2024-03-05".
  std::string to_iso8601() const;
  // "2024", "202403" or "20240305".
  std::string to_hl7() const;
  bool operator==(const Date&) const = default;
};

// TS/DTM: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ], as written (local time of the sender).
// Fields beyond the precision are at their minimum (month/day 1, time 0).
struct Timestamp {
  int year = 1970;
  unsigned month = 1;
  unsigned day = 1;
  unsigned hour = 0;
  unsigned minute = 0;
  unsigned second = 0;
  std::uint32_t fraction = 0;        // the fraction digits as a number: ".123" -> 123
  std::uint8_t fraction_digits = 0;  // 0 (no fraction) .. 4
  TimePrecision precision = TimePrecision::second;
  std::optional<int> utc_offset_minutes;  // "+0215" -> 135, "-0500" -> -300; nullopt when absent

  // At its own precision: "2024", "2024-03", "2024-03-05", "2024-03-05T14", "2024-03-05T14:30",
  // "2024-03-05T14:30:15", "2024-03-05T14:30:15.123", followed by the offset as written
  // ("+02:00", "-05:00", "+00:00") when one is known and the precision is hour or finer. A date
  // never carries an offset (ISO 8601 has no zoned dates).
  std::string to_iso8601() const;

  // The instant, shifting by the known offset, or by `default_offset_minutes` when none is known
  // (the caller's configured zone of the sender). Missing fields count from their minimum.
  std::chrono::sys_time<std::chrono::microseconds> to_sys_time(
      int default_offset_minutes = 0) const;
  // The instant as ISO 8601 in UTC with "Z", at this value's precision (hour or finer), e.g.
  // "2024-03-05T12:30:15.123Z". A value coarser than hour is a date and is returned as
  // to_iso8601() unshifted: moving a birth date across midnight would change it.
  std::string to_utc_iso8601(int default_offset_minutes = 0) const;

  // The date part as written (local to the sender), at day precision or coarser.
  Date date() const;

  // The HL7 DTM form at this precision, with the offset when known: "20240305143015.123+0200".
  std::string to_hl7() const;

  // A timestamp for `instant` seen at `utc_offset_minutes` (the engine's own clock, for MSH-7),
  // at `precision` (second by default; fraction gives 3 digits).
  static Timestamp from_sys_time(std::chrono::sys_time<std::chrono::microseconds> instant,
                                 int utc_offset_minutes = 0,
                                 TimePrecision precision = TimePrecision::second);

  bool operator==(const Timestamp&) const = default;
};

// Parses a TS/DTM value. A trailing old-style TS degree of precision (`^S`, v2.3-2.5 TS.2) is
// ignored. Errors are Errc::bad_value at `where` (for example "PID-7"), with a detail naming
// what is wrong ("month 13 out of range 1-12") and never the value itself.
[[nodiscard]] Result<Timestamp> parse_timestamp(std::string_view raw,
                                                std::string_view where = "DTM");
// The same for an element (a field, repetition or component): uses its first component.
[[nodiscard]] Result<Timestamp> parse_timestamp(ElementView element,
                                                std::string_view where = "DTM");
// Parses a DT value: YYYY[MM[DD]]. Errors as parse_timestamp.
[[nodiscard]] Result<Date> parse_date(std::string_view raw, std::string_view where = "DT");

// HD: hierarchic designator (MSH-3/4, CX-4, CX-6 ...).
struct Hd {
  Value namespace_id;       // HD.1
  Value universal_id;       // HD.2, an OID or URI
  Value universal_id_type;  // HD.3 "ISO", "DNS", "URI" ...

  // From a field/repetition (HD in components) or a component (HD in sub-components).
  static Hd from(ElementView element);
  bool empty() const;
  bool operator==(const Hd&) const = default;
};

// FN: family name, XPN.1 / XCN.2 (sub-components from v2.5; earlier versions only the surname).
struct FamilyName {
  Value surname;                      // FN.1
  Value own_surname_prefix;           // FN.2
  Value own_surname;                  // FN.3
  Value surname_prefix_from_partner;  // FN.4
  Value surname_from_partner;         // FN.5
  bool operator==(const FamilyName&) const = default;
};

// XPN: extended person name (PID-5, NK1-2 ...).
struct Xpn {
  FamilyName family;          // XPN.1
  Value given;                // XPN.2
  Value middle;               // XPN.3 second and further given names or initials
  Value suffix;               // XPN.4 "JR", "III"
  Value prefix;               // XPN.5 "DR"
  Value degree;               // XPN.6 "MD"
  Value name_type;            // XPN.7 table 0200: "L" legal, "D" display, "M" maiden ...
  Value representation;       // XPN.8 table 4000
  Value effective_date;       // XPN.12 (DTM text; parse with parse_timestamp)
  Value expiration_date;      // XPN.13
  Value professional_suffix;  // XPN.14

  static Xpn from(ElementView element);  // a repetition, or a field's first repetition
  bool operator==(const Xpn&) const = default;
};

// XAD: extended address (PID-11 ...).
struct Xad {
  Value street;             // XAD.1.1 street or mailing address
  Value street_name;        // XAD.1.2
  Value dwelling_number;    // XAD.1.3
  Value other_designation;  // XAD.2 "Ste. 123"
  Value city;               // XAD.3
  Value state;              // XAD.4 state or province
  Value zip;                // XAD.5 zip or postal code
  Value country;            // XAD.6 ISO 3166 code
  Value address_type;       // XAD.7 table 0190: "H", "M", "B" ...
  Value other_geographic;   // XAD.8
  Value county;             // XAD.9
  Value census_tract;       // XAD.10
  Value effective_date;     // XAD.13
  Value expiration_date;    // XAD.14

  static Xad from(ElementView element);
  bool operator==(const Xad&) const = default;
};

// CX: extended composite id with check digit (PID-3 patient identifiers, PV1-19 ...).
struct Cx {
  Value id;                  // CX.1
  Value check_digit;         // CX.2
  Value check_digit_scheme;  // CX.3
  Hd assigning_authority;    // CX.4
  Value identifier_type;     // CX.5 table 0203: "MR", "SS", "PI", "NPI" ...
  Hd assigning_facility;     // CX.6
  Value effective_date;      // CX.7
  Value expiration_date;     // CX.8

  static Cx from(ElementView element);
  bool operator==(const Cx&) const = default;
};

// XCN: extended composite id and name for persons (ordering/attending providers ...).
struct Xcn {
  Value id;                  // XCN.1
  FamilyName family;         // XCN.2
  Value given;               // XCN.3
  Value middle;              // XCN.4
  Value suffix;              // XCN.5
  Value prefix;              // XCN.6
  Value degree;              // XCN.7
  Value source_table;        // XCN.8
  Hd assigning_authority;    // XCN.9
  Value name_type;           // XCN.10
  Value check_digit;         // XCN.11
  Value check_digit_scheme;  // XCN.12
  Value identifier_type;     // XCN.13 "NPI", "DN", "PRN" ...
  Hd assigning_facility;     // XCN.14

  static Xcn from(ElementView element);
  // The id when it is a US National Provider Identifier: identifier type "NPI", or assigning
  // authority "NPI" (namespace) or 2.16.840.1.113883.4.6 (the NPI OID). The id is returned as
  // sent; check it with is_valid_npi() when that matters.
  std::optional<std::string> npi() const;
  bool operator==(const Xcn&) const = default;
};

// True when `id` is 10 digits whose last is the Luhn check digit over "80840" + the first 9.
bool is_valid_npi(std::string_view id);

// CWE (and its predecessor CE, components 1-6): coded value (OBX-3, PID-10, ERR-3 ...).
struct Cwe {
  Value identifier;                       // CWE.1
  Value text;                             // CWE.2
  Value coding_system;                    // CWE.3 "LN", "SCT", "HL70005" ...
  Value alternate_identifier;             // CWE.4
  Value alternate_text;                   // CWE.5
  Value alternate_coding_system;          // CWE.6
  Value coding_system_version;            // CWE.7
  Value alternate_coding_system_version;  // CWE.8
  Value original_text;                    // CWE.9

  // From a field/repetition (components) or a component (sub-components, e.g. ELD.4).
  static Cwe from(ElementView element);
  bool operator==(const Cwe&) const = default;
};
using Ce = Cwe;

// XON: extended composite name and id for organizations (PD1-3, IN1-4 ...).
struct Xon {
  Value name;                     // XON.1
  Value name_type;                // XON.2 table 0204
  Value id_number;                // XON.3 (deprecated from v2.5 in favour of XON.10)
  Value check_digit;              // XON.4
  Value check_digit_scheme;       // XON.5
  Hd assigning_authority;         // XON.6
  Value identifier_type;          // XON.7
  Hd assigning_facility;          // XON.8
  Value organization_identifier;  // XON.10

  static Xon from(ElementView element);
  // XON.10 when valued, else XON.3.
  const Value& id() const;
  bool operator==(const Xon&) const = default;
};

// Every repetition of a field as T (T::from each repetition), in order; empty for an empty field.
template <class T>
std::vector<T> from_repetitions(ElementView field) {
  std::vector<T> out;
  const std::size_t n = field.size();
  out.reserve(n);
  for (std::size_t r = 1; r <= n; ++r) out.push_back(T::from(field.repetition(r)));
  return out;
}

}  // namespace hims::hl7v2

// HL7 v2 data types: TS/DTM and DT parsing and formatting, composite types from ElementViews.
#include "hl7v2/types.hpp"

#include <array>
#include <charconv>
#include <string>

#include "hl7v2/detail/ascii.hpp"

namespace hims::hl7v2 {
namespace {

// The i-th part (1-based) of a composite at `element`'s level: components of a field or a
// repetition, sub-components of a component; a sub-component has only itself.
ElementView part(ElementView element, std::size_t i) {
  switch (element.level()) {
    case Level::field:
    case Level::repetition:
      return element.component(i);
    case Level::component:
      return element.subcomponent(i);
    case Level::subcomponent:
      return i == 1 ? element : ElementView{};
  }
  return ElementView{};
}

Value value_at(ElementView element, std::size_t i) { return Value::from(part(element, i)); }

// FN inside a composite: its parts are sub-components when `element` is a component; when it is
// already a sub-component only the surname can be there.
FamilyName family_from(ElementView element) {
  FamilyName fn;
  if (element.level() != Level::component) {
    fn.surname = Value::from(element);
    return fn;
  }
  fn.surname = Value::from(element.subcomponent(1));
  fn.own_surname_prefix = Value::from(element.subcomponent(2));
  fn.own_surname = Value::from(element.subcomponent(3));
  fn.surname_prefix_from_partner = Value::from(element.subcomponent(4));
  fn.surname_from_partner = Value::from(element.subcomponent(5));
  if (element.is_null()) fn.surname.null = true;
  return fn;
}

// HD nested in a composite: in sub-components of one component.
Hd hd_at(ElementView element, std::size_t i) {
  ElementView p = part(element, i);
  if (p.level() == Level::component) return Hd::from(p);
  Hd hd;
  hd.namespace_id = Value::from(p);
  return hd;
}

using detail::is_digit;

unsigned digits_value(std::string_view s) {
  unsigned v = 0;
  for (char c : s) v = v * 10 + static_cast<unsigned>(c - '0');
  return v;
}

bool is_leap(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

unsigned days_in_month(int year, unsigned month) {
  static constexpr std::array<unsigned, 12> kDays = {31, 28, 31, 30, 31, 30,
                                                     31, 31, 30, 31, 30, 31};
  if (month == 2 && is_leap(year)) return 29;
  return kDays[month - 1];
}

Error bad_value(std::string_view where, std::string detail) {
  return Error(Errc::bad_value, std::string(where), std::move(detail));
}

// Checks the calendar fields present at `precision`; empty when valid.
std::string check_date(int year, unsigned month, unsigned day, TimePrecision precision) {
  if (year < 1) return "year out of range 0001-9999";
  if (precision >= TimePrecision::month && (month < 1 || month > 12)) {
    return "month out of range 01-12";
  }
  if (precision >= TimePrecision::day && (day < 1 || day > days_in_month(year, month))) {
    return "day out of range for its month";
  }
  return {};
}

// `value` in decimal, zero-padded to `width` digits ("%0*u" without printf's cost: every ACK's
// MSH-7 goes through here).
void append_number(std::string& out, unsigned value, int width) {
  std::array<char, 16> buf{};
  const char* end = std::to_chars(buf.data(), buf.data() + buf.size(), value).ptr;
  const auto digits = static_cast<int>(end - buf.data());
  if (width > digits) out.append(static_cast<std::size_t>(width - digits), '0');
  out.append(buf.data(), static_cast<std::size_t>(digits));
}

void append_offset(std::string& out, int minutes, bool with_colon) {
  out += minutes < 0 ? '-' : '+';
  const unsigned abs = static_cast<unsigned>(minutes < 0 ? -minutes : minutes);
  append_number(out, abs / 60, 2);
  if (with_colon) out += ':';
  append_number(out, abs % 60, 2);
}

struct Fields {
  int year;
  unsigned month, day, hour, minute, second;
  std::uint32_t fraction;
  std::uint8_t fraction_digits;
  TimePrecision precision;
};

std::string format_iso(const Fields& f) {
  std::string out;
  out.reserve(32);
  append_number(out, static_cast<unsigned>(f.year), 4);
  if (f.precision >= TimePrecision::month) {
    out += '-';
    append_number(out, f.month, 2);
  }
  if (f.precision >= TimePrecision::day) {
    out += '-';
    append_number(out, f.day, 2);
  }
  if (f.precision >= TimePrecision::hour) {
    out += 'T';
    append_number(out, f.hour, 2);
  }
  if (f.precision >= TimePrecision::minute) {
    out += ':';
    append_number(out, f.minute, 2);
  }
  if (f.precision >= TimePrecision::second) {
    out += ':';
    append_number(out, f.second, 2);
  }
  if (f.precision >= TimePrecision::fraction && f.fraction_digits > 0) {
    out += '.';
    append_number(out, f.fraction, f.fraction_digits);
  }
  return out;
}

// The HL7 DT/DTM digits at the precision, without an offset: "20240305143015.123".
std::string format_hl7(const Fields& f) {
  std::string out;
  out.reserve(24);
  append_number(out, static_cast<unsigned>(f.year), 4);
  if (f.precision >= TimePrecision::month) append_number(out, f.month, 2);
  if (f.precision >= TimePrecision::day) append_number(out, f.day, 2);
  if (f.precision >= TimePrecision::hour) append_number(out, f.hour, 2);
  if (f.precision >= TimePrecision::minute) append_number(out, f.minute, 2);
  if (f.precision >= TimePrecision::second) append_number(out, f.second, 2);
  if (f.precision >= TimePrecision::fraction && f.fraction_digits > 0) {
    out += '.';
    append_number(out, f.fraction, f.fraction_digits);
  }
  return out;
}

constexpr std::array<std::uint32_t, 7> kPow10 = {1, 10, 100, 1000, 10000, 100000, 1000000};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 'a' + 'A');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

// ---- Value ---------------------------------------------------------------------------------

Value Value::from(ElementView element) {
  const ElementView leaf = element.first_leaf();
  Value v;
  v.null = element.is_null() || leaf.is_null();
  if (!v.null) v.text = leaf.decoded();
  return v;
}

// ---- Dates and times -----------------------------------------------------------------------

std::string_view to_string(TimePrecision precision) {
  switch (precision) {
    case TimePrecision::year:
      return "year";
    case TimePrecision::month:
      return "month";
    case TimePrecision::day:
      return "day";
    case TimePrecision::hour:
      return "hour";
    case TimePrecision::minute:
      return "minute";
    case TimePrecision::second:
      return "second";
    case TimePrecision::fraction:
      return "fraction";
  }
  return "unknown";
}

std::string Date::to_iso8601() const {
  return format_iso(Fields{year, month, day, 0, 0, 0, 0, 0, precision});
}

std::string Date::to_hl7() const {
  return format_hl7(Fields{year, month, day, 0, 0, 0, 0, 0, precision});
}

Result<Date> parse_date(std::string_view raw, std::string_view where) {
  if (raw.empty()) return bad_value(where, "empty date");
  std::size_t digits = 0;
  while (digits < raw.size() && is_digit(raw[digits])) ++digits;
  if (digits != raw.size()) {
    return bad_value(where, "unexpected character at offset " + std::to_string(digits) +
                                " (a date is YYYY[MM[DD]])");
  }
  if (digits != 4 && digits != 6 && digits != 8) {
    return bad_value(where, "a date has 4, 6 or 8 digits, not " + std::to_string(digits));
  }
  Date d;
  d.year = static_cast<int>(digits_value(raw.substr(0, 4)));
  d.precision =
      digits == 4 ? TimePrecision::year : (digits == 6 ? TimePrecision::month : TimePrecision::day);
  if (digits >= 6) d.month = digits_value(raw.substr(4, 2));
  if (digits >= 8) d.day = digits_value(raw.substr(6, 2));
  if (std::string problem = check_date(d.year, d.month, d.day, d.precision); !problem.empty()) {
    return bad_value(where, std::move(problem));
  }
  return d;
}

Result<Timestamp> parse_timestamp(std::string_view raw, std::string_view where) {
  // v2.3-2.5 TS.2 (degree of precision) is deprecated and ignored.
  if (const auto caret = raw.find('^'); caret != std::string_view::npos) {
    raw = raw.substr(0, caret);
  }
  if (raw.empty()) return bad_value(where, "empty date/time");
  std::size_t pos = 0;
  while (pos < raw.size() && is_digit(raw[pos])) ++pos;
  const std::size_t digits = pos;
  if (digits < 4 || digits > 14 || digits % 2 != 0) {
    return bad_value(where,
                     "a date/time has 4, 6, 8, 10, 12 or 14 digits before any fraction or "
                     "offset, not " +
                         std::to_string(digits));
  }
  Timestamp ts;
  ts.year = static_cast<int>(digits_value(raw.substr(0, 4)));
  if (digits >= 6) ts.month = digits_value(raw.substr(4, 2));
  if (digits >= 8) ts.day = digits_value(raw.substr(6, 2));
  if (digits >= 10) ts.hour = digits_value(raw.substr(8, 2));
  if (digits >= 12) ts.minute = digits_value(raw.substr(10, 2));
  if (digits >= 14) ts.second = digits_value(raw.substr(12, 2));
  static constexpr std::array<TimePrecision, 6> kByDigits = {
      TimePrecision::year, TimePrecision::month,  TimePrecision::day,
      TimePrecision::hour, TimePrecision::minute, TimePrecision::second};
  ts.precision = kByDigits[(digits - 4) / 2];

  if (pos < raw.size() && raw[pos] == '.') {
    if (digits != 14) return bad_value(where, "a fraction of a second needs the seconds");
    const std::size_t begin = ++pos;
    while (pos < raw.size() && is_digit(raw[pos])) ++pos;
    const std::size_t n = pos - begin;
    if (n < 1 || n > 4) {
      return bad_value(where, "a fraction of a second has 1 to 4 digits, not " + std::to_string(n));
    }
    ts.fraction = digits_value(raw.substr(begin, n));
    ts.fraction_digits = static_cast<std::uint8_t>(n);
    ts.precision = TimePrecision::fraction;
  }
  if (pos < raw.size() && (raw[pos] == '+' || raw[pos] == '-')) {
    const bool negative = raw[pos] == '-';
    const std::size_t begin = ++pos;
    while (pos < raw.size() && is_digit(raw[pos])) ++pos;
    if (pos - begin != 4) return bad_value(where, "a UTC offset is +HHMM or -HHMM");
    const unsigned hh = digits_value(raw.substr(begin, 2));
    const unsigned mm = digits_value(raw.substr(begin + 2, 2));
    if (mm > 59) return bad_value(where, "UTC offset minutes out of range 00-59");
    const int total = static_cast<int>(hh * 60 + mm);
    if (total > 14 * 60) return bad_value(where, "UTC offset out of range -14:00..+14:00");
    ts.utc_offset_minutes = negative ? -total : total;
  }
  if (pos != raw.size()) {
    return bad_value(where, "unexpected character at offset " + std::to_string(pos));
  }
  if (std::string problem = check_date(ts.year, ts.month, ts.day, ts.precision); !problem.empty()) {
    return bad_value(where, std::move(problem));
  }
  if (ts.hour > 23) return bad_value(where, "hour out of range 00-23");
  if (ts.minute > 59) return bad_value(where, "minute out of range 00-59");
  if (ts.second > 59) return bad_value(where, "second out of range 00-59");
  return ts;
}

Result<Timestamp> parse_timestamp(ElementView element, std::string_view where) {
  const ElementView first = element.first_leaf();
  if (first.is_null()) return bad_value(where, "explicit null instead of a date/time");
  return parse_timestamp(std::string_view(first.decoded()), where);
}

std::string Timestamp::to_iso8601() const {
  std::string out = format_iso(
      Fields{year, month, day, hour, minute, second, fraction, fraction_digits, precision});
  if (utc_offset_minutes && precision >= TimePrecision::hour) {
    append_offset(out, *utc_offset_minutes, true);
  }
  return out;
}

std::chrono::sys_time<std::chrono::microseconds> Timestamp::to_sys_time(
    int default_offset_minutes) const {
  using namespace std::chrono;
  const sys_days date_part{
      year_month_day{std::chrono::year{year}, std::chrono::month{month}, std::chrono::day{day}}};
  const std::uint8_t digits = fraction_digits > 6 ? 6 : fraction_digits;
  const std::int64_t micros =
      digits == 0 ? 0 : static_cast<std::int64_t>(fraction) * kPow10[6 - digits];
  sys_time<microseconds> t = date_part;
  t += hours{hour} + minutes{minute} + seconds{second} + microseconds{micros};
  t -= minutes{utc_offset_minutes.value_or(default_offset_minutes)};
  return t;
}

std::string Timestamp::to_utc_iso8601(int default_offset_minutes) const {
  if (precision < TimePrecision::hour) return to_iso8601();
  using namespace std::chrono;
  const auto t = to_sys_time(default_offset_minutes);
  const auto days_part = floor<days>(t);
  const year_month_day ymd{days_part};
  const hh_mm_ss<microseconds> tod{t - days_part};
  const std::uint8_t digits = fraction_digits > 6 ? 6 : fraction_digits;
  const auto micros = static_cast<std::uint32_t>(tod.subseconds().count());
  Fields f{static_cast<int>(ymd.year()),
           static_cast<unsigned>(ymd.month()),
           static_cast<unsigned>(ymd.day()),
           static_cast<unsigned>(tod.hours().count()),
           static_cast<unsigned>(tod.minutes().count()),
           static_cast<unsigned>(tod.seconds().count()),
           digits == 0 ? 0 : micros / kPow10[6 - digits],
           digits,
           precision};
  return format_iso(f) + 'Z';
}

Date Timestamp::date() const {
  Date d;
  d.year = year;
  d.month = month;
  d.day = day;
  d.precision = precision < TimePrecision::day ? precision : TimePrecision::day;
  return d;
}

std::string Timestamp::to_hl7() const {
  std::string out = format_hl7(
      Fields{year, month, day, hour, minute, second, fraction, fraction_digits, precision});
  if (utc_offset_minutes) append_offset(out, *utc_offset_minutes, false);
  return out;
}

Timestamp Timestamp::from_sys_time(std::chrono::sys_time<std::chrono::microseconds> instant,
                                   int utc_offset_minutes, TimePrecision precision) {
  using namespace std::chrono;
  const auto local = instant + minutes{utc_offset_minutes};
  const auto days_part = floor<days>(local);
  const year_month_day ymd{days_part};
  const hh_mm_ss<microseconds> tod{local - days_part};
  Timestamp ts;
  ts.precision = precision;
  ts.utc_offset_minutes = utc_offset_minutes;
  ts.year = static_cast<int>(ymd.year());
  if (precision >= TimePrecision::month) ts.month = static_cast<unsigned>(ymd.month());
  if (precision >= TimePrecision::day) ts.day = static_cast<unsigned>(ymd.day());
  if (precision >= TimePrecision::hour) ts.hour = static_cast<unsigned>(tod.hours().count());
  if (precision >= TimePrecision::minute) ts.minute = static_cast<unsigned>(tod.minutes().count());
  if (precision >= TimePrecision::second) ts.second = static_cast<unsigned>(tod.seconds().count());
  if (precision >= TimePrecision::fraction) {
    ts.fraction = static_cast<std::uint32_t>(tod.subseconds().count() / 1000);
    ts.fraction_digits = 3;
  }
  return ts;
}

// ---- Composite types -----------------------------------------------------------------------

Hd Hd::from(ElementView element) {
  if (element.level() == Level::subcomponent) {
    Hd hd;
    hd.namespace_id = Value::from(element);
    return hd;
  }
  return Hd{value_at(element, 1), value_at(element, 2), value_at(element, 3)};
}

bool Hd::empty() const {
  return !namespace_id.has_value() && !universal_id.has_value() && !universal_id_type.has_value();
}

Xpn Xpn::from(ElementView element) {
  Xpn x;
  x.family = family_from(part(element, 1));
  x.given = value_at(element, 2);
  x.middle = value_at(element, 3);
  x.suffix = value_at(element, 4);
  x.prefix = value_at(element, 5);
  x.degree = value_at(element, 6);
  x.name_type = value_at(element, 7);
  x.representation = value_at(element, 8);
  x.effective_date = value_at(element, 12);
  x.expiration_date = value_at(element, 13);
  x.professional_suffix = value_at(element, 14);
  return x;
}

Xad Xad::from(ElementView element) {
  Xad a;
  const ElementView sad = part(element, 1);
  if (sad.level() == Level::component) {
    a.street = Value::from(sad.subcomponent(1));
    a.street_name = Value::from(sad.subcomponent(2));
    a.dwelling_number = Value::from(sad.subcomponent(3));
    if (sad.is_null()) a.street.null = true;
  } else {
    a.street = Value::from(sad);
  }
  a.other_designation = value_at(element, 2);
  a.city = value_at(element, 3);
  a.state = value_at(element, 4);
  a.zip = value_at(element, 5);
  a.country = value_at(element, 6);
  a.address_type = value_at(element, 7);
  a.other_geographic = value_at(element, 8);
  a.county = value_at(element, 9);
  a.census_tract = value_at(element, 10);
  a.effective_date = value_at(element, 13);
  a.expiration_date = value_at(element, 14);
  return a;
}

Cx Cx::from(ElementView element) {
  Cx c;
  c.id = value_at(element, 1);
  c.check_digit = value_at(element, 2);
  c.check_digit_scheme = value_at(element, 3);
  c.assigning_authority = hd_at(element, 4);
  c.identifier_type = value_at(element, 5);
  c.assigning_facility = hd_at(element, 6);
  c.effective_date = value_at(element, 7);
  c.expiration_date = value_at(element, 8);
  return c;
}

Xcn Xcn::from(ElementView element) {
  Xcn x;
  x.id = value_at(element, 1);
  x.family = family_from(part(element, 2));
  x.given = value_at(element, 3);
  x.middle = value_at(element, 4);
  x.suffix = value_at(element, 5);
  x.prefix = value_at(element, 6);
  x.degree = value_at(element, 7);
  x.source_table = value_at(element, 8);
  x.assigning_authority = hd_at(element, 9);
  x.name_type = value_at(element, 10);
  x.check_digit = value_at(element, 11);
  x.check_digit_scheme = value_at(element, 12);
  x.identifier_type = value_at(element, 13);
  x.assigning_facility = hd_at(element, 14);
  return x;
}

std::optional<std::string> Xcn::npi() const {
  if (!id.has_value()) return std::nullopt;
  if (iequals(identifier_type.text, "NPI") ||
      iequals(assigning_authority.namespace_id.text, "NPI") ||
      assigning_authority.universal_id.text == "2.16.840.1.113883.4.6") {
    return id.text;
  }
  return std::nullopt;
}

bool is_valid_npi(std::string_view id) {
  if (id.size() != 10) return false;
  for (char c : id) {
    if (!is_digit(c)) return false;
  }
  // Luhn over "80840" + the 10 digits (the ISO card-issuer prefix for US health).
  const std::string digits = std::string("80840") + std::string(id);
  unsigned sum = 0;
  bool twice = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    unsigned d = static_cast<unsigned>(*it - '0');
    if (twice) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

Cwe Cwe::from(ElementView element) {
  Cwe c;
  c.identifier = value_at(element, 1);
  c.text = value_at(element, 2);
  c.coding_system = value_at(element, 3);
  c.alternate_identifier = value_at(element, 4);
  c.alternate_text = value_at(element, 5);
  c.alternate_coding_system = value_at(element, 6);
  c.coding_system_version = value_at(element, 7);
  c.alternate_coding_system_version = value_at(element, 8);
  c.original_text = value_at(element, 9);
  return c;
}

Xon Xon::from(ElementView element) {
  Xon x;
  x.name = value_at(element, 1);
  x.name_type = value_at(element, 2);
  x.id_number = value_at(element, 3);
  x.check_digit = value_at(element, 4);
  x.check_digit_scheme = value_at(element, 5);
  x.assigning_authority = hd_at(element, 6);
  x.identifier_type = value_at(element, 7);
  x.assigning_facility = hd_at(element, 8);
  x.organization_identifier = value_at(element, 10);
  return x;
}

const Value& Xon::id() const {
  return organization_identifier.has_value() ? organization_identifier : id_number;
}

}  // namespace hims::hl7v2

// The mapping interpreter's apply(): walks one parsed message with a compiled Program and
// produces canonical rows. Allocates only the output (rows, values) and one small vector of
// current row indices per call.
#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>

#include "engine/log.hpp"
#include "engine/mapping_program.hpp"
#include "hl7v2/types.hpp"

namespace hims::engine::mapping_detail {
namespace {

using hl7v2::ElementView;
using hl7v2::Level;
using hl7v2::MessageView;
using hl7v2::Path;

ElementView below_repetition(ElementView e, const Path& path) {
  if (path.component == Path::kUnset) return e;
  e = e.component(path.component);
  if (path.subcomponent == Path::kUnset) return e;
  return e.subcomponent(path.subcomponent);
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

void apply_transforms(const std::vector<Transform>& transforms, std::string& text) {
  for (const Transform t : transforms) {
    switch (t) {
      case Transform::trim: {
        std::size_t b = 0;
        std::size_t e = text.size();
        while (b < e && is_space(text[b])) ++b;
        while (e > b && is_space(text[e - 1])) --e;
        if (b != 0 || e != text.size()) text = text.substr(b, e - b);
        break;
      }
      case Transform::upper:
        for (char& c : text) {
          if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        }
        break;
      case Transform::lower:
        for (char& c : text) {
          if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        }
        break;
    }
  }
}

// Text form of a value inside concat.
void append_text(std::string& out, const MappedValue& v) {
  switch (v.kind) {
    case MappedValue::Kind::null:
    case MappedValue::Kind::ref:
      break;
    case MappedValue::Kind::integer:
      out.append(std::to_string(v.integer));
      break;
    case MappedValue::Kind::boolean:
      out.append(v.integer != 0 ? "true" : "false");
      break;
    default:
      out.append(v.text);
      break;
  }
}

void append_json_value(std::string& out, const MappedValue& v) {
  switch (v.kind) {
    case MappedValue::Kind::null:
    case MappedValue::Kind::ref:
      out.append("null");
      break;
    case MappedValue::Kind::integer:
      out.append(std::to_string(v.integer));
      break;
    case MappedValue::Kind::boolean:
      out.append(v.integer != 0 ? "true" : "false");
      break;
    case MappedValue::Kind::json:
      out.append(v.text);
      break;
    default:
      log::append_json_string(out, v.text);
      break;
  }
}

std::string bytes_text(std::size_t n) {
  return "(" + std::to_string(n) + (n == 1 ? " byte)" : " bytes)");
}

class Runner {
 public:
  Runner(const Program& program, const MessageView& message, MappedMessage& out)
      : p_(program), m_(message), out_(out), current_(program.entities.size(), -1) {}

  Status run_list(const std::vector<std::uint32_t>& ids) {
    for (const std::uint32_t id : ids) {
      if (Status s = run_entity(id); !s) return s;
    }
    return {};
  }

 private:
  struct Frame {
    bool segment_loop = true;
    std::size_t segment = 0;  // the loop's current segment (or the segment of the repeated field)
    std::size_t scope_begin = 0;  // segments nested loops look at: [scope_begin, scope_end)
    std::size_t scope_end = 0;
    ElementView repetition;     // repetition loops
    std::uint32_t ordinal = 0;  // repetition number, 1-based
    const Entity* entity = nullptr;
  };

  std::size_t next_segment(std::string_view name, std::size_t from, std::size_t end) const {
    for (std::size_t i = from; i < end; ++i) {
      if (m_.segment(i).name() == name) return i;
    }
    return end;
  }

  void scope_of(std::uint8_t frame, std::size_t& begin, std::size_t& end) const {
    if (frame == 0) {
      begin = 0;
      end = m_.segment_count();
    } else {
      begin = frames_[frame - 1].scope_begin;
      end = frames_[frame - 1].scope_end;
    }
  }

  // The segment a path names (message or loop anchor); false when the message has none.
  bool segment_of(const PathExpr& pe, std::size_t& index) const {
    if (pe.anchor == PathExpr::Anchor::message) {
      if (pe.scoped) {  // the current group of the innermost segment loop that has one
        for (int f = pe.frame; f >= 0; --f) {
          const Frame& frame = frames_[static_cast<std::size_t>(f)];
          if (!frame.segment_loop) continue;
          const std::size_t i = next_segment(pe.path.segment, frame.scope_begin, frame.scope_end);
          if (i < frame.scope_end) {
            index = i;
            return true;
          }
        }
      }
      const std::uint32_t occ = pe.path.occurrence == Path::kAll ? 1 : pe.path.occurrence;
      auto seg = m_.find(pe.path.segment, occ);
      if (!seg) return false;
      index = seg->index();
      return true;
    }
    index = frames_[pe.frame].segment;
    return true;
  }

  ElementView resolve(const PathExpr& pe) const {
    if (pe.anchor == PathExpr::Anchor::repetition) {
      return below_repetition(frames_[pe.frame].repetition, pe.path);
    }
    std::size_t index = 0;
    if (!segment_of(pe, index)) return {};
    return pe.path.in_field(m_.segment(index).field(pe.path.field));
  }

  // Every element a [*] path selects, in message order.
  template <class F>
  void resolve_many(const PathExpr& pe, F&& each) const {
    auto in_segment = [&](std::size_t index) {
      const ElementView field = m_.segment(index).field(pe.path.field);
      if (pe.path.repetition == Path::kAll) {
        for (const ElementView rep : field.children()) each(below_repetition(rep, pe.path));
      } else {
        each(pe.path.in_field(field));
      }
    };
    if (pe.anchor == PathExpr::Anchor::repetition) {
      each(resolve(pe));
    } else if (pe.anchor == PathExpr::Anchor::message && pe.path.occurrence == Path::kAll) {
      for (std::size_t i = 0; i < m_.segment_count(); ++i) {
        if (m_.segment(i).name() == pe.path.segment) in_segment(i);
      }
    } else {
      std::size_t index = 0;
      if (segment_of(pe, index)) in_segment(index);
    }
  }

  // The message position a path names now, for errors: "OBX[3]-5", "PID-3[2].4.1".
  std::string position(const PathExpr& pe) const {
    if (pe.anchor == PathExpr::Anchor::message) return pe.text;
    const Frame& f = frames_[pe.frame];
    if (pe.anchor == PathExpr::Anchor::segment) {
      const auto seg = m_.segment(f.segment);
      return std::string(seg.name()) + "[" + std::to_string(seg.occurrence()) + "]" +
             pe.text.substr(pe.path.segment.size());
    }
    std::string base = position(f.entity->loop_path);
    if (const auto star = base.find("[*]"); star != std::string::npos) {
      base.replace(star, 3, "[" + std::to_string(f.ordinal) + "]");
    }
    return base + pe.text;
  }

  Error fail(MappingErrc code, const Entity& en, const Expr& e, std::string detail) const {
    return Error(code, e.rule + " " + en.as + "." + e.name, std::move(detail));
  }

  bool holds(const Condition& c) {
    switch (c.op) {
      case Condition::Op::all:
        return std::all_of(c.children.begin(), c.children.end(),
                           [&](const Condition& x) { return holds(x); });
      case Condition::Op::any:
        return std::any_of(c.children.begin(), c.children.end(),
                           [&](const Condition& x) { return holds(x); });
      case Condition::Op::not_:
        return !holds(c.children.front());
      default:
        break;
    }
    bool any = false;
    auto test = [&](const ElementView& element) {
      if (any) return;
      if (c.op == Condition::Op::exists || c.op == Condition::Op::not_exists) {
        any = element.has_value();
        return;
      }
      const ElementView leaf = element.first_leaf();
      if (leaf.empty() || element.is_null() || leaf.is_null()) return;
      const std::string_view text = leaf.decoded_view(scratch_);
      switch (c.op) {
        case Condition::Op::equals:
        case Condition::Op::not_equals:
          any = text == c.values.front();
          break;
        case Condition::Op::in:
          any = std::find(c.values.begin(), c.values.end(), text) != c.values.end();
          break;
        case Condition::Op::matches:
          any = c.pattern.matches(text);
          break;
        default:
          break;
      }
    };
    if (c.path.many) {
      resolve_many(c.path, test);
    } else {
      test(resolve(c.path));
    }
    return (c.op == Condition::Op::not_equals || c.op == Condition::Op::not_exists) ? !any : any;
  }

  // Transforms, code table and type on a present text value.
  Status finish_text(const Entity& en, const Expr& e, std::string text, const PathExpr* where,
                     MappedValue& out, bool& present_out) {
    apply_transforms(e.transforms, text);
    if (text.empty()) return {};
    // The position is only spelled out for an error (it scans for the segment's occurrence).
    auto at = [&] { return where != nullptr ? position(*where) : std::string("the value"); };
    if (e.table != nullptr) {
      const auto& entries = e.table->entries;
      const auto it = std::lower_bound(
          entries.begin(), entries.end(), text,
          [](const CodeTable::Entry& entry, const std::string& t) { return entry.code < t; });
      if (it != entries.end() && it->code == text) {
        out = e.code_values[static_cast<std::size_t>(it - entries.begin())];
        present_out = true;
        return {};
      }
      if (e.table->strict) {
        return fail(MappingErrc::unknown_code, en, e,
                    at() + " " + bytes_text(text.size()) + " is not a code of table `" +
                        e.table->name + "` (strict)");
      }
      if (e.code_default) {
        out = *e.code_default;
        present_out = true;
      }
      return {};
    }
    if (e.type == ValueType::text) {  // the common case: move, no copy
      out = MappedValue::of(MappedValue::Kind::text, std::move(text));
      present_out = true;
      return {};
    }
    const std::string problem = convert(text, e.type, p_.default_offset_minutes, out);
    if (!problem.empty()) {
      return fail(MappingErrc::bad_value, en, e,
                  at() + " " + bytes_text(text.size()) + " " + problem);
    }
    present_out = true;
    return {};
  }

  Status eval(const Entity& en, const Expr& e, MappedValue& out, bool& present_out) {
    present_out = false;
    if (e.when && !holds(*e.when)) return {};
    switch (e.source) {
      case Expr::Source::literal:
        out = e.literal;
        present_out = true;
        break;
      case Expr::Source::ref: {
        const std::int32_t row = current_[e.ref];
        if (row >= 0) {
          out = MappedValue::of_ref(static_cast<std::size_t>(row));
          present_out = true;
        } else if (e.required) {
          return fail(MappingErrc::missing_value, en, e,
                      "refers to `" + p_.entities[e.ref].as + "`, which made no row here");
        }
        return {};
      }
      case Expr::Source::path: {
        std::string text;
        bool found = false;
        if (e.join) {
          resolve_many(e.path, [&](const ElementView& element) {
            const ElementView leaf = element.first_leaf();
            if (leaf.empty() || element.is_null() || leaf.is_null()) return;
            if (found) text.append(*e.join);
            leaf.decode_to(text);
            found = true;
          });
        } else {
          const ElementView element = resolve(e.path);
          const ElementView leaf = element.first_leaf();
          if (element.is_null() || leaf.is_null()) {
            out = MappedValue::null_value();
            present_out = true;
            return {};
          }
          if (!leaf.empty()) {
            leaf.decode_to(text);
            found = true;
          }
        }
        if (found) {
          if (Status s = finish_text(en, e, std::move(text), &e.path, out, present_out); !s) {
            return s;
          }
        }
        break;
      }
      case Expr::Source::concat: {
        std::string text;
        bool any = false;
        bool has_source = false;
        for (const Expr& part : e.parts) {
          MappedValue v;
          bool p = false;
          if (Status s = eval(en, part, v, p); !s) return s;
          if (part.source != Expr::Source::literal) has_source = true;
          if (!p) continue;
          if (part.source != Expr::Source::literal && v.kind != MappedValue::Kind::null) any = true;
          append_text(text, v);
        }
        if (any || !has_source) {
          if (Status s = finish_text(en, e, std::move(text), nullptr, out, present_out); !s) {
            return s;
          }
        }
        break;
      }
      case Expr::Source::first: {
        // The first part present and not null; NULL when the present ones are all null.
        bool null_seen = false;
        for (const Expr& part : e.parts) {
          MappedValue v;
          bool p = false;
          if (Status s = eval(en, part, v, p); !s) return s;
          if (!p) continue;
          if (v.kind == MappedValue::Kind::null) {
            null_seen = true;
            continue;
          }
          std::string text;
          append_text(text, v);
          if (Status s = finish_text(en, e, std::move(text), nullptr, out, present_out); !s) {
            return s;
          }
          if (present_out) break;
        }
        if (!present_out && null_seen) {
          out = MappedValue::null_value();
          present_out = true;
          return {};
        }
        break;
      }
      case Expr::Source::json: {
        std::string text = "{";
        bool any = false;
        for (std::size_t i = 0; i < e.parts.size(); ++i) {
          MappedValue v;
          bool p = false;
          if (Status s = eval(en, e.parts[i], v, p); !s) return s;
          if (!p) continue;
          if (any) text.push_back(',');
          text.append(e.member_keys[i]);
          append_json_value(text, v);
          any = true;
        }
        if (any) {
          text.push_back('}');
          out = MappedValue::of(MappedValue::Kind::json, std::move(text));
          present_out = true;
        }
        break;
      }
    }
    if (!present_out && e.fallback) {
      out = *e.fallback;
      present_out = true;
    }
    if (!present_out && e.insert_fallback) {
      out = *e.insert_fallback;
      present_out = true;
      insert_default_used_ = true;
    }
    if (!present_out && e.required) {
      const std::string what =
          e.source == Expr::Source::path ? position(e.path) + " is empty" : "the value is empty";
      return fail(MappingErrc::missing_value, en, e, what + " and the column is required");
    }
    return {};
  }

  Status run_instance(std::uint32_t id) {
    const Entity& en = p_.entities[id];
    if (en.when && !holds(*en.when)) return {};
    if (en.group) return run_list(en.children);  // no row: its loop scopes the nested ones
    // Built in place; nested entities (which append rows) run only once it is complete.
    const std::size_t index = out_.rows.size();
    MappedRow& row = out_.rows.emplace_back();
    row.as = en.as;
    row.table = en.table;
    row.key = en.key;
    row.key_any = en.key_any;
    row.key_alternatives = en.key_alternatives;
    row.rule = en.rule;
    row.columns.reserve(en.columns.size());
    for (const Expr& column : en.columns) {
      auto& slot = row.columns.emplace_back(column.name, MappedValue{});
      bool p = false;
      insert_default_used_ = false;
      if (Status s = eval(en, column, slot.second, p); !s) return s;
      if (!p) {
        row.columns.pop_back();
      } else if (insert_default_used_) {
        row.insert_only.push_back(column.name);
      }
    }
    current_[id] = static_cast<std::int32_t>(index);
    return run_list(en.children);
  }

  Status run_entity(std::uint32_t id) {
    const Entity& en = p_.entities[id];
    switch (en.loop) {
      case Entity::Loop::none:
        current_[id] = -1;
        return run_instance(id);
      case Entity::Loop::segments: {
        std::size_t begin = 0;
        std::size_t end = 0;
        scope_of(en.frame, begin, end);
        std::size_t i = next_segment(en.loop_segment, begin, end);
        while (i < end) {
          const std::size_t next = next_segment(en.loop_segment, i + 1, end);
          Frame& f = frames_[en.frame];
          f.segment_loop = true;
          f.segment = i;
          f.scope_begin = i + 1;
          f.scope_end = next;
          f.entity = &en;
          current_[id] = -1;
          if (Status s = run_instance(id); !s) return s;
          i = next;
        }
        current_[id] = -1;
        return {};
      }
      case Entity::Loop::repetitions: {
        std::size_t index = 0;
        if (!segment_of(en.loop_path, index)) return {};
        std::size_t begin = 0;
        std::size_t end = 0;
        scope_of(en.frame, begin, end);
        const ElementView field = m_.segment(index).field(en.loop_path.path.field);
        std::uint32_t ordinal = 0;
        for (const ElementView rep : field.children()) {
          ++ordinal;
          if (!rep.has_value()) continue;
          Frame& f = frames_[en.frame];
          f.segment_loop = false;
          f.segment = index;
          f.scope_begin = begin;
          f.scope_end = end;
          f.repetition = rep;
          f.ordinal = ordinal;
          f.entity = &en;
          current_[id] = -1;
          if (Status s = run_instance(id); !s) return s;
        }
        current_[id] = -1;
        return {};
      }
    }
    return {};
  }

  const Program& p_;
  const MessageView& m_;
  MappedMessage& out_;
  std::vector<std::int32_t> current_;  // per entity: its row in the current scope, -1 for none
  bool insert_default_used_ = false;   // the column being evaluated took its insert_default
  std::array<Frame, kMaxLoopDepth> frames_{};
  std::string scratch_;
};

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
    if (x != b[i]) return false;
  }
  return true;
}

// `value` in `width` digits, zero-padded.
void append_digits(std::string& out, unsigned value, int width) {
  char buf[10];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(buf, static_cast<std::size_t>(width));
}

// YYYY-MM-DD; a year outside 0-9999 (a time zone shift past year 0 or 9999) keeps its sign.
void append_date(std::string& out, int year, unsigned month, unsigned day) {
  if (year >= 0 && year <= 9999) {
    append_digits(out, static_cast<unsigned>(year), 4);
  } else {
    out.append(std::to_string(year));
  }
  out.push_back('-');
  append_digits(out, month, 2);
  out.push_back('-');
  append_digits(out, day, 2);
}

}  // namespace

std::string convert(std::string_view text, ValueType type, int default_offset_minutes,
                    MappedValue& out) {
  switch (type) {
    case ValueType::text:
      out = MappedValue::of(MappedValue::Kind::text, std::string(text));
      return {};
    case ValueType::integer: {
      std::string_view digits = text;
      if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
      std::int64_t v = 0;
      const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (digits.empty() || (digits.front() == '-' && text.front() == '+') || ec != std::errc() ||
          ptr != digits.data() + digits.size()) {
        return ec == std::errc::result_out_of_range
                   ? "is a whole number out of the 64-bit range"
                   : "is not a whole number (an optional sign and digits)";
      }
      out = MappedValue::of_integer(v);
      return {};
    }
    case ValueType::decimal: {
      std::size_t i = 0;
      if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
      std::size_t int_digits = 0;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i, ++int_digits;
      std::size_t frac_digits = 0;
      if (i < text.size() && text[i] == '.') {
        ++i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i, ++frac_digits;
      }
      if (i != text.size() || int_digits + frac_digits == 0) {
        return "is not a decimal number (an optional sign, digits, an optional '.' and digits)";
      }
      out = MappedValue::of(MappedValue::Kind::decimal, std::string(text));
      return {};
    }
    case ValueType::boolean: {
      for (const std::string_view yes : {"Y", "YES", "T", "TRUE", "1"}) {
        if (equals_ignoring_case(text, yes)) {
          out = MappedValue::of_bool(true);
          return {};
        }
      }
      for (const std::string_view no : {"N", "NO", "F", "FALSE", "0"}) {
        if (equals_ignoring_case(text, no)) {
          out = MappedValue::of_bool(false);
          return {};
        }
      }
      return "is not a yes/no value (Y, N, true, false, 1, 0)";
    }
    case ValueType::date: {
      auto ts = hl7v2::parse_timestamp(text, "date");
      if (!ts) return "is not an HL7 date (YYYYMMDD): " + ts.error().detail();
      if (ts->precision < hl7v2::TimePrecision::day) {
        return "is a date without its day (a date column needs YYYYMMDD)";
      }
      std::string d;
      append_date(d, ts->year, ts->month, ts->day);
      out = MappedValue::of(MappedValue::Kind::date, std::move(d));
      return {};
    }
    case ValueType::timestamp: {
      auto ts = hl7v2::parse_timestamp(text, "timestamp");
      if (!ts) {
        return "is not an HL7 date/time (YYYYMMDD[HHMM[SS[.S+]]][+/-ZZZZ]): " + ts.error().detail();
      }
      out = MappedValue::of(MappedValue::Kind::timestamp,
                            hims::engine::utc_timestamp_text(
                                ts->to_sys_time(default_offset_minutes), ts->fraction_digits > 0));
      return {};
    }
    case ValueType::json:
      return "is text; a json column is built with json: {...}";
  }
  return "has an unknown type";
}

Result<MappedMessage> apply_program(const std::shared_ptr<const Program>& program,
                                    const hl7v2::MessageView& message) {
  MappedMessage out;
  out.mapping = program->name;
  out.owner = program;
  // Rows come from entities and loops over segments: enough for most messages at once.
  out.rows.reserve(program->entities.size() + message.segment_count());
  Runner runner(*program, message, out);
  if (Status s = runner.run_list(program->roots); !s) return s.take_error();
  return out;
}

}  // namespace hims::engine::mapping_detail

namespace hims::engine {

std::string utc_timestamp_text(std::chrono::sys_time<std::chrono::microseconds> t,
                               bool with_fraction) {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<microseconds> tod{t - day};
  std::string s;
  s.reserve(28);
  mapping_detail::append_date(s, static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                              static_cast<unsigned>(ymd.day()));
  s.push_back('T');
  mapping_detail::append_digits(s, static_cast<unsigned>(tod.hours().count()), 2);
  s.push_back(':');
  mapping_detail::append_digits(s, static_cast<unsigned>(tod.minutes().count()), 2);
  s.push_back(':');
  mapping_detail::append_digits(s, static_cast<unsigned>(tod.seconds().count()), 2);
  if (with_fraction) {
    s.push_back('.');
    mapping_detail::append_digits(s, static_cast<unsigned>(tod.subseconds().count()), 6);
  }
  s.push_back('Z');
  return s;
}

}  // namespace hims::engine

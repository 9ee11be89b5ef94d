// The route matcher: message patterns, source and header filters, conditions with any/none
// semantics over [*] paths, build-time validation, and the shared corpus.
#include "engine/router.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "hl7v2/message.hpp"
#include "tests/support/corpus.hpp"

// Counts every allocation of this test program, so a test can show matching allocates nothing.
namespace {
std::atomic<std::size_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// Not inlined, so the compiler does not pair a `new` with the `free` inside
// (mismatched-new-delete).
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace hims::engine {
namespace {

using Indices = std::vector<std::uint32_t>;

// PID-3 has three repetitions (assigning authorities H, S, H); PID-5.1 holds an escaped '&';
// PID-4 is only delimiters, PID-29 the HL7 null; two OBX.
const char* const kOru =
    "MSH|^~\\&|LAB^1.2.3^ISO|NORTH^x|HIMS|HIMS|20240101||ORU^R01^ORU_R01|42|P|2.5.1\r"
    "PID|1||111^^^H^MR~222^^^S^SS~333^^^H^PI|^^|SMITH\\T\\JONES^ANN||19700101|F"
    "|||||||||||||||||||\"\"\r"
    "PV1|1|I\r"
    "OBX|1|NM|GLU^Glucose||5.5\r"
    "OBX|2|ST|NOTE||HIGH\r";

hl7v2::Message parse(std::string text) {
  auto m = hl7v2::Message::parse(std::move(text));
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message());
  return std::move(m).value();
}

std::string with_type(std::string_view msh9) {
  return "MSH|^~\\&|LAB|NORTH|HIMS|HIMS|20240101||" + std::string(msh9) + "|1|P|2.5.1\rPID|1||1\r";
}

Router build_ok(std::vector<RouteSpec> routes) {
  RouterBuild built = Router::build(std::move(routes));
  for (const RouteProblem& p : built.problems) ADD_FAILURE() << p.to_string();
  EXPECT_TRUE(built.router.has_value());
  return built.router ? std::move(*built.router) : Router();
}

std::vector<RouteProblem> build_problems(std::vector<RouteSpec> routes) {
  RouterBuild built = Router::build(std::move(routes));
  EXPECT_FALSE(built.ok());
  EXPECT_FALSE(built.router.has_value());
  return built.problems;
}

RouteSpec route(std::string name, std::vector<std::string> message = {}) {
  RouteSpec r;
  r.name = std::move(name);
  r.message = std::move(message);
  return r;
}

Indices matched(const Router& router, const hl7v2::Message& message,
                std::string_view source = "lab") {
  const RouteMatches m = router.match(MatchInput{source, message.view()});
  return Indices(m.begin(), m.end());
}

bool type_matches(std::string pattern, std::string_view msh9) {
  const Router router = build_ok({route("r", {std::move(pattern)})});
  return !matched(router, parse(with_type(msh9))).empty();
}

ConditionSpec cond(std::string path, std::string op, std::optional<std::string> value = {},
                   std::vector<std::string> values = {}) {
  return ConditionSpec{std::move(path), std::move(op), std::move(value), std::move(values)};
}

// Whether a one-route router with this one condition takes `text` (kOru by default).
bool holds(ConditionSpec c, const std::string& text = kOru) {
  RouteSpec r = route("r");
  r.conditions.push_back(std::move(c));
  const Router router = build_ok({std::move(r)});
  return !matched(router, parse(text)).empty();
}

// ---------------------------------------------------------------------------------------------
// Message patterns

TEST(Router, MessagePatternMatchesCodeAndTriggerExactly) {
  EXPECT_TRUE(type_matches("ORU^R01", "ORU^R01^ORU_R01"));
  EXPECT_FALSE(type_matches("ORU^R01", "ORU^R02"));
  EXPECT_FALSE(type_matches("ORU^R01", "ORM^R01"));
  EXPECT_FALSE(type_matches("ORU^R01", "ORU"));
}

TEST(Router, TriggerStarPrefixMatchesA01ToA08ButNotA11) {
  for (const char* t : {"A01", "A02", "A03", "A04", "A05", "A06", "A07", "A08", "A0"}) {
    EXPECT_TRUE(type_matches("ADT^A0*", std::string("ADT^") + t)) << t;
  }
  for (const char* t : {"ADT^A11", "ADT^A10", "ADT^A", "ADT^B01", "ORU^A01"}) {
    EXPECT_FALSE(type_matches("ADT^A0*", t)) << t;
  }
}

TEST(Router, StarAndStarCaretStarMatchEveryMessage) {
  for (const char* type : {"ADT^A01", "ORU^R01^ORU_R01", "ACK", "ZXY^Z99"}) {
    EXPECT_TRUE(type_matches("*", type)) << type;
    EXPECT_TRUE(type_matches("*^*", type)) << type;
  }
}

TEST(Router, CodeStarMatchesEveryTriggerAndAMissingOne) {
  EXPECT_TRUE(type_matches("ADT^*", "ADT^A40"));
  EXPECT_TRUE(type_matches("ACK^*", "ACK"));
  EXPECT_FALSE(type_matches("ADT^*", "ORU^R01"));
}

TEST(Router, QuestionMarkMatchesExactlyOneCharacter) {
  EXPECT_TRUE(type_matches("ADT^A?1", "ADT^A01"));
  EXPECT_TRUE(type_matches("ADT^A?1", "ADT^A11"));
  EXPECT_FALSE(type_matches("ADT^A?1", "ADT^A1"));
  EXPECT_FALSE(type_matches("ADT^A?1", "ADT^A001"));
  EXPECT_TRUE(type_matches("O??^R01", "ORU^R01"));
  EXPECT_FALSE(type_matches("O??^R01", "ADT^R01"));
}

TEST(Router, GlobInTheMiddleBacktracks) {
  EXPECT_TRUE(type_matches("*U^R*1", "ORU^R01"));
  EXPECT_TRUE(type_matches("*U^R*1", "ORU^R0111"));
  EXPECT_FALSE(type_matches("*U^R*1", "ORU^R012"));
}

TEST(Router, AnyOfSeveralMessagePatternsIsEnough) {
  const Router router = build_ok({route("r", {"ORU^R01", "ADT^A0*"})});
  EXPECT_EQ(matched(router, parse(with_type("ADT^A04"))), Indices{0});
  EXPECT_EQ(matched(router, parse(with_type("ORU^R01"))), Indices{0});
  EXPECT_TRUE(matched(router, parse(with_type("ORM^O01"))).empty());
}

TEST(Router, EmptyMessageListMatchesEveryType) {
  const Router router = build_ok({route("r")});
  EXPECT_EQ(matched(router, parse(with_type("MDM^T02"))), Indices{0});
}

TEST(Router, MessageCodesAreCaseSensitive) { EXPECT_FALSE(type_matches("ADT^A01", "adt^a01")); }

// ---------------------------------------------------------------------------------------------
// Several routes, sources, sending application and facility

TEST(Router, ReturnsEveryMatchingRouteInConfigurationOrder) {
  const Router router = build_ok({route("adt all", {"ADT^*"}), route("lab", {"ORU^R01"}),
                                  route("everything", {"*"}), route("adt a0x", {"ADT^A0*"})});
  EXPECT_EQ(matched(router, parse(with_type("ADT^A01"))), (Indices{0, 2, 3}));
  EXPECT_EQ(matched(router, parse(with_type("ORU^R01"))), (Indices{1, 2}));
}

TEST(Router, NoMatchingRouteGivesAnEmptyResult) {
  const Router router = build_ok({route("lab", {"ORU^R01"})});
  EXPECT_TRUE(matched(router, parse(with_type("ADT^A01"))).empty());
  const Router none = build_ok({});
  EXPECT_TRUE(matched(none, parse(with_type("ADT^A01"))).empty());
}

TEST(Router, MoreMatchesThanTheInlineCapacityKeepTheirOrder) {
  std::vector<RouteSpec> routes;
  Indices expected;
  for (std::uint32_t i = 0; i < RouteMatches::kInline + 5; ++i) {
    routes.push_back(route("r" + std::to_string(i), {i % 2 == 0 ? "ADT^*" : "ORU^*"}));
    if (i % 2 == 0) expected.push_back(i);
  }
  for (std::uint32_t i = 0; i < 3; ++i) routes.push_back(route("x" + std::to_string(i), {"*"}));
  for (std::uint32_t i = RouteMatches::kInline + 5; i < RouteMatches::kInline + 8; ++i) {
    expected.push_back(i);
  }
  const Router router = build_ok(std::move(routes));
  EXPECT_EQ(matched(router, parse(with_type("ADT^A01"))), expected);
  // Enough to spill: every route takes the message.
  std::vector<RouteSpec> all;
  Indices every;
  for (std::uint32_t i = 0; i < 2 * RouteMatches::kInline + 1; ++i) {
    all.push_back(route("a" + std::to_string(i)));
    every.push_back(i);
  }
  EXPECT_EQ(matched(build_ok(std::move(all)), parse(kOru)), every);
}

TEST(Router, FromAcceptsOnlyTheListedSources) {
  RouteSpec r = route("from lab", {"*"});
  r.from = {"lab-a", "lab-b"};
  const Router router = build_ok({std::move(r), route("any source")});
  const hl7v2::Message m = parse(kOru);
  EXPECT_EQ(matched(router, m, "lab-a"), (Indices{0, 1}));
  EXPECT_EQ(matched(router, m, "lab-b"), (Indices{0, 1}));
  EXPECT_EQ(matched(router, m, "adt"), Indices{1});
  EXPECT_EQ(matched(router, m, "LAB-A"), Indices{1});
  EXPECT_EQ(matched(router, m, ""), Indices{1});
}

TEST(Router, SendingApplicationMatchesMsh3ComponentOneExactlyOrByGlob) {
  RouteSpec exact = route("exact");
  exact.sending_application = "LAB";
  RouteSpec glob = route("glob");
  glob.sending_application = "L*";
  RouteSpec other = route("other");
  other.sending_application = "LAB^1.2.3^ISO";  // the whole field is not component 1
  RouteSpec lower = route("lower");
  lower.sending_application = "lab";
  const Router router =
      build_ok({std::move(exact), std::move(glob), std::move(other), std::move(lower)});
  EXPECT_EQ(matched(router, parse(kOru)), (Indices{0, 1}));
}

TEST(Router, SendingFacilityMatchesMsh4ComponentOne) {
  RouteSpec north = route("north");
  north.sending_facility = "NORTH";
  RouteSpec south = route("south");
  south.sending_facility = "SOUTH";
  RouteSpec both = route("both");
  both.sending_application = "LAB";
  both.sending_facility = "N?RTH";
  const Router router = build_ok({std::move(north), std::move(south), std::move(both)});
  EXPECT_EQ(matched(router, parse(kOru)), (Indices{0, 2}));
}

TEST(Router, AbsentSendingApplicationMatchesNoPatternNotEvenStar) {
  RouteSpec r = route("r");
  r.sending_application = "*";
  const Router router = build_ok({std::move(r)});
  EXPECT_TRUE(matched(router, parse("MSH|^~\\&||NORTH|||20240101||ADT^A01|1|P|2.5\r")).empty());
  EXPECT_EQ(matched(router, parse(with_type("ADT^A01"))), Indices{0});
}

TEST(Router, SendingApplicationIsComparedDecoded) {
  RouteSpec r = route("r");
  r.sending_application = "R&D";
  const Router router = build_ok({std::move(r)});
  EXPECT_EQ(matched(router, parse("MSH|^~\\&|R\\T\\D|X|||1||ADT^A01|1|P|2.5\r")), Indices{0});
}

// ---------------------------------------------------------------------------------------------
// Operators

TEST(Router, EqualsComparesTheWholeSelectedText) {
  EXPECT_TRUE(holds(cond("PID-8", "equals", "F")));
  EXPECT_FALSE(holds(cond("PID-8", "equals", "M")));
  EXPECT_FALSE(holds(cond("PID-8", "equals", "f")));
  EXPECT_TRUE(holds(cond("PID-5", "equals", "SMITH&JONES^ANN")));
}

TEST(Router, NotEqualsHoldsWhenTheValueDiffers) {
  EXPECT_TRUE(holds(cond("PID-8", "not_equals", "M")));
  EXPECT_FALSE(holds(cond("PID-8", "not_equals", "F")));
}

TEST(Router, InHoldsForAnyListedValue) {
  EXPECT_TRUE(holds(cond("PV1-2", "in", {}, {"E", "I"})));
  EXPECT_FALSE(holds(cond("PV1-2", "in", {}, {"E", "O"})));
}

TEST(Router, NotInHoldsForNoListedValue) {
  EXPECT_TRUE(holds(cond("PV1-2", "not_in", {}, {"E", "O"})));
  EXPECT_FALSE(holds(cond("PV1-2", "not_in", {}, {"O", "I"})));
}

TEST(Router, ExistsHoldsForAPresentValue) {
  EXPECT_TRUE(holds(cond("PID-7", "exists")));
  EXPECT_TRUE(holds(cond("OBX", "exists")));  // a whole segment
  EXPECT_FALSE(holds(cond("PID-6", "exists")));
  EXPECT_FALSE(holds(cond("NK1", "exists")));
}

TEST(Router, NotExistsHoldsForAnAbsentValue) {
  EXPECT_TRUE(holds(cond("PID-6", "not_exists")));
  EXPECT_TRUE(holds(cond("NK1-2", "not_exists")));
  EXPECT_FALSE(holds(cond("PID-7", "not_exists")));
}

TEST(Router, MatchesAppliesAGlob) {
  EXPECT_TRUE(holds(cond("PID-7", "matches", "1970*")));
  EXPECT_TRUE(holds(cond("PID-7", "matches", "19?00101")));
  EXPECT_TRUE(holds(cond("PID-7", "matches", "*01")));
  EXPECT_FALSE(holds(cond("PID-7", "matches", "1980*")));
  EXPECT_FALSE(holds(cond("PID-7", "matches", "1970")));  // the whole text must match
}

TEST(Router, NotMatchesHoldsWhenTheGlobFails) {
  EXPECT_TRUE(holds(cond("PID-7", "not_matches", "1980*")));
  EXPECT_FALSE(holds(cond("PID-7", "not_matches", "19*")));
}

TEST(Router, StartsWithComparesAPrefixLiterally) {
  EXPECT_TRUE(holds(cond("PID-7", "starts_with", "1970")));
  EXPECT_FALSE(holds(cond("PID-7", "starts_with", "0101")));
  EXPECT_FALSE(holds(cond("PID-7", "starts_with", "19*")));  // no wildcards here
}

TEST(Router, NotStartsWithHoldsWhenThePrefixDiffers) {
  EXPECT_TRUE(holds(cond("PID-7", "not_starts_with", "1980")));
  EXPECT_FALSE(holds(cond("PID-7", "not_starts_with", "19")));
}

TEST(Router, EveryConditionMustHold) {
  RouteSpec r = route("r");
  r.conditions = {cond("PID-8", "equals", "F"), cond("PV1-2", "equals", "I")};
  RouteSpec s = route("s");
  s.conditions = {cond("PID-8", "equals", "F"), cond("PV1-2", "equals", "O")};
  const Router router = build_ok({std::move(r), std::move(s)});
  EXPECT_EQ(matched(router, parse(kOru)), Indices{0});
}

// ---------------------------------------------------------------------------------------------
// [*]: any for positive operators, none for not_ operators

TEST(Router, StarPathHoldsWhenAnyRepetitionSatisfies) {
  EXPECT_TRUE(holds(cond("PID-3[*].5", "equals", "SS")));
  EXPECT_TRUE(holds(cond("PID-3[*].1", "in", {}, {"999", "333"})));
  EXPECT_FALSE(holds(cond("PID-3[*].5", "equals", "DL")));
  // Without [*] only the first repetition is looked at.
  EXPECT_FALSE(holds(cond("PID-3.5", "equals", "SS")));
  EXPECT_TRUE(holds(cond("PID-3.5", "equals", "MR")));
}

TEST(Router, NotOperatorsOverStarPathHoldOnlyWhenNoneSatisfies) {
  EXPECT_FALSE(holds(cond("PID-3[*].5", "not_equals", "SS")));  // one is SS
  EXPECT_TRUE(holds(cond("PID-3[*].5", "not_equals", "DL")));
  EXPECT_FALSE(holds(cond("PID-3[*].4", "not_in", {}, {"S"})));
  EXPECT_TRUE(holds(cond("PID-3[*].4", "not_in", {}, {"X", "Y"})));
  EXPECT_FALSE(holds(cond("PID-3[*].1", "not_starts_with", "3")));
}

TEST(Router, StarOccurrenceLooksAtEverySegment) {
  EXPECT_TRUE(holds(cond("OBX[*]-5", "equals", "HIGH")));
  EXPECT_FALSE(holds(cond("OBX-5", "equals", "HIGH")));  // the first OBX only
  EXPECT_TRUE(holds(cond("OBX[*]-3.1", "equals", "GLU")));
  EXPECT_FALSE(holds(cond("OBX[*]-2", "not_in", {}, {"ST"})));
  EXPECT_TRUE(holds(cond("OBX[2]-2", "equals", "ST")));
}

TEST(Router, StarPathOverAnAbsentSegmentSatisfiesOnlyNotOperators) {
  EXPECT_FALSE(holds(cond("NTE[*]-3", "exists")));
  EXPECT_FALSE(holds(cond("NTE[*]-3", "matches", "*")));
  EXPECT_TRUE(holds(cond("NTE[*]-3", "not_exists")));
  EXPECT_TRUE(holds(cond("NTE[*]-3", "not_equals", "x")));
}

// ---------------------------------------------------------------------------------------------
// Decoding, absent fields, nulls

TEST(Router, EscapesAreDecodedBeforeComparison) {
  EXPECT_TRUE(holds(cond("PID-5.1", "equals", "SMITH&JONES")));
  EXPECT_FALSE(holds(cond("PID-5.1", "equals", "SMITH\\T\\JONES")));
  EXPECT_TRUE(holds(cond("PID-5.1", "starts_with", "SMITH&")));
  EXPECT_TRUE(holds(cond("PID-5.1", "matches", "*&J*")));
}

TEST(Router, Latin1TextIsComparedAsUtf8) {
  const std::string latin1 =
      "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5||||||8859/1\r"
      "PID|1||1||M\xDCLLER^J\r";
  EXPECT_TRUE(holds(cond("PID-5.1", "equals", "M\xC3\x9CLLER"), latin1));
  EXPECT_TRUE(holds(cond("PID-5.1", "matches", "M?LLER"), latin1));
}

TEST(Router, AbsentFieldsNeverSatisfyPositiveOperators) {
  for (const char* op : {"equals", "matches", "starts_with"}) {
    EXPECT_FALSE(holds(cond("PID-30", op, "*"))) << op;
    EXPECT_FALSE(holds(cond("PID-30.2", op, "*"))) << op;
  }
  EXPECT_FALSE(holds(cond("PID-30", "in", {}, {"Y", "N"})));
}

TEST(Router, AbsentFieldsSatisfyNotOperators) {
  EXPECT_TRUE(holds(cond("PID-30", "not_equals", "Y")));
  EXPECT_TRUE(holds(cond("PID-30", "not_in", {}, {"Y"})));
  EXPECT_TRUE(holds(cond("PID-30", "not_matches", "*")));
  EXPECT_TRUE(holds(cond("ZPI-1", "not_starts_with", "A")));
}

TEST(Router, NullAndDelimiterOnlyValuesCountAsAbsent) {
  EXPECT_FALSE(holds(cond("PID-29", "exists")));  // ""
  EXPECT_TRUE(holds(cond("PID-29", "not_exists")));
  EXPECT_FALSE(holds(cond("PID-4", "exists")));  // ^^
  EXPECT_TRUE(holds(cond("PID-4", "not_matches", "*")));
}

TEST(Router, ScratchIsReusedAcrossMessagesWithTheSameResults) {
  RouteSpec r = route("ss", {"ORU^*"});
  r.conditions = {cond("PID-3[*].5", "equals", "SS"), cond("PID-5.1", "starts_with", "SMITH&")};
  const Router router = build_ok({std::move(r), route("any")});
  const hl7v2::Message oru = parse(kOru);
  const hl7v2::Message adt = parse(with_type("ADT^A01"));
  MatchScratch scratch;
  for (int i = 0; i < 3; ++i) {
    const RouteMatches a = router.match(MatchInput{"lab", oru.view()}, scratch);
    EXPECT_EQ(Indices(a.begin(), a.end()), (Indices{0, 1}));
    const RouteMatches b = router.match(MatchInput{"lab", adt.view()}, scratch);
    EXPECT_EQ(Indices(b.begin(), b.end()), Indices{1});
  }
}

TEST(Router, MatchingAllocatesNothingOnceTheScratchIsWarm) {
  RouteSpec r = route("ss", {"ORU^R0*", "ADT^*"});
  r.sending_application = "L?B";
  r.from = {"lab"};
  r.conditions = {cond("PID-3[*].5", "in", {}, {"SS", "PI"}), cond("PID-5.1", "matches", "*&J*"),
                  cond("OBX[*]-5", "not_equals", "LOW"), cond("NTE", "not_exists")};
  const Router router = build_ok({std::move(r), route("any")});
  const hl7v2::Message oru = parse(kOru);
  MatchScratch scratch;
  const MatchInput input{"lab", oru.view()};
  const RouteMatches warm = router.match(input, scratch);
  ASSERT_EQ(Indices(warm.begin(), warm.end()), (Indices{0, 1}));
  const std::size_t before = g_allocations.load();
  std::size_t taken = 0;
  for (int i = 0; i < 100; ++i) taken += router.match(input, scratch).size();
  EXPECT_EQ(g_allocations.load() - before, 0u);
  EXPECT_EQ(taken, 200u);
}

TEST(Router, AnEmptyMessageViewMatchesNoHeaderFilter) {
  RouteSpec r = route("r");
  r.sending_facility = "*";
  const Router router = build_ok({std::move(r), route("any")});
  const hl7v2::MessageView empty;
  const RouteMatches m = router.match(MatchInput{"lab", empty});
  EXPECT_EQ(Indices(m.begin(), m.end()), Indices{1});
}

TEST(Router, ExposesNamesAndKeepsDestinationsAsData) {
  RouteSpec r = route("lab results", {"ORU^R01"});
  r.destinations = {"acme-lab", "archive"};
  const Router router = build_ok({std::move(r), route("adt")});
  ASSERT_EQ(router.size(), 2u);
  EXPECT_EQ(router.name(0), "lab results");
  EXPECT_EQ(router.name(1), "adt");
  EXPECT_EQ(router.route(0).destinations, (std::vector<std::string>{"acme-lab", "archive"}));
}

// ---------------------------------------------------------------------------------------------
// glob_match and operator names

TEST(Glob, QuestionMarkIsOneUtf8CodePoint) {
  EXPECT_TRUE(glob_match("M?LLER", "M\xC3\x9CLLER"));
  EXPECT_FALSE(glob_match("M??LLER", "M\xC3\x9CLLER"));
  EXPECT_TRUE(glob_match("*\xC3\x9C*", "M\xC3\x9CLLER"));
}

TEST(Glob, StarMatchesEmptyAndBacktracks) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("a*b*c", "aXbYbZc"));
  EXPECT_TRUE(glob_match("a**", "a"));
  EXPECT_FALSE(glob_match("a*b*c", "aXbYbZ"));
  EXPECT_FALSE(glob_match("?", ""));
  EXPECT_FALSE(glob_match("", "a"));
  EXPECT_TRUE(glob_match("", ""));
}

TEST(Glob, CompiledPatternAgreesWithGlobMatch) {
  for (const char* pattern : {"*", "**", "ABC", "AB*", "A?C", "*C", "A*C", ""}) {
    const GlobPattern compiled{std::string(pattern)};
    for (const char* text : {"", "A", "ABC", "ABCD", "AXC", "C", "AB"}) {
      EXPECT_EQ(compiled.matches(text), glob_match(pattern, text)) << pattern << " " << text;
    }
  }
}

TEST(ConditionOp, NamesRoundTripAndUnknownNamesAreRejected) {
  for (const char* name : {"equals", "not_equals", "in", "not_in", "exists", "not_exists",
                           "matches", "not_matches", "starts_with", "not_starts_with"}) {
    const auto op = parse_condition_op(name);
    ASSERT_TRUE(op.has_value()) << name;
    EXPECT_EQ(to_string(*op), name);
  }
  for (const char* name : {"", "EQUALS", "eq", "==", "contains", "not equals"}) {
    EXPECT_FALSE(parse_condition_op(name).has_value()) << name;
  }
}

// ---------------------------------------------------------------------------------------------
// Validation: every problem, with the route and the key

bool has_problem(const std::vector<RouteProblem>& problems, std::size_t index, ConfigErrc code,
                 const std::string& key) {
  for (const RouteProblem& p : problems) {
    if (p.route_index == index && p.problem.code == code && p.problem.key == key) return true;
  }
  return false;
}

std::string all(const std::vector<RouteProblem>& problems) {
  std::string out;
  for (const RouteProblem& p : problems) out += p.to_string() + "\n";
  return out;
}

std::vector<RouteProblem> condition_problems(ConditionSpec c) {
  RouteSpec r = route("r");
  r.conditions.push_back(std::move(c));
  return build_problems({std::move(r)});
}

TEST(RouterValidation, EmptyNameIsMissing) {
  const auto problems = build_problems({route("ok"), route("")});
  ASSERT_EQ(problems.size(), 1u) << all(problems);
  EXPECT_TRUE(has_problem(problems, 1, ConfigErrc::missing_key, "name"));
}

TEST(RouterValidation, DuplicateNameNamesTheEarlierRoute) {
  const auto problems = build_problems({route("adt"), route("lab"), route("adt")});
  ASSERT_EQ(problems.size(), 1u) << all(problems);
  EXPECT_TRUE(has_problem(problems, 2, ConfigErrc::duplicate, "name"));
  EXPECT_NE(problems[0].problem.detail.find("routes[0]"), std::string::npos);
  EXPECT_EQ(problems[0].route, "adt");
}

TEST(RouterValidation, EveryBadMessagePatternIsReported) {
  const std::vector<std::string> bad = {"ADT",      "adt^a01",  "ADT^",      "^A01", "ADT^A01^X",
                                        "AD T^A01", "ADT|^A01", "ADT^A\\01", ""};
  const auto problems = build_problems({route("r", bad)});
  ASSERT_EQ(problems.size(), bad.size()) << all(problems);
  for (std::size_t i = 0; i < bad.size(); ++i) {
    EXPECT_TRUE(
        has_problem(problems, 0, ConfigErrc::bad_value, "message[" + std::to_string(i) + "]"))
        << bad[i];
  }
  EXPECT_NE(problems[1].problem.detail.find("upper case"), std::string::npos);
  EXPECT_NE(problems[0].problem.detail.find("ADT^*"), std::string::npos);
}

TEST(RouterValidation, GoodPatternsNextToBadOnesAreNotReported) {
  const auto problems = build_problems({route("r", {"ADT^A0*", "ADT", "*", "*^*", "Z??^Z*"})});
  ASSERT_EQ(problems.size(), 1u) << all(problems);
  EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::bad_value, "message[1]"));
}

TEST(RouterValidation, BadPathCarriesTheParserColumn) {
  const auto problems = condition_problems(cond("PID-5.x", "exists"));
  ASSERT_EQ(problems.size(), 1u) << all(problems);
  EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::bad_value, "conditions[0].path"));
  EXPECT_NE(problems[0].problem.detail.find("column 7"), std::string::npos)
      << problems[0].problem.detail;
}

TEST(RouterValidation, EveryMalformedPathIsRejected) {
  for (const char* path :
       {"pid-3", "PID-0", "PID-3[x]", "PID 3", "PID-3[*", "-5", "PID-3[5=MR].1"}) {
    const auto problems = condition_problems(cond(path, "exists"));
    EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::bad_value, "conditions[0].path")) << path;
  }
}

TEST(RouterValidation, MissingPathAndOperatorAreBothReported) {
  const auto problems = condition_problems(cond("", ""));
  ASSERT_EQ(problems.size(), 2u) << all(problems);
  EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::missing_key, "conditions[0].path"));
  EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::missing_key, "conditions[0].op"));
}

TEST(RouterValidation, UnknownOperatorListsTheKnownOnes) {
  const auto problems = condition_problems(cond("PID-8", "contains", "F"));
  ASSERT_EQ(problems.size(), 1u) << all(problems);
  EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::bad_value, "conditions[0].op"));
  EXPECT_NE(problems[0].problem.detail.find("'contains'"), std::string::npos);
  EXPECT_NE(problems[0].problem.detail.find("not_starts_with"), std::string::npos);
}

TEST(RouterValidation, ValueOperatorsWithoutAValueAreMissingOne) {
  for (const char* op :
       {"equals", "not_equals", "matches", "not_matches", "starts_with", "not_starts_with"}) {
    const auto problems = condition_problems(cond("PID-8", op));
    ASSERT_EQ(problems.size(), 1u) << op << "\n" << all(problems);
    EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::missing_key, "conditions[0].value")) << op;
  }
}

TEST(RouterValidation, EmptyValuesPointToExists) {
  const auto problems = condition_problems(cond("PID-8", "equals", ""));
  ASSERT_EQ(problems.size(), 1u) << all(problems);
  EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::bad_value, "conditions[0].value"));
  EXPECT_NE(problems[0].problem.detail.find("exists"), std::string::npos);
}

TEST(RouterValidation, ValueOperatorsRejectAList) {
  const auto problems = condition_problems(cond("PID-8", "equals", "F", {"M"}));
  ASSERT_EQ(problems.size(), 1u) << all(problems);
  EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::bad_value, "conditions[0].values"));
}

TEST(RouterValidation, InNeedsAListNotAValue) {
  const auto missing = condition_problems(cond("PID-8", "in"));
  ASSERT_EQ(missing.size(), 1u) << all(missing);
  EXPECT_TRUE(has_problem(missing, 0, ConfigErrc::missing_key, "conditions[0].values"));
  const auto single = condition_problems(cond("PID-8", "not_in", "F"));
  ASSERT_EQ(single.size(), 2u) << all(single);
  EXPECT_TRUE(has_problem(single, 0, ConfigErrc::bad_value, "conditions[0].value"));
  EXPECT_TRUE(has_problem(single, 0, ConfigErrc::missing_key, "conditions[0].values"));
}

TEST(RouterValidation, EmptyEntriesInAListAreEachReported) {
  const auto problems = condition_problems(cond("PID-8", "in", {}, {"F", "", "M", ""}));
  ASSERT_EQ(problems.size(), 2u) << all(problems);
  EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::bad_value, "conditions[0].values[1]"));
  EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::bad_value, "conditions[0].values[3]"));
}

TEST(RouterValidation, ExistsTakesNeitherValueNorValues) {
  const auto problems = condition_problems(cond("PID-8", "not_exists", "F", {"M"}));
  ASSERT_EQ(problems.size(), 2u) << all(problems);
  EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::bad_value, "conditions[0].value"));
  EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::bad_value, "conditions[0].values"));
}

TEST(RouterValidation, EmptyIdsAndHeaderPatternsAreReported) {
  RouteSpec r = route("r");
  r.from = {"lab", ""};
  r.destinations = {"", "archive"};
  r.sending_application = "";
  r.sending_facility = "";
  const auto problems = build_problems({std::move(r)});
  ASSERT_EQ(problems.size(), 4u) << all(problems);
  EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::bad_value, "from[1]"));
  EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::bad_value, "destinations[0]"));
  EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::bad_value, "sending_application"));
  EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::bad_value, "sending_facility"));
}

TEST(RouterValidation, EveryProblemOfEveryRouteIsListedInOrder) {
  RouteSpec a = route("", {"adt"});
  a.conditions = {cond("PID-3[*].5", "equals", "SS"), cond("PID-", "exists"),
                  cond("PID-8", "is", "F")};
  RouteSpec b = route("lab", {"ORU^R01"});
  RouteSpec c = route("lab", {"ORU^R01"});
  c.conditions = {cond("OBX[*]-5", "in")};
  const auto problems = build_problems({std::move(a), std::move(b), std::move(c)});
  ASSERT_EQ(problems.size(), 6u) << all(problems);
  EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::missing_key, "name"));
  EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::bad_value, "message[0]"));
  EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::bad_value, "conditions[1].path"));
  EXPECT_TRUE(has_problem(problems, 0, ConfigErrc::bad_value, "conditions[2].op"));
  EXPECT_TRUE(has_problem(problems, 2, ConfigErrc::duplicate, "name"));
  EXPECT_TRUE(has_problem(problems, 2, ConfigErrc::missing_key, "conditions[0].values"));
  for (std::size_t i = 1; i < problems.size(); ++i) {
    EXPECT_LE(problems[i - 1].route_index, problems[i].route_index);
  }
}

TEST(RouterValidation, ProblemTextNamesTheRouteAndTheKey) {
  const auto problems = condition_problems(cond("PID-8", "contains", "F"));
  ASSERT_EQ(problems.size(), 1u);
  const std::string text = problems[0].to_string();
  EXPECT_EQ(text.rfind("routes[0].conditions[0].op (route 'r'): bad_value: unknown operator", 0),
            0u)
      << text;
  const auto unnamed = build_problems({route("")});
  ASSERT_EQ(unnamed.size(), 1u);
  EXPECT_EQ(unnamed[0].to_string(), "routes[0].name: missing_key: a route needs a name");
}

// ---------------------------------------------------------------------------------------------
// Corpus

TEST(RouterCorpus, MessagePatternsAgreeWithMsh9OnEveryConverterSample) {
  const Router router =
      build_ok({route("every", {"*"}), route("adt", {"ADT^*"}), route("adt a0x", {"ADT^A0*"}),
                route("oru", {"ORU^R01"}), route("siu s1x", {"SIU^S1?"})});
  const auto files =
      test::files_under(test::corpus_dir() / "hl7v2" / "microsoft-fhir-converter", {".hl7"});
  ASSERT_GE(files.size(), 100u);
  std::size_t parsed = 0;
  std::size_t adt = 0;
  std::size_t a0x = 0;
  MatchScratch scratch;
  for (const auto& file : files) {
    const std::string bytes = test::read_file(file);
    auto m = hl7v2::MessageView::parse(bytes);
    if (!m) continue;
    ++parsed;
    const std::string_view code = m->message_code();
    const std::string_view trigger = m->trigger_event();
    Indices expected{0};
    if (code == "ADT") expected.push_back(1);
    if (code == "ADT" && trigger.size() == 3 && trigger.starts_with("A0")) expected.push_back(2);
    if (code == "ORU" && trigger == "R01") expected.push_back(3);
    if (code == "SIU" && trigger.size() == 3 && trigger.starts_with("S1")) expected.push_back(4);
    const RouteMatches got = router.match(MatchInput{"lab", *m}, scratch);
    EXPECT_EQ(Indices(got.begin(), got.end()), expected) << file;
    adt += code == "ADT" ? 1 : 0;
    a0x += expected.size() > 2 && expected[2] == 2 ? 1 : 0;
  }
  EXPECT_GE(parsed, 100u);
  EXPECT_GE(adt, 40u);
  EXPECT_GE(a0x, 16u);  // ADT-A01-01 .. ADT-A08-02 at least
}

TEST(RouterCorpus, RoutesAPublicHealthLabReportByHeaderAndFields) {
  const std::string bytes =
      test::read_file(test::corpus_dir() / "hl7v2" / "microsoft-fhir-converter" / "ORU-R01-01.hl7");
  auto m = hl7v2::MessageView::parse(bytes);
  ASSERT_TRUE(m.ok());
  RouteSpec iowa = route("iowa lab reports", {"ORU^R01"});
  iowa.sending_application = "IA PHIMS*";
  iowa.sending_facility = "IA Public Health Lab";
  iowa.conditions = {cond("PID-10[*].1", "in", {}, {"1002-5", "2054-5"}),
                     cond("PID-5.1", "equals", "Finn"), cond("OBX[*]-3", "exists"),
                     cond("PID-8", "not_in", {}, {"F", "U"})};
  RouteSpec other = route("other lab", {"ORU^R01"});
  other.sending_facility = "IA Public Health*Lab?";
  RouteSpec no_race = route("no such race");
  no_race.conditions = {cond("PID-10[*].1", "equals", "2028-9")};
  const Router router = build_ok({std::move(iowa), std::move(other), std::move(no_race)});
  const RouteMatches got = router.match(MatchInput{"lab", *m});
  EXPECT_EQ(Indices(got.begin(), got.end()), Indices{0});
}

}  // namespace
}  // namespace hims::engine

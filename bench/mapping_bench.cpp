// Mapping interpreter throughput: Mapping::apply() on an ORU^R01 with one patient, one order and
// 20 results (OBX), generated here, with a mapping like tests/data/mappings/oru_results.yaml
// (refs, code tables, timestamps, decimals, a column condition), single thread.
//
//   mapping_bench [google benchmark flags, e.g. --benchmark_repetitions=5]
//
//   apply        apply() on a message parsed once (22 rows per message)
//   parse_apply  MessageView::parse + apply() of the message bytes
// items/s is messages/s; the `rows` counter is rows per message.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/mapping.hpp"
#include "hl7v2/message.hpp"

namespace {

constexpr const char* kMapping = R"(
mapping: oru-bench
from: hl7v2
messages: [ORU^R01]
timezone: -0500
tables:
  abnormal: {map: {H: high, L: low, HH: critical_high, LL: critical_low, N: normal, A: abnormal}}
  status: {map: {F: final, P: preliminary, C: corrected, X: cancelled}, strict: true}
  sex: {map: {M: male, F: female, O: other, U: unknown}, default: null}
entities:
  - as: patient
    table: patients
    key: [mrn]
    columns:
      mrn: {path: "PID-3[5=MR].1", required: true}
      first_name: PID-5.2
      last_name: {path: PID-5.1, transform: trim}
      date_of_birth: {path: PID-7, type: date}
      gender: {path: PID-8, code: sex}
  - as: order
    table: lab_orders
    for_each: OBR
    key: [filler_order_number]
    columns:
      patient_id: {ref: patient, required: true}
      filler_order_number: {path: OBR-3.1, required: true}
      placer_order_number: OBR-2.1
      test_code: OBR-4.1
      test_name: OBR-4.2
      ordered_at: {path: OBR-7, type: timestamp}
    entities:
      - as: result
        table: lab_results
        for_each: OBX
        key: [lab_order_id, set_id]
        columns:
          lab_order_id: {ref: order, required: true}
          patient_id: {ref: patient}
          set_id: {path: OBX-1, type: int, required: true}
          code: OBX-3.1
          name: OBX-3.2
          value: OBX-5
          numeric_value: {path: OBX-5, type: decimal, when: {path: OBX-2, equals: NM}}
          units: OBX-6.1
          reference_range: OBX-7
          abnormal_flag: {path: OBX-8, code: abnormal}
          status: {path: OBX-11, code: status, required: true}
          observed_at: {path: OBX-14, type: timestamp}
)";

std::string make_oru(int results) {
  std::string m =
      "MSH|^~\\&|LAB|ACME|HIMS|HOSP|20240305150000||ORU^R01^ORU_R01|MSG0002|P|2.5.1\r"
      "PID|1||12345^^^HOSP^MR~987-65-4320^^^SSA^SS||DOE^JOHN^Q||19800102|M\r"
      "ORC|RE|P100|F200\r"
      "OBR|1|P100|F200|CBC^Complete blood count^LN|||20240305120000-0500\r";
  static const char* const kFlags[] = {"N", "H", "L", "HH", "N"};
  for (int i = 1; i <= results; ++i) {
    m += "OBX|" + std::to_string(i) + "|NM|" + std::to_string(1000 + i) + "-" +
         std::to_string(i % 10) + "^Analyte " + std::to_string(i) + "^LN||" +
         std::to_string(50 + i) + "." + std::to_string(i % 10) + "|mg/dL|40-90|" + kFlags[i % 5] +
         "|||F|||20240305130000-0500\r";
  }
  return m;
}

const hims::engine::Mapping& mapping() {
  static const hims::engine::Mapping m = [] {
    auto loaded = hims::engine::load_mapping_text(kMapping, "bench.yaml");
    if (!loaded.ok()) {
      std::fprintf(stderr, "mapping: %s\n", loaded.error().message().c_str());
      std::abort();
    }
    return *loaded;
  }();
  return m;
}

void BM_apply(benchmark::State& state) {
  const std::string bytes = make_oru(20);
  auto view = hims::hl7v2::MessageView::parse(bytes);
  if (!view.ok()) std::abort();
  std::size_t rows = 0;
  for (auto _ : state) {
    auto mapped = mapping().apply(*view);
    if (!mapped.ok()) {
      state.SkipWithError(mapped.error().message().c_str());
      return;
    }
    rows = mapped->rows.size();
    benchmark::DoNotOptimize(mapped->rows.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["rows"] = static_cast<double>(rows);
}
BENCHMARK(BM_apply);

void BM_parse_apply(benchmark::State& state) {
  const std::string bytes = make_oru(20);
  std::size_t rows = 0;
  for (auto _ : state) {
    auto view = hims::hl7v2::MessageView::parse(bytes);
    if (!view.ok()) std::abort();
    auto mapped = mapping().apply(*view);
    if (!mapped.ok()) {
      state.SkipWithError(mapped.error().message().c_str());
      return;
    }
    rows = mapped->rows.size();
    benchmark::DoNotOptimize(mapped->rows.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
  state.counters["rows"] = static_cast<double>(rows);
}
BENCHMARK(BM_parse_apply);

}  // namespace

BENCHMARK_MAIN();

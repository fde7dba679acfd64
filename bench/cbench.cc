// The C shim over Google Benchmark (see cbench.h).
#include "cbench.h"

#include <benchmark/benchmark.h>

static benchmark::State &S(cb_state *s) { return *reinterpret_cast<benchmark::State *>(s); }
static const benchmark::State &S(const cb_state *s)
{
    return *reinterpret_cast<const benchmark::State *>(s);
}

extern "C" {

cb_bench *cb_register(const char *name, cb_fn fn, void *user)
{
    auto *b = benchmark::RegisterBenchmark(
        name, [fn, user](benchmark::State &st) { fn(reinterpret_cast<cb_state *>(&st), user); });
    return reinterpret_cast<cb_bench *>(b);
}

void cb_use_real_time(cb_bench *b)
{
    reinterpret_cast<benchmark::internal::Benchmark *>(b)->UseRealTime();
}

int cb_keep_running(cb_state *st) { return S(st).KeepRunning() ? 1 : 0; }
int64_t cb_iterations(const cb_state *st) { return static_cast<int64_t>(S(st).iterations()); }
void cb_pause_timing(cb_state *st) { S(st).PauseTiming(); }
void cb_resume_timing(cb_state *st) { S(st).ResumeTiming(); }
void cb_set_items_processed(cb_state *st, int64_t items) { S(st).SetItemsProcessed(items); }

void cb_counter(cb_state *st, const char *name, double value, int is_rate)
{
    S(st).counters[name] = benchmark::Counter(
        value, is_rate ? benchmark::Counter::kIsRate : benchmark::Counter::kDefaults);
}

void cb_skip_with_error(cb_state *st, const char *message) { S(st).SkipWithError(message); }
void cb_set_label(cb_state *st, const char *label) { S(st).SetLabel(label); }
void cb_add_context(const char *key, const char *value) { benchmark::AddCustomContext(key, value); }

int cb_initialize(int *argc, char **argv)
{
    benchmark::Initialize(argc, argv);
    return benchmark::ReportUnrecognizedArguments(*argc, argv) ? 0 : 1;
}

size_t cb_run(void) { return benchmark::RunSpecifiedBenchmarks(); }
void cb_shutdown(void) { benchmark::Shutdown(); }
}

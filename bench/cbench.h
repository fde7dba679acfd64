/* A C face for Google Benchmark: nnbench's benchmarks are written in C
 * against this and the public nn API; cbench.cc is the only C++. */
#ifndef NN_CBENCH_H
#define NN_CBENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cb_state cb_state; /* a benchmark::State */
typedef struct cb_bench cb_bench; /* a registered benchmark::internal::Benchmark */
typedef void (*cb_fn)(cb_state *state, void *user);

cb_bench *cb_register(const char *name, cb_fn fn, void *user);
void cb_use_real_time(cb_bench *b);

int cb_keep_running(cb_state *st); /* while (cb_keep_running(st)) { ... } */
int64_t cb_iterations(const cb_state *st);
/* Time between these two is not the row's (State::PauseTiming/ResumeTiming). */
void cb_pause_timing(cb_state *st);
void cb_resume_timing(cb_state *st);
void cb_set_items_processed(cb_state *st, int64_t items);
/* A user counter; is_rate divides it by the measured time. */
void cb_counter(cb_state *st, const char *name, double value, int is_rate);
void cb_skip_with_error(cb_state *st, const char *message);
void cb_set_label(cb_state *st, const char *label);

/* Machine facts for the JSON "context" and the console header. */
void cb_add_context(const char *key, const char *value);

/* Parse Google Benchmark's flags out of argv; 0 if an unknown flag is left. */
int cb_initialize(int *argc, char **argv);
/* Runs the benchmarks the flags select; returns how many matched. */
size_t cb_run(void);
void cb_shutdown(void);

#ifdef __cplusplus
}
#endif

#endif

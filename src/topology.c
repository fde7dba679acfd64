/*
 * What the machine looks like, and the thread policy that follows from it:
 * physical cores usable by this process, caches, the default thread count
 * and whether to pin. Read once, at first use (pthread_once). hwloc when
 * built with it and not disabled by NN_NO_HWLOC=1; otherwise sysconf and
 * OpenMP. Never fails.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef NN_HAVE_HWLOC
#include <hwloc.h>
#endif

#include "internal.h"

/* 1 where OMP_PROC_BIND / OMP_PLACES (or GOMP_CPU_AFFINITY) have the
 * OpenMP runtime bind threads: it places them, and its places are the
 * CPUs this process uses. */
static int openmp_binds(void)
{
#ifdef _OPENMP
    return omp_get_proc_bind() != omp_proc_bind_false;
#else
    return 0;
#endif
}

#ifdef NN_HAVE_HWLOC
/* Kept for binding; read-only after the probe. */
static hwloc_topology_t hw_topology;
static int hw_loaded;

static size_t cache_size(hwloc_topology_t t, hwloc_obj_type_t type)
{
    hwloc_obj_t o = hwloc_get_next_obj_by_type(t, type, NULL);
    return o && o->attr ? (size_t)o->attr->cache.size : 0;
}

/* The CPUs this process may use: where the OpenMP runtime binds threads
 * (OMP_PROC_BIND, OMP_PLACES, GOMP_CPU_AFFINITY), the union of its places,
 * for it has already bound this thread to the first of them; else the
 * process's affinity mask. NULL if unknown. */
static hwloc_bitmap_t usable_cpus(hwloc_topology_t t)
{
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (!set) return NULL;
#ifdef _OPENMP
    if (openmp_binds() && omp_get_num_places() > 0) {
        for (int p = 0; p < omp_get_num_places(); p++) {
            const int n = omp_get_place_num_procs(p);
            int *ids = n > 0 ? malloc((size_t)n * sizeof *ids) : NULL;
            if (!ids) {
                hwloc_bitmap_free(set);
                return NULL;
            }
            omp_get_place_proc_ids(p, ids);
            for (int i = 0; i < n; i++)
                if (ids[i] >= 0) hwloc_bitmap_set(set, (unsigned)ids[i]);
            free(ids);
        }
        return set;
    }
#endif
    if (hwloc_get_cpubind(t, set, HWLOC_CPUBIND_PROCESS) != 0) {
        hwloc_bitmap_free(set);
        return NULL;
    }
    return set;
}

static int probe_hwloc(nn_machine *m)
{
    if (hwloc_topology_init(&hw_topology) != 0) return 0;
    if (hwloc_topology_load(hw_topology) != 0) {
        hwloc_topology_destroy(hw_topology);
        return 0;
    }
    /* hwloc 2 drops the cores a cgroup withholds, but not those outside the
     * process's affinity mask (taskset, numactl, mpirun --bind-to): without
     * this, `taskset -c 0` saw 2 cores here, and worker 1 was pinned to
     * core 1, outside the mask. */
    hwloc_bitmap_t usable = usable_cpus(hw_topology);
    if (usable && !hwloc_bitmap_iszero(usable))
        (void)hwloc_topology_restrict(hw_topology, usable, 0); /* on failure, the whole machine */
    hwloc_bitmap_free(usable);
    const int cores = hwloc_get_nbobjs_by_type(hw_topology, HWLOC_OBJ_CORE);
    const int pus = hwloc_get_nbobjs_by_type(hw_topology, HWLOC_OBJ_PU);
    if (cores <= 0 || pus <= 0) {
        hwloc_topology_destroy(hw_topology);
        return 0;
    }
    m->topo.cores = cores;
    m->topo.pus = pus;
    m->topo.l1d_bytes = cache_size(hw_topology, HWLOC_OBJ_L1CACHE);
    m->topo.l2_bytes = cache_size(hw_topology, HWLOC_OBJ_L2CACHE);
    m->topo.l3_bytes = cache_size(hw_topology, HWLOC_OBJ_L3CACHE);
    hwloc_obj_t pkg = hwloc_get_next_obj_by_type(hw_topology, HWLOC_OBJ_PACKAGE, NULL);
    const char *model = pkg ? hwloc_obj_get_info_by_name(pkg, "CPUModel") : NULL;
    if (model) snprintf(m->topo.cpu_model, sizeof m->topo.cpu_model, "%s", model);
    m->topo.from_hwloc = 1;
    hw_loaded = 1;
    return 1;
}
#endif

static void probe_fallback(nn_machine *m)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
#ifdef _OPENMP
    n = omp_get_num_procs(); /* respects the affinity mask */
#endif
    m->topo.cores = m->topo.pus = n > 0 ? (int)n : 1;
#ifdef _SC_LEVEL1_DCACHE_SIZE
    long v;
    if ((v = sysconf(_SC_LEVEL1_DCACHE_SIZE)) > 0) m->topo.l1d_bytes = (size_t)v;
    if ((v = sysconf(_SC_LEVEL2_CACHE_SIZE)) > 0) m->topo.l2_bytes = (size_t)v;
    if ((v = sysconf(_SC_LEVEL3_CACHE_SIZE)) > 0) m->topo.l3_bytes = (size_t)v;
#endif
}

static void read_cpu_model(nn_machine *m)
{
    if (m->topo.cpu_model[0]) return;
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (colon && strncmp(line, "model name", 10) == 0) {
            colon += colon[1] == ' ' ? 2 : 1;
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(m->topo.cpu_model, sizeof m->topo.cpu_model, "%s", colon);
            break;
        }
    }
    if (f) fclose(f);
    if (!m->topo.cpu_model[0]) snprintf(m->topo.cpu_model, sizeof m->topo.cpu_model, "unknown");
}

static int env_int(const char *name, int fallback)
{
    const char *s = getenv(name);
    if (!s || !*s) return fallback;
    char *end;
    long v = strtol(s, &end, 10);
    return (*end == '\0' && v >= 0 && v <= 4096) ? (int)v : fallback;
}

/* NN_TEAM_US, microseconds in [0, 1e6]; -1 when unset or not a number. */
static double env_team_us(void)
{
    const char *s = getenv("NN_TEAM_US");
    if (!s || !*s) return -1.0;
    char *end;
    const double v = strtod(s, &end);
    return *end == '\0' && v >= 0.0 && v <= 1e6 ? v : -1.0;
}

/* Seconds to start and join a team of `threads` threads back to back (as
 * the library's regions come): the least of rounds of 4, after a round that
 * creates the threads. 0 where it cannot be measured: inside a parallel
 * region a nested team would have one thread. Many short rounds, and more
 * while the best is far off, because on a VM a vCPU left idle can take
 * milliseconds to run again: with the least of three rounds of 8, one
 * nnbench process in ten measured 8 ms instead of 3 us, and that process ran
 * every product on one thread. */
#define TEAM_ROUNDS 12
#define TEAM_SANE 50e-6   /* seconds: past this a round is taken for a stall */
#define TEAM_BUDGET 20e-3 /* seconds spent at most looking for a round without one */
static double team_seconds(int threads)
{
#ifdef _OPENMP
    if (threads < 2 || omp_in_parallel()) return 0;
    double best = 0;
    const double start = omp_get_wtime();
    for (int round = 0; round <= TEAM_ROUNDS || (best > TEAM_SANE && omp_get_wtime() - start < TEAM_BUDGET);
         round++) {
        const double t0 = omp_get_wtime();
        for (int i = 0; i < 4; i++) {
#pragma omp parallel num_threads(threads)
            {
                volatile int id = omp_get_thread_num();
                (void)id;
            }
        }
        const double s = (omp_get_wtime() - t0) / 4;
        if (round > 0 && (best == 0 || s < best)) best = s;
    }
    return best;
#else
    (void)threads;
    return 0;
#endif
}

/* ---- CPU quota (cgroup CFS bandwidth) ----
 * Containers limit CPU time rather than CPUs (docker --cpus, Kubernetes
 * CPU limits): the process sees every core, but past its quota its threads
 * are stopped until the next period, and a team that waits for a stopped
 * thread stalls. nnbench in a cgroup of one CPU's time on this machine's
 * two cores: training 784-256-256-10 at batch 32 on two threads ran at
 * 0.56x one thread's rate, at batch 256 at 0.78x. So the default thread
 * count stays within the quota. */

/* 1 if `item` is one of the comma-separated words of `list` */
static int has_item(const char *list, const char *item)
{
    const size_t n = strlen(item);
    for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, item, n) == 0 && (p[n] == ',' || p[n] == '\0' || p[n] == '\n')) return 1;
    return 0;
}

/* The cgroup of this process in hierarchy v2 (v2 != 0) or in the v1
 * hierarchy that holds the cpu controller, into path. */
static int cgroup_path(const char *proc_cgroup, int v2, char *path, size_t size)
{
    FILE *f = fopen(proc_cgroup, "r");
    char line[1024];
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        *c1 = *c2 = '\0'; /* line: the hierarchy's number; c1 + 1: its controllers */
        const int match = v2 ? strcmp(line, "0") == 0 && c1[1] == '\0' : has_item(c1 + 1, "cpu");
        if (!match) continue;
        c2[1 + strcspn(c2 + 1, "\n")] = '\0';
        found = snprintf(path, size, "%s", c2 + 1) < (int)size;
    }
    if (f) fclose(f);
    return found;
}

/* Where that hierarchy is mounted: the mount's root within it, and its
 * mount point. */
static int cgroup_mount(const char *mountinfo, int v2, char *root, char *point, size_t size)
{
    FILE *f = fopen(mountinfo, "r");
    char line[2048], fstype[64], super[1024], fmt[64];
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f)) {
        const char *tail = strstr(line, " - ");
        if (!tail || sscanf(tail + 3, "%63s %*s %1023s", fstype, super) != 2) continue;
        if (v2 ? strcmp(fstype, "cgroup2") != 0 : strcmp(fstype, "cgroup") != 0 || !has_item(super, "cpu"))
            continue;
        snprintf(fmt, sizeof fmt, "%%*s %%*s %%*s %%%zus %%%zus", size - 1, size - 1);
        found = sscanf(line, fmt, root, point) == 2;
    }
    if (f) fclose(f);
    return found;
}

static int read_line(const char *dir, const char *name, char *out, size_t size)
{
    char file[1200];
    if (snprintf(file, sizeof file, "%s/%s", dir, name) >= (int)sizeof file) return 0;
    FILE *f = fopen(file, "r");
    const int ok = f && fgets(out, (int)size, f) != NULL;
    if (f) fclose(f);
    return ok;
}

/* The quota set on one cgroup directory, in CPUs; 0 for none. */
static double quota_at(const char *dir, int v2)
{
    char a[64], b[64];
    long long quota, period;
    if (v2) {
        if (!read_line(dir, "cpu.max", a, sizeof a) || sscanf(a, "%lld %lld", &quota, &period) != 2) return 0;
    } else {
        if (!read_line(dir, "cpu.cfs_quota_us", a, sizeof a) || !read_line(dir, "cpu.cfs_period_us", b, sizeof b) ||
            sscanf(a, "%lld", &quota) != 1 || sscanf(b, "%lld", &period) != 1)
            return 0;
    }
    return quota > 0 && period > 0 ? (double)quota / (double)period : 0; /* "max" and -1: none */
}

int nn_cgroup_cpu_limit(const char *proc_cgroup, const char *mountinfo)
{
    double least = 0;
    for (int v2 = 0; v2 <= 1; v2++) {
        char path[512], root[512], point[512], dir[1100];
        if (!cgroup_path(proc_cgroup, v2, path, sizeof path) ||
            !cgroup_mount(mountinfo, v2, root, point, sizeof root))
            continue;
        /* outside a cgroup namespace, the path includes the mount's root */
        const size_t r = strcmp(root, "/") == 0 ? 0 : strlen(root);
        const char *rel = r && strncmp(path, root, r) == 0 ? path + r : path;
        if (snprintf(dir, sizeof dir, "%s%s", point, strcmp(rel, "/") == 0 ? "" : rel) >= (int)sizeof dir) continue;
        for (size_t top = strlen(point);;) { /* this cgroup, then each parent up to the mount */
            const double q = quota_at(dir, v2);
            if (q > 0 && (least == 0 || q < least)) least = q;
            char *slash = strrchr(dir, '/');
            if (strlen(dir) <= top || !slash || (size_t)(slash - dir) < top) break;
            *slash = '\0';
        }
    }
    if (least <= 0) return 0;
    const double up = ceil(least - 1e-9);
    return up < 1 ? 1 : up > 1e6 ? 1000000 : (int)up;
}

/* Fill `m` from hwloc (unless NN_NO_HWLOC is set) or the fallback. */
static void machine_probe(nn_machine *m)
{
    memset(m, 0, sizeof *m);
    int ok = 0;
#ifdef NN_HAVE_HWLOC
    if (env_int("NN_NO_HWLOC", 0) == 0) ok = probe_hwloc(m);
#endif
    if (!ok) probe_fallback(m);
    read_cpu_model(m);
    /* NN_NUM_THREADS, then OMP_NUM_THREADS as usual, then one per core
     * within the CPU quota */
    int threads = env_int("NN_NUM_THREADS", 0);
    if (threads == 0) threads = env_int("OMP_NUM_THREADS", 0);
    m->topo.cpu_limit = nn_cgroup_cpu_limit("/proc/self/cgroup", "/proc/self/mountinfo");
    const int usable = m->topo.cpu_limit > 0 && m->topo.cpu_limit < m->topo.cores ? m->topo.cpu_limit : m->topo.cores;
    m->topo.threads = threads > 0 ? threads : usable;
    /* threads the OpenMP runtime binds stay where the user asked it to put them */
    m->topo.bind = m->topo.from_hwloc && env_int("NN_BIND", 1) != 0 && !openmp_binds();
    /* NN_SECONDS_PER_THREAD was calibrated where a team costs about 1 us
     * (Zen 4, Intel Xeon: 0.7-1.0); where it costs more (2.3-3.1 us on a
     * Zen 5 VM whose two vCPUs pass a cache line in 0.47 us), work must pay
     * for it in proportion, or small products run slower on two threads than
     * on one. Not measured where the default is one thread (no team started
     * behind a process that asked for one, such as an MPI rank per core), nor
     * wider than the cores (an oversubscribed team is the user's choice). */
    const int team = m->topo.threads < m->topo.cores ? m->topo.threads : m->topo.cores;
    const double given = env_team_us(); /* reproducible thread choices: tests, benchmarks */
    const double cost = given >= 0.0 ? given * 1e-6 : team_seconds(team);
    m->topo.team_us = cost * 1e6;
    m->seconds_per_thread = 4.0 * cost > NN_SECONDS_PER_THREAD ? 4.0 * cost : NN_SECONDS_PER_THREAD;
}

static nn_machine machine;
static pthread_once_t machine_once = PTHREAD_ONCE_INIT;

static void probe_once(void) { machine_probe(&machine); }

const nn_machine *nn_machine_get(void)
{
    pthread_once(&machine_once, probe_once);
    return &machine;
}

nn_status nn_get_topology(nn_topology *topo)
{
    if (!topo) return NN_ERR_INVALID_ARGUMENT;
    *topo = nn_machine_get()->topo;
    return NN_OK;
}

int nn_resolve_threads(int threads)
{
    return threads > 0 ? threads : nn_machine_get()->topo.threads;
}

/* Rates per vector lane, per second on one core: calibrated so that
 * AVX-512 (16 lanes) reproduces the thresholds measured with nnbench on
 * Zen 4 (a GEMM of 5e5 flops, 10x256x256 NT, gained from a second thread,
 * 84 -> 125 GFLOP/s, and lost below it: 4 us at 125 GFLOP/s; elementwise
 * work and nn_predict's weight streaming paid from 32 K elements or
 * multiply-adds: 4 us at 8 G/s). Fewer lanes, slower kernels: the same
 * work is more time, and a thread pays off sooner. */
#define FLOPS_PER_LANE 8.0e9
#define ELEMENTS_PER_LANE 0.5e9
/* nn_predict's few-column layers stream W from L2 at about 2 multiply-adds
 * per lane-ns (one sample through 784-256-128-10: 35 G/s on a Zen 5 core);
 * counted at 0.5 like elementwise work, a split looked worth it where it cost
 * more than it saved once starting a team cost 2.4 us (one sample: 7.5 ->
 * 11.3 us on 2 threads). 1.5 keeps one sample split where a team costs 1 us
 * or less (Intel Xeon: 5.6 -> 4.8 us). */
#define MACS_PER_LANE 1.5e9

double nn_work_seconds(const nn_kernels *kr, nn_work_kind kind, double amount)
{
    const double lanes = kr && kr->lanes ? (double)kr->lanes : 1.0;
    const double rate = kind == NN_WORK_FLOPS ? FLOPS_PER_LANE
                        : kind == NN_WORK_MACS ? MACS_PER_LANE
                                               : ELEMENTS_PER_LANE;
    return amount / (lanes * rate);
}

int nn_worth_threads(int threads, const nn_kernels *kr, nn_work_kind kind, double amount, size_t parts)
{
    int nt = threads < 1 ? 1 : threads;
    /* one thread leaves at once: this runs on every call */
    if (nt == 1) return 1;
    const double unit = nn_machine_get()->seconds_per_thread, seconds = nn_work_seconds(kr, kind, amount);
    if (seconds < 2.0 * unit) return 1;
    const double paid = seconds / unit; /* threads the work pays for */
    if (paid < (double)nt) nt = paid < 1.0 ? 1 : (int)paid;
    if (parts && (size_t)nt > parts) nt = (int)parts;
    return nt;
}

void nn_bind_team(void)
{
#if defined(NN_HAVE_HWLOC) && defined(_OPENMP)
    /* Workers only: thread 0 is the caller's own thread, and pinning it would
     * put two networks trained from two user threads on the same core. */
    static _Thread_local int bound_core = -1;
    const nn_machine *m = nn_machine_get();
    const int t = omp_get_thread_num();
    if (!m->topo.bind || !hw_loaded || t == 0) return;
    const int core = t % m->topo.cores;
    if (bound_core == core) return;
    hwloc_obj_t c = hwloc_get_obj_by_type(hw_topology, HWLOC_OBJ_CORE, (unsigned)core);
    if (!c) return;
    hwloc_bitmap_t set = hwloc_bitmap_dup(c->cpuset);
    if (!set) return;
    hwloc_bitmap_singlify(set);
    if (hwloc_set_cpubind(hw_topology, set, HWLOC_CPUBIND_THREAD) == 0) bound_core = core;
    hwloc_bitmap_free(set);
#endif
}

/* Files: IDX reading (valid and every kind of bad file), model save/load
 * round trips, corrupt models, an interrupted save, and a short training run
 * on Fashion-MNIST when the dataset is installed. Files are written into the
 * current directory (CTest runs tests in the build tree). */
#define _POSIX_C_SOURCE 200809L /* fork, kill, nanosleep */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"

#define FASHION "/usr/share/datasets/fashion-mnist/"

static void write_gz(const char *path, const uint8_t *bytes, size_t n)
{
    gzFile f = gzopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(gzwrite(f, bytes, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(f), Z_OK);
}

static void write_plain(const char *path, const uint8_t *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

/* 3 images of 2x3 and their labels */
static size_t make_images(uint8_t *b)
{
    const uint8_t head[] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 3};
    memcpy(b, head, 16);
    for (int i = 0; i < 18; i++) b[16 + i] = (uint8_t)(i * 15);
    return 34;
}
static size_t make_labels(uint8_t *b)
{
    const uint8_t l[] = {0, 0, 8, 1, 0, 0, 0, 3, 2, 0, 1};
    memcpy(b, l, sizeof l);
    return sizeof l;
}

START_TEST(idx_valid_files)
{
    uint8_t img[64], lab[16];
    const size_t ni = make_images(img), nl = make_labels(lab);
    write_gz("t_images.gz", img, ni);
    write_gz("t_labels.gz", lab, nl);
    nn_idx images, labels;
    ck_assert_int_eq(nn_idx_read("t_images.gz", &images), NN_OK);
    ck_assert_int_eq(nn_idx_read("t_labels.gz", &labels), NN_OK);
    ck_assert_uint_eq(images.count, 3);
    ck_assert_uint_eq(images.rows, 2);
    ck_assert_uint_eq(images.cols, 3);
    ck_assert_uint_eq(labels.count, 3);
    ck_assert_int_eq(images.data[17], 17 * 15);
    float *x, *y;
    ck_assert_int_eq(nn_idx_dataset(&images, &labels, 3, &x, &y), NN_OK);
    ck_assert_float_eq_tol(x[6], 6 * 15 / 255.0f, 1e-7f); /* image 1, pixel 0: column 1 */
    ck_assert_float_eq(y[0 * 3 + 2], 1.0f);
    ck_assert_float_eq(y[1 * 3 + 0], 1.0f);
    ck_assert_float_eq(y[2 * 3 + 1], 1.0f);
    ck_assert_float_eq(y[0 * 3 + 0], 0.0f);
    free(x), free(y);
    ck_assert_int_eq(nn_idx_dataset(&images, &labels, 2, &x, &y), NN_ERR_FORMAT); /* label 2 >= 2 */
    nn_idx two = labels;
    two.count = 2;
    ck_assert_int_eq(nn_idx_dataset(&images, &two, 3, &x, &y), NN_ERR_FORMAT);
    nn_idx_free(&images);
    nn_idx_free(&labels);
    nn_idx_free(NULL);
    /* the same bytes decoded from memory */
    ck_assert_int_eq(nn_idx_decode(img, ni, &images), NN_OK);
    ck_assert_uint_eq(images.count * images.rows * images.cols, 18);
    nn_idx_free(&images);
}
END_TEST

START_TEST(idx_bad_files)
{
    uint8_t img[64], bad[64];
    const size_t ni = make_images(img);
    nn_idx d;
    struct { const char *what; size_t at; uint8_t value; size_t len; nn_status want; } cases[] = {
        {"bad magic", 2, 9, 34, NN_ERR_FORMAT},       /* data type not u8 */
        {"bad magic byte 0", 0, 1, 34, NN_ERR_FORMAT},
        {"wrong dims", 3, 2, 34, NN_ERR_FORMAT},      /* 2 dimensions */
        {"zero count", 7, 0, 34, NN_ERR_FORMAT},
        {"truncated payload", 0, 0, 30, NN_ERR_TRUNCATED},
        {"truncated header", 0, 0, 10, NN_ERR_TRUNCATED},
        {"trailing data", 0, 0, 35, NN_ERR_FORMAT},
        {"more items than data", 7, 4, 34, NN_ERR_TRUNCATED},
        {"absurd rows", 8, 0x7f, 34, NN_ERR_FORMAT},
        /* claims ~2^31 x 256 x 3 bytes, holds 18: must not try to allocate it
         * (found by fuzz_idx) */
        {"huge claim", 4, 0x7f, 34, NN_ERR_TRUNCATED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        memcpy(bad, img, ni);
        bad[ni] = 0;
        if (cases[i].at || cases[i].value) bad[cases[i].at] = cases[i].value;
        if (cases[i].want == NN_ERR_TRUNCATED && cases[i].at == 4) bad[10] = 1, bad[11] = 0; /* rows 256 */
        write_gz("t_bad.gz", bad, cases[i].len);
        ck_assert_msg(nn_idx_read("t_bad.gz", &d) == cases[i].want, "%s (file)", cases[i].what);
        ck_assert_ptr_null(d.data);
        ck_assert_msg(nn_idx_decode(bad, cases[i].len, &d) == cases[i].want, "%s (memory)", cases[i].what);
    }
    write_plain("t_plain.idx", img, ni); /* plain IDX is read as it is */
    ck_assert_int_eq(nn_idx_read("t_plain.idx", &d), NN_OK);
    ck_assert(d.count == 3 && d.rows == 2 && d.cols == 3 && memcmp(d.data, img + 16, 18) == 0);
    nn_idx_free(&d);
    ck_assert_int_eq(nn_idx_read("t_missing.gz", &d), NN_ERR_IO);
    ck_assert_int_eq(nn_idx_read(NULL, &d), NN_ERR_INVALID_ARGUMENT);
    /* a corrupt deflate stream: flip bytes inside the compressed data */
    write_gz("t_corrupt.gz", img, ni);
    FILE *f = fopen("t_corrupt.gz", "rb");
    uint8_t gz[256];
    const size_t n = fread(gz, 1, sizeof gz, f);
    fclose(f);
    for (size_t i = 12; i < n - 8; i++) gz[i] ^= 0x5a;
    write_plain("t_corrupt.gz", gz, n);
    const nn_status s = nn_idx_read("t_corrupt.gz", &d);
    ck_assert_msg(s == NN_ERR_FORMAT || s == NN_ERR_CHECKSUM, "corrupt gzip: %s", nn_strerror(s));
    /* a gzip file cut short */
    write_plain("t_short.gz", gz, n / 2);
    ck_assert_int_ne(nn_idx_read("t_short.gz", &d), NN_OK);
}
END_TEST

/* A damaged download must never read as a good file (issue: a gzip missing
 * its 8-byte trailer was accepted). Every cut of a gzipped IDX file is
 * NN_ERR_TRUNCATED; every flipped bit of the CRC-32 or the length in the
 * trailer NN_ERR_CHECKSUM; every flipped bit in the compressed body an
 * error (FORMAT or CHECKSUM as zlib sees it, TRUNCATED only where the damaged
 * stream asks for more input than the file has), or, for the few bits that
 * deflate ignores, the very same data. */
START_TEST(idx_gzip_damage_is_detected)
{
    const size_t count = 12, side = 28, n = 16 + count * side * side;
    uint8_t *raw = malloc(n), *gz = malloc(2 * n + 64);
    const uint8_t head[] = {0, 0, 8, 3, 0, 0, 0, (uint8_t)count, 0, 0, 0, (uint8_t)side, 0, 0, 0, (uint8_t)side};
    memcpy(raw, head, 16);
    uint64_t st = 9;
    for (size_t i = 16; i < n; i++) raw[i] = (uint8_t)(tu_next(&st) % 7 == 0 ? tu_next(&st) : 0);
    write_gz("t_whole.gz", raw, n);
    FILE *f = fopen("t_whole.gz", "rb");
    const size_t len = fread(gz, 1, 2 * n + 64, f);
    fclose(f);
    nn_idx d;
    ck_assert_int_eq(nn_idx_read("t_whole.gz", &d), NN_OK);
    ck_assert(d.count == count && memcmp(d.data, raw + 16, n - 16) == 0);
    nn_idx_free(&d);
    for (size_t cut = 1; cut < len; cut++) {
        write_plain("t_cut.gz", gz, cut);
        const nn_status s = nn_idx_read("t_cut.gz", &d);
        ck_assert_msg(s == NN_ERR_TRUNCATED, "cut to %zu of %zu bytes: %s", cut, len, nn_strerror(s));
        ck_assert_ptr_null(d.data);
    }
    int truncated = 0;
    for (size_t at = 10; at < len; at++)
        for (int bit = 0; bit < 8; bit++) {
            gz[at] ^= (uint8_t)(1u << bit);
            write_plain("t_flip.gz", gz, len);
            const nn_status s = nn_idx_read("t_flip.gz", &d);
            gz[at] ^= (uint8_t)(1u << bit);
            if (at >= len - 8)
                ck_assert_msg(s == NN_ERR_CHECKSUM, "trailer byte %zu bit %d: %s", at, bit, nn_strerror(s));
            else if (s == NN_OK) /* bits deflate ignores (padding, unused code lengths): the same data */
                ck_assert_msg(d.count == count && memcmp(d.data, raw + 16, n - 16) == 0,
                              "body byte %zu bit %d read as a good file with other data", at, bit);
            else
                ck_assert_msg(s == NN_ERR_FORMAT || s == NN_ERR_CHECKSUM || s == NN_ERR_TRUNCATED,
                              "body byte %zu bit %d: %s", at, bit, nn_strerror(s));
            truncated += s == NN_ERR_TRUNCATED;
            nn_idx_free(&d);
        }
    /* a flipped bit rarely makes a stream that wants more input */
    ck_assert_int_lt(truncated, (int)(len * 8 / 20));
    /* two gzip members, or garbage after one: not what an IDX file is */
    memcpy(gz + len, gz, len);
    write_plain("t_two.gz", gz, 2 * len);
    ck_assert_int_eq(nn_idx_read("t_two.gz", &d), NN_ERR_FORMAT);
    free(raw), free(gz);
}
END_TEST

static nn_network *sample_net(uint64_t seed)
{
    const size_t sizes[] = {6, 9, 4};
    const nn_activation acts[] = {NN_LEAKY_RELU, NN_SOFTMAX};
    nn_network *net;
    ck_assert_int_eq(nn_network_create(&net, 2, sizes, acts, NN_CROSS_ENTROPY, seed), NN_OK);
    return net;
}

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n + 16);
    ck_assert_uint_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

/* FNV-1a 64 as the format defines it, to forge files with valid checksums */
static void fix_checksum(uint8_t *b, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n - 8; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    for (int i = 0; i < 8; i++) b[n - 8 + i] = (uint8_t)(h >> (8 * i));
}

START_TEST(model_round_trip_is_bitwise)
{
    nn_network *net = sample_net(11);
    float *x = tu_random(6 * 20, 3, -2, 2), *y = calloc(4 * 20, sizeof(float));
    for (int j = 0; j < 20; j++) y[j * 4 + j % 4] = 1;
    nn_optimizer adam = nn_optimizer_default(NN_ADAM);
    ck_assert_int_eq(nn_set_optimizer(net, &adam), NN_OK);
    for (int i = 0; i < 5; i++) ck_assert_int_eq(nn_train_step(net, x, 6, y, 4, 20, 0.01f, NULL), NN_OK);
    ck_assert_int_eq(nn_save(net, "t_model.nnm"), NN_OK);
    nn_network *back = NULL;
    ck_assert_int_eq(nn_load(&back, "t_model.nnm"), NN_OK);
    ck_assert_uint_eq(nn_weights_digest(back), nn_weights_digest(net));
    ck_assert_uint_eq(nn_network_layers(back), 2);
    ck_assert_int_eq(nn_network_activation(back, 0), NN_LEAKY_RELU);
    ck_assert_int_eq(nn_network_loss(back), NN_CROSS_ENTROPY);
    float out1[80], out2[80];
    ck_assert_int_eq(nn_forward(net, x, 6, 20, out1, 4), NN_OK);
    ck_assert_int_eq(nn_forward(back, x, 6, 20, out2, 4), NN_OK);
    ck_assert(memcmp(out1, out2, sizeof out1) == 0);
    /* overwriting an existing model works, and leaves no temporary */
    ck_assert_int_eq(nn_save(back, "t_model.nnm"), NN_OK);
    DIR *dir = opendir(".");
    struct dirent *e;
    while ((e = readdir(dir))) ck_assert_msg(strstr(e->d_name, "t_model.nnm.tmp") == NULL, "%s left", e->d_name);
    closedir(dir);
    ck_assert_int_eq(nn_save(net, "no_such_dir/m.nnm"), NN_ERR_IO);
    ck_assert_int_eq(nn_save(NULL, "x"), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_load(&back, "t_missing.nnm"), NN_ERR_IO);
    nn_network_destroy(back);
    nn_network_destroy(net);
    free(x), free(y);
}
END_TEST

START_TEST(model_corrupt_files)
{
    nn_network *net = sample_net(12), *out = NULL;
    ck_assert_int_eq(nn_save(net, "t_good.nnm"), NN_OK);
    size_t n;
    uint8_t *good = read_file("t_good.nnm", &n), *b = malloc(n + 16);
    /* every truncation: a status, never a crash or a network */
    for (size_t len = 0; len < n; len++) {
        const nn_status s = nn_load_memory(&out, good, len);
        ck_assert_msg(s == NN_ERR_TRUNCATED, "cut at %zu of %zu: %s", len, n, nn_strerror(s));
        ck_assert_ptr_null(out);
    }
    memcpy(b, good, n);
    b[n] = 0;
    ck_assert_int_eq(nn_load_memory(&out, b, n + 1), NN_ERR_FORMAT); /* trailing byte */
    memcpy(b, good, n);
    b[0] = 'N';
    ck_assert_int_eq(nn_load_memory(&out, b, n), NN_ERR_FORMAT); /* magic */
    memcpy(b, good, n);
    b[8] = 2;
    ck_assert_int_eq(nn_load_memory(&out, b, n), NN_ERR_VERSION);
    for (size_t i = 24; i < n - 8; i += 7) { /* any flipped bit in sizes, activations, parameters */
        memcpy(b, good, n);
        b[i] ^= 0x10;
        const nn_status s = nn_load_memory(&out, b, n);
        ck_assert_msg(s == NN_ERR_CHECKSUM || s == NN_ERR_FORMAT || s == NN_ERR_TRUNCATED,
                      "flip at %zu: %s", i, nn_strerror(s));
        ck_assert_ptr_null(out);
    }
    memcpy(b, good, n);
    b[n - 1] ^= 1;
    ck_assert_int_eq(nn_load_memory(&out, b, n), NN_ERR_CHECKSUM);
    /* forged with a valid checksum: NaN parameter; softmax on the hidden layer */
    const size_t params_at = 24 + 8 * 3 + 4 * 2;
    memcpy(b, good, n);
    const float nan = NAN;
    memcpy(b + params_at + 4, &nan, 4);
    fix_checksum(b, n);
    ck_assert_int_eq(nn_load_memory(&out, b, n), NN_ERR_NON_FINITE);
    memcpy(b, good, n);
    b[24 + 8 * 3] = NN_SOFTMAX;
    fix_checksum(b, n);
    ck_assert_int_eq(nn_load_memory(&out, b, n), NN_ERR_FORMAT);
    memcpy(b, good, n);
    b[12] = 0xff, b[13] = 0xff; /* absurd layer count */
    ck_assert_int_eq(nn_load_memory(&out, b, n), NN_ERR_FORMAT);
    ck_assert_ptr_null(out);
    write_plain("t_trunc.nnm", good, n / 2);
    ck_assert_int_eq(nn_load(&out, "t_trunc.nnm"), NN_ERR_TRUNCATED);
    free(good), free(b);
    nn_network_destroy(net);
}
END_TEST

/* A save that fails part-way (the file-size limit stands in for a full disk)
 * returns NN_ERR_IO, leaves the previous model intact and no temporary. */
START_TEST(interrupted_save_keeps_old_model)
{
    nn_network *old_net = sample_net(21);
    ck_assert_int_eq(nn_save(old_net, "t_keep.nnm"), NN_OK);
    const uint64_t old_digest = nn_weights_digest(old_net);
    const size_t sizes[] = {300, 300, 10};
    const nn_activation acts[] = {NN_RELU, NN_SOFTMAX};
    nn_network *big;
    ck_assert_int_eq(nn_network_create(&big, 2, sizes, acts, NN_CROSS_ENTROPY, 5), NN_OK);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {.rlim_cur = 4096, .rlim_max = RLIM_INFINITY};
    getrlimit(RLIMIT_FSIZE, &lim);
    const struct rlimit small = {.rlim_cur = 4096, .rlim_max = lim.rlim_max};
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    ck_assert_int_eq(nn_save(big, "t_keep.nnm"), NN_ERR_IO);
    setrlimit(RLIMIT_FSIZE, &lim);
    nn_network *back = NULL;
    ck_assert_int_eq(nn_load(&back, "t_keep.nnm"), NN_OK);
    ck_assert_uint_eq(nn_weights_digest(back), old_digest);
    DIR *dir = opendir(".");
    struct dirent *e;
    while ((e = readdir(dir))) ck_assert_msg(strstr(e->d_name, "t_keep.nnm.tmp") == NULL, "%s left", e->d_name);
    closedir(dir);
    nn_network_destroy(back);
    nn_network_destroy(big);
    nn_network_destroy(old_net);
}
END_TEST

/* A save killed before its rename leaves PATH.tmp.<pid>.XXXXXX; the next
 * save of PATH removes those of dead processes and keeps a live one's. */
START_TEST(killed_save_leftovers_are_cleaned)
{
    const pid_t child = fork();
    if (child == 0) _exit(0);
    ck_assert_int_gt(child, 0);
    waitpid(child, NULL, 0); /* its pid now names no process */
    char dead[64], live[64];
    snprintf(dead, sizeof dead, "t_clean.nnm.tmp.%ld.abcdef", (long)child);
    snprintf(live, sizeof live, "t_clean.nnm.tmp.%ld.ghijkl", (long)getpid());
    write_plain(dead, (const uint8_t *)"junk", 4);
    write_plain(live, (const uint8_t *)"junk", 4);
    write_plain("t_clean.nnm.tmp.notapid", (const uint8_t *)"junk", 4);
    nn_network *net = sample_net(3);
    ck_assert_int_eq(nn_save(net, "t_clean.nnm"), NN_OK);
    ck_assert_int_eq(access(dead, F_OK), -1);
    ck_assert_int_eq(access(live, F_OK), 0);
    ck_assert_int_eq(access("t_clean.nnm.tmp.notapid", F_OK), 0); /* not the pattern: not ours */
    unlink(live), unlink("t_clean.nnm.tmp.notapid");
    /* and through a directory part of the path */
    ck_assert_int_eq(mkdir("t_clean_dir", 0755) == 0 || errno == EEXIST, 1);
    snprintf(dead, sizeof dead, "t_clean_dir/m.nnm.tmp.%ld.abcdef", (long)child);
    write_plain(dead, (const uint8_t *)"junk", 4);
    ck_assert_int_eq(nn_save(net, "t_clean_dir/m.nnm"), NN_OK);
    ck_assert_int_eq(access(dead, F_OK), -1);
    nn_network_destroy(net);
}
END_TEST

/* A real kill: children save a large model in a loop and are SIGKILLed at
 * random moments; the file is always a loadable model, and one more save
 * leaves no temporary. */
START_TEST(sigkill_during_saves)
{
    const size_t sizes[] = {300, 300, 10};
    const nn_activation acts[] = {NN_RELU, NN_SOFTMAX};
    nn_network *big;
    ck_assert_int_eq(nn_network_create(&big, 2, sizes, acts, NN_CROSS_ENTROPY, 5), NN_OK);
    ck_assert_int_eq(nn_save(big, "t_kill.nnm"), NN_OK);
    for (int round = 0; round < 12; round++) {
        const pid_t child = fork();
        if (child == 0) {
            for (;;) nn_save(big, "t_kill.nnm");
        }
        struct timespec t = {.tv_sec = 0, .tv_nsec = 1000000L * (1 + round % 7)};
        nanosleep(&t, NULL);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        nn_network *back = NULL;
        ck_assert_int_eq(nn_load(&back, "t_kill.nnm"), NN_OK);
        ck_assert_uint_eq(nn_weights_digest(back), nn_weights_digest(big));
        nn_network_destroy(back);
    }
    ck_assert_int_eq(nn_save(big, "t_kill.nnm"), NN_OK);
    DIR *dir = opendir(".");
    struct dirent *e;
    while ((e = readdir(dir))) ck_assert_msg(strstr(e->d_name, "t_kill.nnm.tmp") == NULL, "%s left", e->d_name);
    closedir(dir);
    nn_network_destroy(big);
}
END_TEST

/* A model whose parameters went non-finite (a diverged nn_train_step) is
 * not saved: nn_load would refuse the file, and the good one stays. */
START_TEST(non_finite_model_is_not_saved)
{
    nn_network *net = sample_net(4);
    ck_assert_int_eq(nn_save(net, "t_nan.nnm"), NN_OK);
    const uint64_t good = nn_weights_digest(net);
    float x[6 * 4], y[4 * 4] = {0};
    for (int i = 0; i < 24; i++) x[i] = 1.0f + (float)i;
    for (int j = 0; j < 4; j++) y[j * 4 + j] = 1.0f;
    for (int i = 0; i < 20; i++) nn_train_step(net, x, 6, y, 4, 4, 1e38f, NULL);
    float w[9 * 6];
    ck_assert_int_eq(nn_get_weights(net, 0, w, 9), NN_OK);
    int finite = 1;
    for (int i = 0; i < 54; i++) finite &= isfinite(w[i]) != 0;
    ck_assert_msg(!finite, "the step did not diverge");
    ck_assert_int_eq(nn_save(net, "t_nan.nnm"), NN_ERR_NON_FINITE);
    nn_network *back = NULL;
    ck_assert_int_eq(nn_load(&back, "t_nan.nnm"), NN_OK);
    ck_assert_uint_eq(nn_weights_digest(back), good);
    nn_network_destroy(back), nn_network_destroy(net);
}
END_TEST

static nn_status csv_text(const char *text, int header, nn_csv *out, nn_csv_error *err)
{
    return nn_csv_decode(text, strlen(text), header, out, err);
}

/* CSV: the accepted forms, and every kind of bad line reported with its
 * line and field. */
START_TEST(csv_reading)
{
    nn_csv c;
    nn_csv_error e;
    ck_assert_int_eq(csv_text("x,y,label\n1,2.5,0\n-3, 4e2 ,1\r\n5,6,2\n\n", -1, &c, &e), NN_OK);
    ck_assert(c.rows == 3 && c.cols == 3);
    ck_assert(c.data[0] == 1.0f && c.data[1] == 2.5f && c.data[3] == -3.0f && c.data[4] == 400.0f && c.data[8] == 2.0f);
    float *x, *y;
    ck_assert_int_eq(nn_csv_dataset(&c, 2, 1, 3, &x, &y), NN_OK); /* the last field: labels of 3 classes */
    ck_assert(x[0] == 1.0f && x[1] == 2.5f && x[2] == -3.0f && x[5] == 6.0f);
    ck_assert(y[0] == 1.0f && y[1] == 0.0f && y[4] == 1.0f && y[8] == 1.0f);
    free(x), free(y);
    ck_assert_int_eq(nn_csv_dataset(&c, 0, 2, 0, &x, &y), NN_OK); /* regression on the first two */
    ck_assert(x[0] == 0.0f && x[1] == 1.0f && y[0] == 1.0f && y[1] == 2.5f && y[2] == -3.0f);
    free(x), free(y);
    ck_assert_int_eq(nn_csv_dataset(&c, 2, 1, 2, &x, &y), NN_ERR_FORMAT);          /* label 2 >= 2 classes */
    ck_assert_int_eq(nn_csv_dataset(&c, 0, 3, 0, &x, &y), NN_ERR_INVALID_ARGUMENT); /* no features left */
    ck_assert_int_eq(nn_csv_dataset(&c, 2, 2, 0, &x, &y), NN_ERR_INVALID_ARGUMENT); /* past the fields */
    ck_assert_int_eq(nn_csv_dataset(&c, 1, 1, 3, &x, &y), NN_ERR_FORMAT);          /* 2.5 is no label */
    nn_csv_free(&c);
    nn_csv_free(&c);
    ck_assert_int_eq(csv_text("1,2\n3,4\n", 0, &c, &e), NN_OK); /* no header, none guessed */
    ck_assert(c.rows == 2);
    nn_csv_free(&c);
    ck_assert_int_eq(csv_text("1,2\n3,4", 1, &c, &e), NN_OK); /* the first line as a header, no final newline */
    ck_assert(c.rows == 1 && c.data[0] == 3.0f);
    nn_csv_free(&c);
    const struct { const char *text; nn_status want; size_t line, field; } bad[] = {
        {"1,2\n3,x\n", NN_ERR_FORMAT, 2, 2},
        {"1,2\n3\n", NN_ERR_FORMAT, 2, 2},
        {"1,2\n3,4,5\n", NN_ERR_FORMAT, 2, 3},
        {"1,2\n\n3,4\n", NN_ERR_FORMAT, 2, 0},
        {"1,2\n3,nan\n", NN_ERR_NON_FINITE, 2, 2},
        {"1,2\n3,-inf\n", NN_ERR_NON_FINITE, 2, 2},
        {"1,1e39\n", NN_ERR_NON_FINITE, 1, 2},
        {"1,,2\n", NN_ERR_FORMAT, 1, 2},
        {"a,b\n", NN_ERR_FORMAT, 1, 0},      /* a header and no data */
        {"", NN_ERR_FORMAT, 0, 0},
        {"h\n1\n2,3\n", NN_ERR_FORMAT, 3, 2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const nn_status st = csv_text(bad[i].text, -1, &c, &e);
        ck_assert_msg(st == bad[i].want && e.line == bad[i].line && e.field == bad[i].field,
                      "case %zu: %s at line %zu field %zu", i, nn_strerror(st), e.line, e.field);
        ck_assert_ptr_null(c.data);
    }
    write_plain("t_data.csv", (const uint8_t *)"a,b\n1,2\n", 8);
    ck_assert_int_eq(nn_csv_read("t_data.csv", -1, &c, NULL), NN_OK);
    ck_assert(c.rows == 1 && c.cols == 2);
    nn_csv_free(&c);
    errno = 0;
    ck_assert_int_eq(nn_csv_read("t_missing.csv", -1, &c, &e), NN_ERR_IO);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(nn_csv_read(NULL, -1, &c, &e), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(csv_text("1\n", 2, &c, &e), NN_ERR_INVALID_ARGUMENT);
}
END_TEST

static int stop_after_two(size_t epoch, float cost, void *user)
{
    (void)cost, (void)user;
    return epoch == 1;
}

/* A checkpoint taken mid-run and resumed (opt.start_epoch) ends with the
 * very bits of the run that never stopped, for momentum and Adam (their
 * state and step count travel in the file); damage is reported. */
START_TEST(checkpoint_resume_is_bitwise)
{
    const size_t sizes[] = {6, 9, 4};
    const nn_activation acts[] = {NN_LEAKY_RELU, NN_SOFTMAX};
    float *x = tu_random(6 * 200, 4, -1, 1), y[4 * 200] = {0};
    for (int j = 0; j < 200; j++) y[j * 4 + j % 4] = 1.0f;
    const nn_optimizer_kind kinds[] = {NN_SGD, NN_MOMENTUM, NN_ADAM};
    for (int k = 0; k < 3; k++) {
        nn_optimizer o = nn_optimizer_default(kinds[k]);
        o.weight_decay = 1e-4f;
        nn_network *whole, *half, *resumed = NULL;
        ck_assert_int_eq(nn_network_create(&whole, 2, sizes, acts, NN_CROSS_ENTROPY, 9), NN_OK);
        ck_assert_int_eq(nn_network_create(&half, 2, sizes, acts, NN_CROSS_ENTROPY, 9), NN_OK);
        nn_set_optimizer(whole, &o), nn_set_optimizer(half, &o);
        nn_train_options opt = {.epochs = 5, .batch_size = 16, .learning_rate = 0.05f, .shuffle_seed = 8,
                                .schedule = NN_COSINE};
        ck_assert_int_eq(nn_train(whole, x, 6, y, 4, 200, &opt, NULL, NULL), NN_OK);
        /* the same 5-epoch run (same cosine schedule), stopped after its second epoch */
        ck_assert_int_eq(nn_train(half, x, 6, y, 4, 200, &opt, stop_after_two, NULL), NN_OK);
        ck_assert_int_eq(nn_checkpoint_save(half, 2, "t_ck.nnc"), NN_OK);
        size_t next = 0;
        ck_assert_int_eq(nn_checkpoint_load(&resumed, &next, "t_ck.nnc"), NN_OK);
        ck_assert_uint_eq(next, 2);
        ck_assert_uint_eq(nn_weights_digest(resumed), nn_weights_digest(half));
        opt.start_epoch = next;
        ck_assert_int_eq(nn_train(resumed, x, 6, y, 4, 200, &opt, NULL, NULL), NN_OK);
        ck_assert_msg(nn_weights_digest(resumed) == nn_weights_digest(whole), "optimizer %d: resumed run differs", k);
        nn_network_destroy(whole), nn_network_destroy(half), nn_network_destroy(resumed);
    }
    /* damage */
    FILE *f = fopen("t_ck.nnc", "rb");
    uint8_t buf[8192];
    const size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    nn_network *net = NULL;
    size_t next;
    buf[n / 2] ^= 0x10;
    write_plain("t_ck_bad.nnc", buf, n);
    ck_assert_int_eq(nn_checkpoint_load(&net, &next, "t_ck_bad.nnc"), NN_ERR_CHECKSUM);
    buf[n / 2] ^= 0x10;
    write_plain("t_ck_bad.nnc", buf, n - 5);
    const nn_status cut = nn_checkpoint_load(&net, &next, "t_ck_bad.nnc");
    ck_assert(cut == NN_ERR_CHECKSUM || cut == NN_ERR_TRUNCATED);
    nn_network *model = NULL;
    ck_assert_int_eq(nn_network_create(&model, 2, sizes, acts, NN_CROSS_ENTROPY, 9), NN_OK);
    ck_assert_int_eq(nn_save(model, "t_ck_model.nnm"), NN_OK);
    ck_assert_int_eq(nn_checkpoint_load(&net, &next, "t_ck_model.nnm"), NN_ERR_FORMAT); /* a model, not a checkpoint */
    ck_assert_int_eq(nn_checkpoint_load(&net, &next, "t_ck_missing.nnc"), NN_ERR_IO);
    ck_assert_ptr_null(net);
    nn_network_destroy(model);
    free(x);
}
END_TEST

/* 784-128-10 with Adam on the first 10000 training images for 2 epochs: far
 * above chance (0.1) on 2000 test images. Skipped (passes) without data. */
START_TEST(fashion_mnist_slice_trains)
{
    nn_idx ti, tl, vi, vl;
    if (nn_idx_read(FASHION "train-images-idx3-ubyte.gz", &ti) != NN_OK) {
        printf("fashion-mnist not installed: skipping\n");
        return;
    }
    ck_assert_int_eq(nn_idx_read(FASHION "train-labels-idx1-ubyte.gz", &tl), NN_OK);
    ck_assert_int_eq(nn_idx_read(FASHION "t10k-images-idx3-ubyte.gz", &vi), NN_OK);
    ck_assert_int_eq(nn_idx_read(FASHION "t10k-labels-idx1-ubyte.gz", &vl), NN_OK);
    ck_assert_uint_eq(ti.count, 60000);
    ck_assert_uint_eq(vi.count, 10000);
    ti.count = tl.count = 10000, vi.count = vl.count = 2000;
    float *x, *y, *vx, *vy;
    ck_assert_int_eq(nn_idx_dataset(&ti, &tl, 10, &x, &y), NN_OK);
    ck_assert_int_eq(nn_idx_dataset(&vi, &vl, 10, &vx, &vy), NN_OK);
    const size_t sizes[] = {784, 128, 10};
    const nn_activation acts[] = {NN_RELU, NN_SOFTMAX};
    nn_network *net;
    ck_assert_int_eq(nn_network_create(&net, 2, sizes, acts, NN_CROSS_ENTROPY, 1), NN_OK);
    nn_optimizer adam = nn_optimizer_default(NN_ADAM);
    ck_assert_int_eq(nn_set_optimizer(net, &adam), NN_OK);
    const nn_train_options opt = {.epochs = 2, .batch_size = 64, .learning_rate = 1e-3f, .shuffle_seed = 1};
    ck_assert_int_eq(nn_train(net, x, 784, y, 10, 10000, &opt, NULL, NULL), NN_OK);
    float *out = malloc(10 * 2000 * sizeof(float));
    ck_assert_int_eq(nn_forward(net, vx, 784, 2000, out, 10), NN_OK);
    size_t right = 0;
    for (size_t j = 0; j < 2000; j++) {
        size_t best = 0;
        for (size_t i = 1; i < 10; i++) best = out[j * 10 + i] > out[j * 10 + best] ? i : best;
        right += vy[j * 10 + best] == 1.0f;
    }
    const double acc = (double)right / 2000.0;
    printf("fashion-mnist slice: test accuracy %.3f\n", acc);
    ck_assert_msg(acc > 0.75, "accuracy %.3f", acc);
    free(out), free(x), free(y), free(vx), free(vy);
    nn_network_destroy(net);
    nn_idx_free(&ti), nn_idx_free(&tl), nn_idx_free(&vi), nn_idx_free(&vl);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {idx_valid_files, idx_bad_files, idx_gzip_damage_is_detected, model_round_trip_is_bitwise, model_corrupt_files, interrupted_save_keeps_old_model, killed_save_leftovers_are_cleaned, sigkill_during_saves, non_finite_model_is_not_saved, csv_reading, checkpoint_resume_is_bitwise, fashion_mnist_slice_trains};
    return tu_main("io", 300, tests, sizeof tests / sizeof *tests);
}

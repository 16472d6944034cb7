/*
 * The C ABI from C: compiled with -Wall -Wextra -Werror against include/wcodec.h and linked to
 * libwcodec_ffi (`make test-c`; on a GPU machine `scripts/gpu_test_c.sh`).
 *
 * Usage: test_wcodec ROOT [--require-gpu]
 *   ROOT is the repository root (testdata/golden, testdata/reject, crates/wcodec-ffi/tests/data).
 *   --require-gpu fails instead of skipping the GPU part when no CUDA device is found.
 *
 * What it checks:
 *   - every golden .wcodec decodes (by name, by index, in one batch) to the bytes of its source
 *     .safetensors, whose header is parsed here, independently of the library: each tensor's
 *     data_offsets, dtype and shape are looked up by name in the source JSON;
 *   - every file of testdata/reject fails, at open or at decode, with a file status, and a few
 *     with their specific status;
 *   - every status an argument or a file can produce from C on this machine: see `reached`,
 *     printed at the end; the few that cannot be produced here are listed with the reason;
 *   - the encoder: golden sources encoded through wcodec_encode_checkpoint (defaults and set
 *     options, a file and a model directory) decode back to their bytes; bad options and paths
 *     give their statuses; a cancel from the progress callback leaves no output;
 *   - with a CUDA device: the GPU decode into cuMemAlloc'ed memory (driver API through dlopen, so
 *     no CUDA headers are needed to build this) gives the same bytes, on a stream of ours, and
 *     the GPU-side argument and corruption checks; without one, CUDA_UNAVAILABLE.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wcodec.h"

static int failures = 0;
static int checks = 0;

/* Statuses produced at least once, by value (they are below 1000). */
static unsigned char reached[1000];

static void fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%d: FAIL: ", file, line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    failures++;
}

#define CHECK(cond, ...)                                   \
    do {                                                   \
        checks++;                                          \
        if (!(cond)) fail(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

static void note(wcodec_status s) {
    if ((uint32_t)s < sizeof reached) reached[(uint32_t)s] = 1;
}

/* Checks a status and, for a failure, that the thread's message is not empty. */
#define EXPECT(call, want, what)                                                               \
    do {                                                                                       \
        wcodec_status got_ = (call);                                                           \
        note(got_);                                                                            \
        checks++;                                                                              \
        if (got_ != (want)) {                                                                  \
            fail(__FILE__, __LINE__, "%s: got %s, want %s (message: %s)", (what),              \
                 wcodec_status_str(got_), wcodec_status_str(want), wcodec_last_error_message()); \
        } else if ((want) != WCODEC_STATUS_OK && wcodec_last_error_message()[0] == '\0') {     \
            fail(__FILE__, __LINE__, "%s: %s with an empty message", (what),                   \
                 wcodec_status_str(got_));                                                     \
        } else if ((want) == WCODEC_STATUS_OK && wcodec_last_error_message()[0] != '\0') {     \
            fail(__FILE__, __LINE__, "%s: OK but message `%s`", (what),                        \
                 wcodec_last_error_message());                                                 \
        }                                                                                      \
    } while (0)

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Sorted list of the `*.wcodec` files of a directory (names only). */
static size_t list_wcodec(const char *dir, char names[][128], size_t cap) {
    DIR *d = opendir(dir);
    size_t n = 0;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < cap) {
        if (ends_with(e->d_name, ".wcodec") && strlen(e->d_name) < 128) {
            strcpy(names[n++], e->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    return n;
}

/* A safetensors file: the JSON header and the data section. */
typedef struct {
    unsigned char *bytes;
    size_t len;
    const char *json; /* NUL-terminated copy of the header */
    const unsigned char *data;
    size_t data_len;
} source_file;

static int source_open(const char *path, source_file *s) {
    memset(s, 0, sizeof *s);
    s->bytes = read_all(path, &s->len);
    if (!s->bytes || s->len < 8) return 0;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | s->bytes[i];
    if (n > s->len - 8) return 0;
    char *json = malloc((size_t)n + 1);
    memcpy(json, s->bytes + 8, (size_t)n);
    json[n] = '\0';
    s->json = json;
    s->data = s->bytes + 8 + n;
    s->data_len = s->len - 8 - (size_t)n;
    return 1;
}

static void source_close(source_file *s) {
    free(s->bytes);
    free((void *)s->json);
}

/*
 * The entry of tensor `name` in the source header, as the reference writer spells it:
 * "NAME":{"data_offsets":[B,E],"dtype":"D","shape":[...]} (keys sorted, no spaces). Fills the
 * offsets, the dtype and the shape; returns 0 when the entry is not found in that form.
 */
static int source_entry(const source_file *s, const char *name, uint64_t *begin, uint64_t *end,
                        char dtype[32], uint64_t shape[16], size_t *ndim) {
    char key[512];
    if (snprintf(key, sizeof key, "\"%s\":{\"data_offsets\":[", name) >= (int)sizeof key) return 0;
    const char *p = strstr(s->json, key);
    if (!p) return 0;
    p += strlen(key);
    char *q;
    *begin = strtoull(p, &q, 10);
    if (*q != ',') return 0;
    *end = strtoull(q + 1, &q, 10);
    if (strncmp(q, "],\"dtype\":\"", 11) != 0) return 0;
    p = q + 11;
    size_t k = 0;
    while (*p && *p != '"' && k < 31) dtype[k++] = *p++;
    dtype[k] = '\0';
    if (strncmp(p, "\",\"shape\":[", 11) != 0) return 0;
    p += 11;
    *ndim = 0;
    while (*p != ']') {
        if (*ndim == 16) return 0;
        unsigned long long v = strtoull(p, &q, 10);
        if (q == p) return 0;
        shape[(*ndim)++] = v;
        if (*q == ',') {
            p = q + 1;
        } else if (*q == ']') {
            p = q;
        } else {
            return 0;
        }
    }
    return 1;
}

static wcodec_file *open_or_fail(const char *path) {
    wcodec_file *f = NULL;
    wcodec_status s = wcodec_open(path, &f);
    note(s);
    CHECK(s == WCODEC_STATUS_OK && f != NULL, "open %s: %s (%s)", path, wcodec_status_str(s),
          wcodec_last_error_message());
    return s == WCODEC_STATUS_OK ? f : NULL;
}

static void test_golden(const char *root) {
    char dir[1024], names[64][128];
    snprintf(dir, sizeof dir, "%s/testdata/golden", root);
    size_t n_files = list_wcodec(dir, names, 64);
    CHECK(n_files >= 7, "only %zu golden files in %s", n_files, dir);
    for (size_t k = 0; k < n_files; k++) {
        char path[1200], src_path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        snprintf(src_path, sizeof src_path, "%.*s.safetensors", (int)(strlen(path) - 7), path);
        source_file src;
        CHECK(source_open(src_path, &src), "cannot read %s", src_path);
        wcodec_file *f = open_or_fail(path);
        if (!f || !src.json) {
            source_close(&src);
            wcodec_close(f);
            continue;
        }
        size_t count = wcodec_tensor_count(f);
        CHECK(count > 0, "%s: no tensors", path);
        wcodec_decode_job *jobs = calloc(count, sizeof *jobs);
        uint64_t *begins = calloc(count, sizeof *begins);
        uint64_t total = 0;
        for (size_t i = 0; i < count; i++) {
            wcodec_tensor_info info;
            EXPECT(wcodec_get_tensor_info(f, i, &info), WCODEC_STATUS_OK, "info");
            CHECK(strlen(info.name) == info.name_len, "%s: name_len", info.name);
            uint64_t b = 0, e = 0, shape[16];
            size_t ndim = 0;
            char dtype[32];
            if (!source_entry(&src, info.name, &b, &e, dtype, shape, &ndim)) {
                CHECK(0, "%s: tensor `%s` not found in the source header", path, info.name);
                continue;
            }
            CHECK(strcmp(dtype, info.dtype) == 0, "%s: dtype %s, source %s", info.name,
                  info.dtype, dtype);
            CHECK(ndim == info.ndim, "%s: ndim %zu, source %zu", info.name, info.ndim, ndim);
            for (size_t d = 0; d < ndim && d < info.ndim && d < WCODEC_MAX_NDIM; d++) {
                CHECK(shape[d] == info.shape[d] && shape[d] == info.dims[d], "%s: dim %zu",
                      info.name, d);
            }
            CHECK(e - b == info.nbytes && e <= src.data_len, "%s: nbytes %" PRIu64 ", source [%"
                  PRIu64 ", %" PRIu64 ")", info.name, info.nbytes, b, e);
            if (e - b != info.nbytes || e > src.data_len) continue;
            size_t nbytes = (size_t)info.nbytes;
            const unsigned char *want = src.data + b;

            /* By name, into a buffer pre-filled with a pattern the data is unlikely to hold. */
            unsigned char *out = malloc(nbytes + 1);
            memset(out, 0xA5, nbytes + 1);
            EXPECT(wcodec_decode_tensor(f, info.name, nbytes ? out : NULL, nbytes),
                   WCODEC_STATUS_OK, info.name);
            CHECK(memcmp(out, want, nbytes) == 0, "%s/%s: decoded bytes differ from the source",
                  names[k], info.name);
            CHECK(out[nbytes] == 0xA5, "%s: wrote past nbytes", info.name);

            size_t index = (size_t)-1;
            EXPECT(wcodec_find_tensor(f, info.name, &index), WCODEC_STATUS_OK, "find");
            CHECK(index == i, "%s: find gave %zu, not %zu", info.name, index, i);

            memset(out, 0x5A, nbytes);
            EXPECT(wcodec_decode_tensor_by_index(f, i, out, nbytes), WCODEC_STATUS_OK, "by index");
            CHECK(memcmp(out, want, nbytes) == 0, "%s: by index differs", info.name);
            free(out);

            begins[i] = b;
            jobs[i].index = i;
            jobs[i].dst_bytes = nbytes;
            total += nbytes;
        }
        /* All tensors in one batch, into one buffer laid out like the source's data section. */
        unsigned char *all = malloc(total + 1);
        memset(all, 0xA5, total + 1);
        for (size_t i = 0; i < count; i++) jobs[i].dst = jobs[i].dst_bytes ? all + begins[i] : NULL;
        CHECK(total == src.data_len, "%s: tensors cover %" PRIu64 " of %zu data bytes", path, total,
              src.data_len);
        EXPECT(wcodec_decode_tensors(f, jobs, count), WCODEC_STATUS_OK, "batch");
        CHECK(total == src.data_len && memcmp(all, src.data, src.data_len) == 0,
              "%s: batch decode differs from the source data section", path);
        free(all);
        free(jobs);
        free(begins);
        wcodec_close(f);
        source_close(&src);
    }
    printf("golden: %zu files decoded and compared with their sources\n", n_files);
}

typedef struct {
    const char *file;
    int at_open; /* 1: open fails; 0: open succeeds and a decode fails */
    wcodec_status want;
} reject_case;

static const reject_case SPECIFIC[] = {
    {"bad_magic.wcodec", 1, WCODEC_STATUS_NOT_WCODEC},
    {"version_3.wcodec", 1, WCODEC_STATUS_UNSUPPORTED_VERSION},
    {"version_0.wcodec", 1, WCODEC_STATUS_UNSUPPORTED_VERSION},
    {"truncated.wcodec", 1, WCODEC_STATUS_CORRUPT},
    {"header_checksum.wcodec", 1, WCODEC_STATUS_CORRUPT},
    {"duplicate_name.wcodec", 1, WCODEC_STATUS_CORRUPT},
    {"rans_state_low.wcodec", 0, WCODEC_STATUS_CORRUPT},
    {"freq_sum_low.wcodec", 0, WCODEC_STATUS_CORRUPT},
    {"checksum_recorded.wcodec", 0, WCODEC_STATUS_CHECKSUM_MISMATCH},
    {"checksum_raw_tensor.wcodec", 0, WCODEC_STATUS_CHECKSUM_MISMATCH},
    {"tile_mode_changed.wcodec", 0, WCODEC_STATUS_CHECKSUM_MISMATCH},
};

/* Decodes every tensor of an open file; returns the first failure's status (OK if none). */
static wcodec_status decode_all(wcodec_file *f) {
    size_t count = wcodec_tensor_count(f);
    for (size_t i = 0; i < count; i++) {
        wcodec_tensor_info info;
        if (wcodec_get_tensor_info(f, i, &info) != WCODEC_STATUS_OK) continue;
        void *out = malloc((size_t)info.nbytes + 1);
        wcodec_status s = wcodec_decode_tensor_by_index(f, i, info.nbytes ? out : NULL,
                                                        (size_t)info.nbytes);
        free(out);
        if (s != WCODEC_STATUS_OK) return s;
    }
    return WCODEC_STATUS_OK;
}

static void test_reject(const char *root) {
    char dir[1024], names[128][128];
    snprintf(dir, sizeof dir, "%s/testdata/reject", root);
    size_t n = list_wcodec(dir, names, 128);
    CHECK(n >= 40, "only %zu reject files in %s", n, dir);
    size_t specific_seen = 0;
    for (size_t k = 0; k < n; k++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        wcodec_file *f = NULL;
        wcodec_status s = wcodec_open(path, &f);
        int at_open = s != WCODEC_STATUS_OK;
        note(s);
        if (!at_open) {
            s = decode_all(f);
            note(s);
            wcodec_close(f);
        } else {
            CHECK(f == NULL, "%s: failed open left a handle", names[k]);
        }
        /* The file is valid apart from its source format, which only matters when rebuilding
         * the source file (not part of this ABI): every tensor decodes. */
        if (strcmp(names[k], "source_unknown_format.wcodec") == 0) {
            CHECK(s == WCODEC_STATUS_OK, "%s: %s", names[k], wcodec_status_str(s));
            continue;
        }
        CHECK(s == WCODEC_STATUS_NOT_WCODEC || s == WCODEC_STATUS_CORRUPT ||
                  s == WCODEC_STATUS_CHECKSUM_MISMATCH || s == WCODEC_STATUS_UNSUPPORTED_VERSION,
              "%s: got %s (message: %s)", names[k], wcodec_status_str(s),
              wcodec_last_error_message());
        CHECK(wcodec_last_error_message()[0] != '\0', "%s: empty message", names[k]);
        for (size_t c = 0; c < sizeof SPECIFIC / sizeof SPECIFIC[0]; c++) {
            if (strcmp(SPECIFIC[c].file, names[k]) != 0) continue;
            specific_seen++;
            CHECK(SPECIFIC[c].at_open == at_open && SPECIFIC[c].want == s,
                  "%s: got %s at %s, want %s at %s", names[k], wcodec_status_str(s),
                  at_open ? "open" : "decode", wcodec_status_str(SPECIFIC[c].want),
                  SPECIFIC[c].at_open ? "open" : "decode");
        }
    }
    CHECK(specific_seen == sizeof SPECIFIC / sizeof SPECIFIC[0], "specific reject files missing");
    printf("reject: %zu files refused\n", n);
}

static void test_arguments(const char *root) {
    char path[1200];
    snprintf(path, sizeof path, "%s/testdata/golden/raw_tensors.wcodec", root);
    wcodec_file *f = open_or_fail(path);
    if (!f) return;
    unsigned char buf[1024];
    memset(buf, 0, sizeof buf);
    wcodec_file *g = (wcodec_file *)&buf; /* must be overwritten with NULL on failure */

    EXPECT(wcodec_open(NULL, &g), WCODEC_STATUS_NULL_ARGUMENT, "open NULL path");
    CHECK(g == NULL, "failed open did not clear *out");
    EXPECT(wcodec_open(path, NULL), WCODEC_STATUS_NULL_ARGUMENT, "open NULL out");
    EXPECT(wcodec_open("\xff\xfe.wcodec", &g), WCODEC_STATUS_INVALID_UTF8, "open non-UTF-8");
    snprintf(path, sizeof path, "%s/testdata/golden/no_such_file.wcodec", root);
    EXPECT(wcodec_open(path, &g), WCODEC_STATUS_FILE_NOT_FOUND, "missing file");
    CHECK(strstr(wcodec_last_error_message(), "no_such_file.wcodec") != NULL,
          "message does not name the path: %s", wcodec_last_error_message());
    snprintf(path, sizeof path, "%s/testdata/golden", root);
    EXPECT(wcodec_open(path, &g), WCODEC_STATUS_IO, "a directory");

    wcodec_tensor_info info;
    size_t count = wcodec_tensor_count(f);
    CHECK(wcodec_tensor_count(NULL) == 0, "count(NULL)");
    EXPECT(wcodec_get_tensor_info(f, count, &info), WCODEC_STATUS_INDEX_OUT_OF_RANGE, "info");
    EXPECT(wcodec_get_tensor_info(NULL, 0, &info), WCODEC_STATUS_NULL_ARGUMENT, "info NULL f");
    EXPECT(wcodec_get_tensor_info(f, 0, NULL), WCODEC_STATUS_NULL_ARGUMENT, "info NULL out");

    size_t index;
    EXPECT(wcodec_find_tensor(f, "nope", &index), WCODEC_STATUS_TENSOR_NOT_FOUND, "find");
    CHECK(strstr(wcodec_last_error_message(), "`nope`") != NULL, "message: %s",
          wcodec_last_error_message());
    EXPECT(wcodec_find_tensor(f, "floats", NULL), WCODEC_STATUS_NULL_ARGUMENT, "find NULL");
    EXPECT(wcodec_find_tensor(f, NULL, &index), WCODEC_STATUS_NULL_ARGUMENT, "find NULL name");

    /* `floats` is F32 [10, 10]: 400 bytes. */
    EXPECT(wcodec_decode_tensor(f, "floats", buf, 399), WCODEC_STATUS_BUFFER_TOO_SMALL, "small");
    CHECK(strstr(wcodec_last_error_message(), "holds 399 bytes, the tensor needs 400") != NULL,
          "message: %s", wcodec_last_error_message());
    EXPECT(wcodec_decode_tensor(f, "floats", buf, 401), WCODEC_STATUS_BUFFER_SIZE_MISMATCH,
           "large");
    EXPECT(wcodec_decode_tensor(f, "nope", buf, 400), WCODEC_STATUS_TENSOR_NOT_FOUND, "decode");
    EXPECT(wcodec_decode_tensor(f, "\xff", buf, 400), WCODEC_STATUS_INVALID_UTF8, "utf8");
    EXPECT(wcodec_decode_tensor(NULL, "floats", buf, 400), WCODEC_STATUS_NULL_ARGUMENT, "NULL f");
    EXPECT(wcodec_decode_tensor(f, NULL, buf, 400), WCODEC_STATUS_NULL_ARGUMENT, "NULL name");
    EXPECT(wcodec_decode_tensor(f, "floats", NULL, 400), WCODEC_STATUS_NULL_ARGUMENT, "NULL dst");
    EXPECT(wcodec_decode_tensor_by_index(f, count, buf, 400), WCODEC_STATUS_INDEX_OUT_OF_RANGE,
           "by index");
    for (size_t i = 0; i < sizeof buf; i++) CHECK(buf[i] == 0, "refused call wrote byte %zu", i);

    /* Batches: NULL jobs, overlapping destinations (tensors 0 and 1: 300 and 400 bytes). */
    EXPECT(wcodec_decode_tensors(f, NULL, 0), WCODEC_STATUS_OK, "empty batch");
    EXPECT(wcodec_decode_tensors(f, NULL, 1), WCODEC_STATUS_NULL_ARGUMENT, "NULL jobs");
    wcodec_decode_job jobs[2] = {{0, buf, 300}, {1, buf + 299, 400}};
    EXPECT(wcodec_decode_tensors(f, jobs, 2), WCODEC_STATUS_INVALID_ARGUMENT, "overlap");
    jobs[1].dst = buf + 300;
    EXPECT(wcodec_decode_tensors(f, jobs, 2), WCODEC_STATUS_OK, "adjacent");

    /* A status from another call and the message: per thread, cleared by success. */
    EXPECT(wcodec_find_tensor(f, "floats", &index), WCODEC_STATUS_OK, "find floats");
    CHECK(wcodec_last_error_message()[0] == '\0', "message not cleared");
    CHECK(strncmp(wcodec_status_str(WCODEC_STATUS_CORRUPT), "WCODEC_STATUS_CORRUPT: ", 23) == 0,
          "status_str");
    CHECK(strncmp(wcodec_status_str(7777), "unknown wcodec_status", 21) == 0, "unknown status");
    CHECK(strlen(wcodec_version()) > 0, "version");
    wcodec_close(f);
    wcodec_close(NULL);

    /* More dimensions than WCODEC_MAX_NDIM: described in full through `dims`. */
    snprintf(path, sizeof path, "%s/crates/wcodec-ffi/tests/data/rank9.wcodec", root);
    f = open_or_fail(path);
    if (!f) return;
    EXPECT(wcodec_get_tensor_info(f, 0, &info), WCODEC_STATUS_RANK_TOO_LARGE, "rank 9");
    CHECK(info.ndim == 9 && info.dims[8] == 3 && info.shape[7] == 2 && info.nbytes == 48,
          "rank-9 info");
    EXPECT(wcodec_decode_tensor(f, "rank9", buf, 48), WCODEC_STATUS_OK, "rank 9 decode");
    for (int i = 0; i < 48; i++) CHECK(buf[i] == i, "rank9 byte %d", i);
    /* A name with a NUL byte: `name_len` is its real length. */
    EXPECT(wcodec_get_tensor_info(f, 1, &info), WCODEC_STATUS_OK, "NUL name");
    CHECK(info.name_len == 8 && memcmp(info.name, "nul\0name", 9) == 0, "NUL name");
    wcodec_close(f);
}

/* ---- The encoder. ---- */

/* Decodes every tensor of `wcodec_path` and compares it with the source's bytes. */
static void compare_with_source(const char *wcodec_path, const char *src_path) {
    source_file src;
    CHECK(source_open(src_path, &src), "cannot read %s", src_path);
    wcodec_file *f = open_or_fail(wcodec_path);
    if (f && src.json) {
        size_t count = wcodec_tensor_count(f);
        uint64_t covered = 0;
        for (size_t i = 0; i < count; i++) {
            wcodec_tensor_info info;
            EXPECT(wcodec_get_tensor_info(f, i, &info), WCODEC_STATUS_OK, "info");
            uint64_t b = 0, e = 0, shape[16];
            size_t ndim = 0;
            char dtype[32];
            if (!source_entry(&src, info.name, &b, &e, dtype, shape, &ndim) ||
                e - b != info.nbytes || e > src.data_len) {
                CHECK(0, "%s: tensor `%s` does not match the source header", wcodec_path,
                      info.name);
                continue;
            }
            size_t n = (size_t)info.nbytes;
            unsigned char *out = malloc(n + 1);
            EXPECT(wcodec_decode_tensor_by_index(f, i, n ? out : NULL, n), WCODEC_STATUS_OK,
                   info.name);
            CHECK(memcmp(out, src.data + b, n) == 0, "%s/%s: bytes differ from the source",
                  wcodec_path, info.name);
            free(out);
            covered += n;
        }
        CHECK(covered == src.data_len, "%s: tensors cover %" PRIu64 " of %zu bytes", wcodec_path,
              covered, src.data_len);
    }
    wcodec_close(f);
    source_close(&src);
}

static int path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Entries of a directory, "." and ".." excluded (to catch leftover temporary files). */
static size_t count_entries(const char *dir) {
    DIR *d = opendir(dir);
    size_t n = 0;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

static int copy_file(const char *from, const char *to) {
    size_t n = 0;
    unsigned char *bytes = read_all(from, &n);
    FILE *fp = bytes ? fopen(to, "wb") : NULL;
    int ok = fp && fwrite(bytes, 1, n, fp) == n;
    if (fp) ok = (fclose(fp) == 0) && ok;
    free(bytes);
    return ok;
}

/* Removes a directory tree of files (nftw would need _XOPEN_SOURCE; the trees here are small). */
static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char child[1400];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        remove_tree(child);
    }
    closedir(d);
    rmdir(path);
}

typedef struct {
    int calls;
    int cancel_at; /* return non-zero on this call (0-based); -1: never */
    uint64_t last_done, last_total;
    int went_back; /* bytes_done ever decreased */
} progress_log;

static int32_t on_progress(uint64_t done, uint64_t total, void *user_data) {
    progress_log *log = user_data;
    if (log->calls > 0 && done < log->last_done) log->went_back = 1;
    log->last_done = done;
    log->last_total = total;
    return log->calls++ == log->cancel_at;
}

static void test_encode(const char *root) {
    char tmp[] = "/tmp/wcodec-c-encode-XXXXXX";
    if (!mkdtemp(tmp)) {
        CHECK(0, "mkdtemp failed");
        return;
    }
    static const char *SOURCES[] = {"tiles_modes", "tiles_8", "all_dtypes", "chunks_4096",
                                    "empty_and_scalars"};
    char src[1200], out[1200], other[1200];
    size_t n_sources = sizeof SOURCES / sizeof SOURCES[0];

    /* The defaults (NULL config), then every option set. */
    for (size_t k = 0; k < n_sources; k++) {
        snprintf(src, sizeof src, "%s/testdata/golden/%s.safetensors", root, SOURCES[k]);
        snprintf(out, sizeof out, "%s/%s.wcodec", tmp, SOURCES[k]);
        EXPECT(wcodec_encode_checkpoint(src, out, NULL), WCODEC_STATUS_OK, SOURCES[k]);
        compare_with_source(out, src);
    }
    wcodec_encode_config *cfg = NULL;
    EXPECT(wcodec_encode_config_new(&cfg), WCODEC_STATUS_OK, "config");
    EXPECT(wcodec_encode_config_set_tile_size(cfg, 8), WCODEC_STATUS_OK, "tile size 8");
    EXPECT(wcodec_encode_config_set_predictors(cfg, "left,planar"), WCODEC_STATUS_OK, "preds");
    EXPECT(wcodec_encode_config_set_transforms(cfg, "none,adst"), WCODEC_STATUS_OK, "transforms");
    EXPECT(wcodec_encode_config_set_chunk_symbols(cfg, 4096), WCODEC_STATUS_OK, "chunk 4096");
    EXPECT(wcodec_encode_config_set_threads(cfg, 2), WCODEC_STATUS_OK, "threads");
    progress_log log = {0, -1, 0, 0, 0};
    EXPECT(wcodec_encode_config_set_progress(cfg, on_progress, &log), WCODEC_STATUS_OK, "cb");
    snprintf(src, sizeof src, "%s/testdata/golden/tiles_modes.safetensors", root);
    snprintf(out, sizeof out, "%s/options.wcodec", tmp);
    EXPECT(wcodec_encode_checkpoint(src, out, cfg), WCODEC_STATUS_OK, "with options");
    compare_with_source(out, src);
    CHECK(log.calls >= 2 && log.last_done == log.last_total && log.last_total > 0 &&
              !log.went_back,
          "progress: %d calls, ended at %" PRIu64 " of %" PRIu64, log.calls, log.last_done,
          log.last_total);
    wcodec_file *f = open_or_fail(out);
    if (f) {
        /* A file encoded at chunk 4096 with 8 x 8 tiles differs from the default encoding. */
        snprintf(other, sizeof other, "%s/tiles_modes.wcodec", tmp);
        size_t a_len = 0, b_len = 0;
        unsigned char *a = read_all(out, &a_len), *b = read_all(other, &b_len);
        CHECK(a && b && (a_len != b_len || memcmp(a, b, a_len) != 0),
              "the options made no difference");
        free(a);
        free(b);
        wcodec_close(f);
    }

    /* A model directory: a shard, its index and a config file. */
    char model[1200], path[1400];
    snprintf(model, sizeof model, "%s/model", tmp);
    CHECK(mkdir(model, 0755) == 0, "mkdir %s", model);
    snprintf(path, sizeof path, "%s/model.safetensors", model);
    CHECK(copy_file(src, path), "copy %s", src);
    snprintf(path, sizeof path, "%s/config.json", model);
    FILE *fp = fopen(path, "wb");
    if (fp) {
        fputs("{\"model_type\": \"test\"}\n", fp);
        fclose(fp);
    }
    snprintf(out, sizeof out, "%s/model-wcodec", tmp);
    EXPECT(wcodec_encode_checkpoint(model, out, NULL), WCODEC_STATUS_OK, "directory");
    snprintf(path, sizeof path, "%s/model.wcodec", out);
    compare_with_source(path, src);
    snprintf(path, sizeof path, "%s/config.json", out);
    CHECK(path_exists(path), "config.json was not copied");

    /* Bad options: refused where they are set, the configuration unchanged. */
    wcodec_encode_config *bad = NULL;
    EXPECT(wcodec_encode_config_new(&bad), WCODEC_STATUS_OK, "config");
    EXPECT(wcodec_encode_config_set_predictors(bad, "left,diagonal"),
           WCODEC_STATUS_INVALID_ARGUMENT, "unknown predictor");
    CHECK(strstr(wcodec_last_error_message(), "unknown predictor `diagonal`") != NULL,
          "message: %s", wcodec_last_error_message());
    EXPECT(wcodec_encode_config_set_transforms(bad, "wavelet"), WCODEC_STATUS_INVALID_ARGUMENT,
           "unknown transform");
    EXPECT(wcodec_encode_config_set_tile_size(bad, 65), WCODEC_STATUS_INVALID_ARGUMENT,
           "tile size 65");
    CHECK(strstr(wcodec_last_error_message(), "tile size 65 is not in [4, 64]") != NULL,
          "message: %s", wcodec_last_error_message());
    EXPECT(wcodec_encode_config_set_tile_size(bad, 3), WCODEC_STATUS_INVALID_ARGUMENT,
           "tile size 3");
    EXPECT(wcodec_encode_config_set_chunk_symbols(bad, 5000), WCODEC_STATUS_INVALID_ARGUMENT,
           "chunk 5000");
    EXPECT(wcodec_encode_config_set_predictors(bad, NULL), WCODEC_STATUS_NULL_ARGUMENT,
           "NULL list");
    EXPECT(wcodec_encode_config_set_predictors(bad, "\xff"), WCODEC_STATUS_INVALID_UTF8,
           "non-UTF-8 list");
    EXPECT(wcodec_encode_config_set_tile_size(NULL, 8), WCODEC_STATUS_NULL_ARGUMENT,
           "NULL config");
    EXPECT(wcodec_encode_config_new(NULL), WCODEC_STATUS_NULL_ARGUMENT, "NULL out");
    snprintf(out, sizeof out, "%s/after_bad.wcodec", tmp);
    EXPECT(wcodec_encode_checkpoint(src, out, bad), WCODEC_STATUS_OK, "after refusals");
    {
        /* The refusals left the defaults: the same bytes as the NULL-config encode. */
        snprintf(other, sizeof other, "%s/tiles_modes.wcodec", tmp);
        size_t a_len = 0, b_len = 0;
        unsigned char *a = read_all(out, &a_len), *b = read_all(other, &b_len);
        CHECK(a && b && a_len == b_len && memcmp(a, b, a_len) == 0,
              "refused options changed the configuration");
        free(a);
        free(b);
    }

    /* Paths: never the input, never an existing output unless asked. */
    snprintf(path, sizeof path, "%s/copy.safetensors", tmp);
    CHECK(copy_file(src, path), "copy");
    EXPECT(wcodec_encode_checkpoint(path, path, NULL), WCODEC_STATUS_INVALID_ARGUMENT,
           "output = input");
    CHECK(strstr(wcodec_last_error_message(), "would overwrite the input") != NULL,
          "message: %s", wcodec_last_error_message());
    EXPECT(wcodec_encode_checkpoint(src, out, NULL), WCODEC_STATUS_INVALID_ARGUMENT,
           "output exists");
    EXPECT(wcodec_encode_config_set_overwrite(bad, true), WCODEC_STATUS_OK, "overwrite");
    EXPECT(wcodec_encode_checkpoint(path, path, bad), WCODEC_STATUS_INVALID_ARGUMENT,
           "output = input, overwrite on");
    compare_with_source(out, src);
    EXPECT(wcodec_encode_checkpoint(src, out, bad), WCODEC_STATUS_OK, "overwrite on");
    snprintf(path, sizeof path, "%s/missing.safetensors", tmp);
    snprintf(other, sizeof other, "%s/missing.wcodec", tmp);
    EXPECT(wcodec_encode_checkpoint(path, other, NULL), WCODEC_STATUS_FILE_NOT_FOUND,
           "missing input");
    snprintf(path, sizeof path, "%s/testdata/golden/raw_tensors.wcodec", root);
    EXPECT(wcodec_encode_checkpoint(path, other, NULL), WCODEC_STATUS_UNSUPPORTED_FORMAT,
           "not safetensors");
    EXPECT(wcodec_encode_checkpoint(NULL, other, NULL), WCODEC_STATUS_NULL_ARGUMENT,
           "NULL input");
    EXPECT(wcodec_encode_checkpoint(src, NULL, NULL), WCODEC_STATUS_NULL_ARGUMENT,
           "NULL output");
    wcodec_encode_config_free(bad);

    /* Cancelled from the callback, at the first call and later: no output, no temporary. */
    size_t before = count_entries(tmp);
    for (int at = 0; at < 3; at++) {
        progress_log stop = {0, at, 0, 0, 0};
        EXPECT(wcodec_encode_config_set_progress(cfg, on_progress, &stop), WCODEC_STATUS_OK,
               "cb");
        snprintf(out, sizeof out, "%s/cancelled.wcodec", tmp);
        EXPECT(wcodec_encode_checkpoint(src, out, cfg), WCODEC_STATUS_CANCELLED, "cancel file");
        CHECK(stop.calls == at + 1, "%d callback calls after a cancel at call %d", stop.calls, at);
        CHECK(!path_exists(out), "a cancelled encode left %s", out);
        stop.calls = 0;
        snprintf(out, sizeof out, "%s/cancelled-dir", tmp);
        EXPECT(wcodec_encode_checkpoint(model, out, cfg), WCODEC_STATUS_CANCELLED, "cancel dir");
        CHECK(!path_exists(out), "a cancelled encode left %s", out);
    }
    CHECK(count_entries(tmp) == before, "cancelled encodes left files in %s", tmp);
    wcodec_encode_config_free(cfg);
    wcodec_encode_config_free(NULL);
    remove_tree(tmp);
    printf("encode: %zu golden sources, a directory and the option and cancel checks\n",
           n_sources);
}

/* ---- The GPU part: the CUDA driver API, loaded at run time. ---- */

typedef int CUresult;
typedef unsigned long long CUdeviceptr;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef struct CUstream_st *CUstream;

static struct {
    CUresult (*cuInit)(unsigned);
    CUresult (*cuDeviceGet)(CUdevice *, int);
    CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
    CUresult (*cuCtxSetCurrent)(CUcontext);
    CUresult (*cuMemAlloc_v2)(CUdeviceptr *, size_t);
    CUresult (*cuMemFree_v2)(CUdeviceptr);
    CUresult (*cuMemsetD8_v2)(CUdeviceptr, unsigned char, size_t);
    CUresult (*cuMemcpyDtoH_v2)(void *, CUdeviceptr, size_t);
    CUresult (*cuStreamCreate)(CUstream *, unsigned);
    CUresult (*cuStreamSynchronize)(CUstream);
    CUresult (*cuStreamDestroy_v2)(CUstream);
} cu;

static int load_cuda(void) {
    void *lib = dlopen("libcuda.so.1", RTLD_NOW);
    if (!lib) return 0;
#define SYM(name)                                        \
    *(void **)(&cu.name) = dlsym(lib, #name);            \
    if (!cu.name) {                                      \
        fprintf(stderr, "libcuda lacks %s\n", #name);    \
        return 0;                                        \
    }
    SYM(cuInit) SYM(cuDeviceGet) SYM(cuDevicePrimaryCtxRetain) SYM(cuCtxSetCurrent)
    SYM(cuMemAlloc_v2) SYM(cuMemFree_v2) SYM(cuMemsetD8_v2) SYM(cuMemcpyDtoH_v2)
    SYM(cuStreamCreate) SYM(cuStreamSynchronize) SYM(cuStreamDestroy_v2)
#undef SYM
    return 1;
}

#define CU_OK(call) CHECK((call) == 0, "CUDA call failed: %s", #call)

static void dptr_bytes(CUdeviceptr d, unsigned char *out, size_t n) {
    if (n) CU_OK(cu.cuMemcpyDtoH_v2(out, d, n));
}

/* Decodes every tensor of every golden file on the GPU and compares with the CPU decoder's
 * bytes (themselves compared with the sources above). */
static void test_gpu(const char *root) {
    CUdevice dev;
    CUcontext ctx;
    CUstream stream;
    CU_OK(cu.cuInit(0));
    CU_OK(cu.cuDeviceGet(&dev, 0));
    CU_OK(cu.cuDevicePrimaryCtxRetain(&ctx, dev));
    CU_OK(cu.cuCtxSetCurrent(ctx));
    CU_OK(cu.cuStreamCreate(&stream, 0));

    char dir[1024], names[64][128];
    snprintf(dir, sizeof dir, "%s/testdata/golden", root);
    size_t n_files = list_wcodec(dir, names, 64);
    size_t decoded = 0, tiled_tensors = 0;
    for (size_t k = 0; k < n_files; k++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        int tiled = strncmp(names[k], "tiles_", 6) == 0; /* format version 2 */
        wcodec_file *f = open_or_fail(path);
        if (!f) continue;
        size_t count = wcodec_tensor_count(f);
        wcodec_decode_job *jobs = calloc(count, sizeof *jobs);
        CUdeviceptr *dptrs = calloc(count, sizeof *dptrs);
        size_t n_jobs = 0;
        for (size_t i = 0; i < count; i++) {
            wcodec_tensor_info info;
            EXPECT(wcodec_get_tensor_info(f, i, &info), WCODEC_STATUS_OK, "info");
            size_t n = (size_t)info.nbytes;
            unsigned char *want = malloc(n + 1), *got = malloc(n + 1);
            EXPECT(wcodec_decode_tensor_by_index(f, i, want, n), WCODEC_STATUS_OK, "cpu");
            CUdeviceptr d = 0;
            if (n) {
                CU_OK(cu.cuMemAlloc_v2(&d, n));
                CU_OK(cu.cuMemsetD8_v2(d, 0xA5, n));
            }
            wcodec_status s =
                wcodec_decode_tensor_cuda(f, info.name, (void *)(uintptr_t)d, n, stream);
            note(s);
            /* Tiled files (format version 2) are rebuilt on the GPU too: no refusal. */
            CHECK(s == WCODEC_STATUS_OK, "%s/%s on the GPU: %s (%s)", names[k], info.name,
                  wcodec_status_str(s), wcodec_last_error_message());
            dptr_bytes(d, got, n);
            CHECK(memcmp(got, want, n) == 0, "%s/%s: GPU bytes differ from the CPU's", names[k],
                  info.name);
            decoded++;
            tiled_tensors += (size_t)tiled;
            /* The same tensor again, into a fresh buffer, as part of one batch below. */
            CUdeviceptr b = 0;
            if (n) CU_OK(cu.cuMemAlloc_v2(&b, n));
            jobs[n_jobs].index = i;
            jobs[n_jobs].dst = (void *)(uintptr_t)b;
            jobs[n_jobs].dst_bytes = n;
            dptrs[n_jobs++] = b;
            if (d) CU_OK(cu.cuMemFree_v2(d));
            free(want);
            free(got);
        }
        wcodec_status s = wcodec_decode_tensors_cuda(f, jobs, n_jobs, stream);
        note(s);
        {
            CHECK(s == WCODEC_STATUS_OK, "%s batch on the GPU: %s (%s)", names[k],
                  wcodec_status_str(s), wcodec_last_error_message());
            for (size_t j = 0; j < n_jobs; j++) {
                size_t n = jobs[j].dst_bytes;
                unsigned char *want = malloc(n + 1), *got = malloc(n + 1);
                wcodec_decode_tensor_by_index(f, jobs[j].index, want, n);
                dptr_bytes(dptrs[j], got, n);
                CHECK(memcmp(got, want, n) == 0, "%s: batch job %zu differs", names[k], j);
                free(want);
                free(got);
            }
        }
        for (size_t j = 0; j < n_jobs; j++)
            if (dptrs[j]) CU_OK(cu.cuMemFree_v2(dptrs[j]));
        free(jobs);
        free(dptrs);
        wcodec_close(f);
    }

    /* Destinations the driver can judge, and corruption found on the GPU. */
    char path[1200];
    snprintf(path, sizeof path, "%s/testdata/golden/raw_tensors.wcodec", root);
    wcodec_file *f = open_or_fail(path);
    if (f) {
        unsigned char host[400];
        EXPECT(wcodec_decode_tensor_cuda(f, "floats", host, 400, stream),
               WCODEC_STATUS_INVALID_ARGUMENT, "host pointer");
        /* The last 64 bytes of an allocation (the driver knows its range) for 400 bytes. */
        CUdeviceptr d;
        CU_OK(cu.cuMemAlloc_v2(&d, 4096));
        EXPECT(wcodec_decode_tensor_cuda(f, "floats", (void *)(uintptr_t)(d + 4096 - 64), 400,
                                         stream),
               WCODEC_STATUS_INVALID_ARGUMENT, "past the allocation");
        EXPECT(wcodec_decode_tensor_cuda(f, "floats", (void *)(uintptr_t)d, 200, stream),
               WCODEC_STATUS_BUFFER_TOO_SMALL, "small device buffer");
        CU_OK(cu.cuMemFree_v2(d));
        wcodec_close(f);
    }
    static const reject_case GPU_REJECT[] = {
        {"checksum_recorded.wcodec", 0, WCODEC_STATUS_CHECKSUM_MISMATCH},
        {"rans_state_low.wcodec", 0, WCODEC_STATUS_CORRUPT},
        {"rans_final_state.wcodec", 0, WCODEC_STATUS_CORRUPT},
        /* A tile mode id >= 15 is caught by the GPU kernel (CORRUPT, not CUDA_ERROR); a valid
         * but changed mode decodes to other bytes and fails the checksum. */
        {"tile_mode_15.wcodec", 0, WCODEC_STATUS_CORRUPT},
        {"tile_mode_255.wcodec", 0, WCODEC_STATUS_CORRUPT},
        {"tile_mode_changed.wcodec", 0, WCODEC_STATUS_CHECKSUM_MISMATCH},
    };
    for (size_t c = 0; c < sizeof GPU_REJECT / sizeof GPU_REJECT[0]; c++) {
        snprintf(path, sizeof path, "%s/testdata/reject/%s", root, GPU_REJECT[c].file);
        f = open_or_fail(path);
        if (!f) continue;
        wcodec_status worst = WCODEC_STATUS_OK;
        for (size_t i = 0; i < wcodec_tensor_count(f); i++) {
            wcodec_tensor_info info;
            wcodec_get_tensor_info(f, i, &info);
            CUdeviceptr d = 0;
            if (info.nbytes) CU_OK(cu.cuMemAlloc_v2(&d, (size_t)info.nbytes));
            wcodec_status s = wcodec_decode_tensor_cuda_by_index(f, i, (void *)(uintptr_t)d,
                                                                 (size_t)info.nbytes, stream);
            note(s);
            if (s != WCODEC_STATUS_OK && worst == WCODEC_STATUS_OK) worst = s;
            if (d) CU_OK(cu.cuMemFree_v2(d));
        }
        CHECK(worst == GPU_REJECT[c].want, "GPU %s: got %s, want %s", GPU_REJECT[c].file,
              wcodec_status_str(worst), wcodec_status_str(GPU_REJECT[c].want));
        wcodec_close(f);
    }
    CU_OK(cu.cuStreamSynchronize(stream));
    CU_OK(cu.cuStreamDestroy_v2(stream));
    printf("gpu: %zu tensors decoded on the GPU and compared with the CPU decoder (%zu of them "
           "from tiled files)\n",
           decoded, tiled_tensors);
    CHECK(tiled_tensors > 0, "the golden corpus has tiled files");
}

static void test_cuda(const char *root, int require_gpu) {
    size_t n_dev = wcodec_cuda_device_count();
    if (n_dev == 0) {
        CHECK(!require_gpu, "--require-gpu: no CUDA device found");
        char path[1200];
        snprintf(path, sizeof path, "%s/testdata/golden/raw_tensors.wcodec", root);
        wcodec_file *f = open_or_fail(path);
        if (!f) return;
        unsigned char buf[400];
        EXPECT(wcodec_decode_tensor_cuda(f, "floats", buf, 400, NULL),
               WCODEC_STATUS_CUDA_UNAVAILABLE, "no GPU");
        printf("cuda: no device (%s)\n", wcodec_last_error_message());
        /* Argument checks come before the driver is needed. */
        EXPECT(wcodec_decode_tensor_cuda(f, "floats", buf, 399, NULL),
               WCODEC_STATUS_BUFFER_TOO_SMALL, "no GPU, small");
        wcodec_close(f);
        return;
    }
    if (!load_cuda()) {
        CHECK(0, "wcodec sees %zu CUDA devices but libcuda.so.1 does not load here", n_dev);
        return;
    }
    test_gpu(root);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s ROOT [--require-gpu]\n", argv[0]);
        return 2;
    }
    const char *root = argv[1];
    int require_gpu = argc > 2 && strcmp(argv[2], "--require-gpu") == 0;
    printf("wcodec %s\n", wcodec_version());
    test_golden(root);
    test_reject(root);
    test_arguments(root);
    test_encode(root);
    test_cuda(root, require_gpu);

    /* Statuses that no input can produce through this ABI on this machine, and why. */
    static const struct {
        wcodec_status s;
        const char *why;
    } UNREACHABLE[] = {
        {WCODEC_STATUS_UNSUPPORTED_BY_DECODER, "a feature the GPU decoder lacks (none in format "
                                               "versions 1 and 2)"},
        {WCODEC_STATUS_CUDA_UNAVAILABLE, "a machine without a usable GPU"},
        {WCODEC_STATUS_CUDA_ERROR, "a failing CUDA driver call"},
        {WCODEC_STATUS_PANIC, "a bug in wcodec (the boundary is tested in Rust)"},
        {WCODEC_STATUS_INTERNAL, "an error variant the mapping does not know"},
    };
    static const wcodec_status ALL[] = {
        WCODEC_STATUS_OK, WCODEC_STATUS_NULL_ARGUMENT, WCODEC_STATUS_INVALID_UTF8,
        WCODEC_STATUS_INVALID_ARGUMENT, WCODEC_STATUS_INDEX_OUT_OF_RANGE,
        WCODEC_STATUS_TENSOR_NOT_FOUND, WCODEC_STATUS_BUFFER_TOO_SMALL,
        WCODEC_STATUS_BUFFER_SIZE_MISMATCH, WCODEC_STATUS_RANK_TOO_LARGE,
        WCODEC_STATUS_CANCELLED, WCODEC_STATUS_FILE_NOT_FOUND, WCODEC_STATUS_IO, WCODEC_STATUS_NOT_WCODEC,
        WCODEC_STATUS_CORRUPT, WCODEC_STATUS_CHECKSUM_MISMATCH,
        WCODEC_STATUS_UNSUPPORTED_VERSION, WCODEC_STATUS_UNSUPPORTED_FORMAT,
        WCODEC_STATUS_UNSUPPORTED_BY_DECODER, WCODEC_STATUS_CUDA_UNAVAILABLE,
        WCODEC_STATUS_CUDA_ERROR, WCODEC_STATUS_PANIC, WCODEC_STATUS_INTERNAL,
    };
    size_t n_reached = 0;
    for (size_t i = 0; i < sizeof ALL / sizeof ALL[0]; i++) {
        if (reached[ALL[i]]) {
            n_reached++;
            continue;
        }
        const char *why = NULL;
        for (size_t u = 0; u < sizeof UNREACHABLE / sizeof UNREACHABLE[0]; u++)
            if (UNREACHABLE[u].s == ALL[i]) why = UNREACHABLE[u].why;
        CHECK(why != NULL, "status %s was never produced", wcodec_status_str(ALL[i]));
        if (why) printf("not produced here: %s (needs %s)\n", wcodec_status_str(ALL[i]), why);
    }
    printf("statuses produced: %zu of %zu\n", n_reached, sizeof ALL / sizeof ALL[0]);
    printf("%d checks, %d failures\n", checks, failures);
    return failures == 0 ? 0 : 1;
}

// The C library of a release tarball, as a user links it (`make release-check` compiles this
// with `pkg-config --cflags --libs wcodec`): the version matches the tarball's, and every tensor
// of a .wcodec file decodes through the C ABI, its checksum checked by the library.
//
//   release_check VERSION FILE.wcodec
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wcodec.h"

static int fail(const char *what, wcodec_status status) {
    fprintf(stderr, "release_check: %s: %s (%s)\n", what, wcodec_status_str(status),
            wcodec_last_error_message());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s VERSION FILE.wcodec\n", argv[0]);
        return 2;
    }
    if (strcmp(wcodec_version(), argv[1]) != 0) {
        fprintf(stderr, "release_check: library version %s, expected %s\n", wcodec_version(), argv[1]);
        return 1;
    }
    wcodec_file *f = NULL;
    wcodec_status status = wcodec_open(argv[2], &f);
    if (status != WCODEC_STATUS_OK) return fail("open", status);
    size_t n = wcodec_tensor_count(f);
    uint64_t total = 0;
    for (size_t i = 0; i < n; ++i) {
        wcodec_tensor_info info;
        status = wcodec_get_tensor_info(f, i, &info);
        if (status != WCODEC_STATUS_OK) return fail("tensor info", status);
        void *dst = malloc(info.nbytes ? (size_t)info.nbytes : 1);
        if (!dst) return 1;
        status = wcodec_decode_tensor_by_index(f, i, dst, (size_t)info.nbytes);
        free(dst);
        if (status != WCODEC_STATUS_OK) return fail(info.name, status);
        total += info.nbytes;
    }
    wcodec_close(f);
    printf("libwcodec_ffi %s: %zu tensors, %llu bytes decoded\n", wcodec_version(), n,
           (unsigned long long)total);
    return n > 0 ? 0 : 1;
}

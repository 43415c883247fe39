/* safetensors: the input is a whole .safetensors file, opened with the reader every module uses
 * (ct_st_open); every tensor a successful open hands out is read end to end (ASan catches views
 * past the mapping). */
#include "fuzz_util.h"
#include "io/safetensors.h"

static volatile uint8_t sink;

static void touch(const ct_tensor *t) {
    size_t nb = ct_tensor_nbytes(t);
    if (nb && !t->data) abort();
    const uint8_t *p = t->data;
    uint8_t x = 0;
    for (size_t i = 0; i < nb; i++) x ^= p[i];
    sink = x;
    if (t->dtype == CT_DTYPE_F32 || t->dtype == CT_DTYPE_F16 || t->dtype == CT_DTYPE_BF16 ||
        t->dtype == CT_DTYPE_F64) {
        size_t n = (size_t)ct_tensor_numel(t);
        if (n > 4096) n = 4096;
        float buf[4096];
        if (n) ct_tensor_to_f32(t, 0, n, buf);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    const char *path = fz_path(0, "f.safetensors");
    fz_write(path, d, n);
    ct_err err = {0};
    ct_st *st = NULL;
    ct_status rc = ct_st_open(path, &st, &err);
    fz_check_err(rc, &err);
    if (rc == CT_OK) {
        for (size_t i = 0; i < ct_st_count(st); i++) {
            const char *name = ct_st_name(st, i);
            const ct_tensor *t = ct_st_get(st, name);
            if (!t || !ct_st_file_of(st, name)) abort();
            touch(t);
        }
        (void)ct_st_metadata(st, "format");
        ct_st_close(st);
    }
    return 0;
}

/* src/base/file.c atomic directory write: ct_dir_fresh + ct_dir_publish (checkpoints, exports). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "harness.h"

static char *path2(const char *a, const char *b) { return ct_path_join(a, b); }

TEST(base_dir_publish_new_and_replace) {
    const char *root = ct_test_tmpdir();
    char *tmp = path2(root, "out.tmp"), *dst = path2(root, "out"), *old = path2(root, "out.old");
    ct_err err = {0};
    /* a stale tmp with junk is emptied */
    CHECK_OK(ct_mkdir_p(tmp, &err), &err);
    char *junk = path2(tmp, "junk");
    CHECK_OK(ct_write_file_atomic(junk, "x", 1, &err), &err);
    CHECK_OK(ct_dir_fresh(tmp, &err), &err);
    CHECK(!ct_file_exists(junk));
    char *f = path2(tmp, "a.txt");
    CHECK_OK(ct_write_file_atomic(f, "one", 3, &err), &err);
    CHECK_OK(ct_dir_publish(tmp, dst, &err), &err);
    CHECK(!ct_dir_exists(tmp));
    char *fa = path2(dst, "a.txt"), *buf = NULL;
    size_t n = 0;
    CHECK_OK(ct_read_file(fa, &buf, &n, &err), &err);
    CHECK(buf && n == 3 && !memcmp(buf, "one", 3));
    free(buf);
    /* replacing: the old directory's files are gone, no .old left behind */
    CHECK_OK(ct_dir_fresh(tmp, &err), &err);
    char *fb = path2(tmp, "b.txt");
    CHECK_OK(ct_write_file_atomic(fb, "two", 3, &err), &err);
    CHECK_OK(ct_dir_publish(tmp, dst, &err), &err);
    char *db = path2(dst, "b.txt");
    CHECK(ct_file_exists(db));
    CHECK(!ct_file_exists(fa));
    CHECK(!ct_dir_exists(old));
    CHECK(!ct_dir_exists(tmp));
    /* publishing a missing tmp fails with the path named, and leaves dst alone */
    CHECK(ct_dir_publish(tmp, dst, &err) == CT_ERR_IO);
    CHECK_MSG(strstr(err.msg, "out") != NULL, "message: %s", err.msg);
    CHECK(ct_file_exists(db));
    CHECK(!ct_dir_exists(old));
    CHECK_OK(ct_rm_rf(dst, &err), &err);
    CHECK(!ct_dir_exists(dst));
    CHECK_OK(ct_rm_rf(dst, &err), &err); /* missing: not an error */
    free(tmp), free(dst), free(old), free(junk), free(f), free(fa), free(fb), free(db);
}

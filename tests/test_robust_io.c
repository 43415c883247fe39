/* Fault injection for the output writers: full disk (/dev/full gives ENOSPC on flush), short
 * writes (RLIMIT_FSIZE in a forked child makes write() fail with EFBIG part way through a
 * file, as a nearly full disk does), and device targets that must not be renamed over. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/file.h"
#include "ctune/risk.h"
#include "harness.h"
#include "io/st_writer.h"

static bool is_chardev(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISCHR(sb.st_mode);
}

/* No "*.tmp.*" file left in dir. */
static bool no_tmp_left(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *e;
    bool ok = true;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) ok = false;
    closedir(d);
    return ok;
}

/* ct_atomic_* wrote "<path>.tmp.<pid>" and renamed it over the target even when the target
 * was a device: `--out /dev/null` as root replaced /dev/null with a regular file, and
 * /dev/full could never report a full disk. Devices and FIFOs are now written in place. */
TEST(robust_io_dev_full_is_enospc) {
    if (!is_chardev("/dev/full") || !is_chardev("/dev/null")) {
        ct_test_skip("/dev/full or /dev/null missing");
        return;
    }
    ct_err err = {0};
    char data[100] = "x";
    /* first a FIFO of our own: if the writer still renamed over special files, stop here
     * rather than replace /dev/full and /dev/null */
    const char *dir = ct_test_tmpdir();
    char *fifo = ct_path_join(dir, "fifo");
    REQUIRE(mkfifo(fifo, 0600) == 0);
    int fd = open(fifo, O_RDWR | O_NONBLOCK); /* keeps a reader so the writer's open succeeds */
    REQUIRE(fd >= 0);
    CHECK_OK(ct_write_file_atomic(fifo, "abc", 3, &err), &err);
    struct stat sb;
    char got[8] = {0};
    bool in_place = stat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode) && read(fd, got, sizeof got) == 3;
    close(fd);
    free(fifo);
    REQUIRE(in_place && memcmp(got, "abc", 3) == 0);
    CHECK_EQ_INT(ct_write_file_atomic("/dev/full", data, sizeof data, &err), CT_ERR_IO);
    CHECK_MSG(strstr(err.msg, "/dev/full") && strstr(err.msg, "No space left"), "message: %s", err.msg);
    CHECK_OK(ct_write_file_atomic("/dev/null", data, sizeof data, &err), &err);
    CHECK(is_chardev("/dev/full") && is_chardev("/dev/null"));
    CHECK(!ct_file_exists("/dev/null.tmp") && access("/dev/full.tmp", F_OK) != 0);
    /* the streaming safetensors writer reports the full disk too */
    float v[256] = {0};
    ct_tensor t = {.dtype = CT_DTYPE_F32, .ndim = 1, .shape = {256}, .data = v};
    ct_st_item it = ct_st_item_of("w", t);
    CHECK_EQ_INT(ct_st_write("/dev/full", &it, 1, CT_ST_META_PT, &err), CT_ERR_IO);
    CHECK_MSG(strstr(err.msg, "/dev/full"), "message: %s", err.msg);
    CHECK(is_chardev("/dev/full"));
    /* a directory target is refused, naming it */
    CHECK(ct_write_file_atomic(dir, data, 1, &err) == CT_ERR_IO && strstr(err.msg, dir));
    CHECK(no_tmp_left(dir));
}

/* Runs `fn(path)` in a child whose file size limit is `limit` bytes; returns its exit code. */
static int with_fsize_limit(rlim_t limit, int (*fn)(const char *), const char *path) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN); /* write() then fails with EFBIG instead of killing us */
        struct rlimit rl = {limit, limit};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(99);
        _exit(fn(path));
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int write_big(const char *path) {
    static char big[1 << 16];
    memset(big, 'n', sizeof big);
    ct_err err = {0};
    ct_status st = ct_write_file_atomic(path, big, sizeof big, &err);
    if (st != CT_ERR_IO) return 1;
    if (!strstr(err.msg, path)) return 2;
    return 0;
}

static int write_big_st(const char *path) {
    static float v[1 << 14];
    ct_tensor t = {.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {128, 128}, .data = v};
    ct_st_item it = ct_st_item_of("model.embed_tokens.weight", t);
    ct_err err = {0};
    ct_status st = ct_st_write(path, &it, 1, NULL, &err);
    if (st != CT_ERR_IO) return 1;
    if (!strstr(err.msg, path)) return 2;
    return 0;
}

static int write_synth(const char *path) {
    ct_risk_synth_opts o;
    ct_risk_synth_opts_init(&o);
    ct_err err = {0};
    ct_status st = ct_risk_synth_write(&o, 200, path, &err);
    if (st != CT_ERR_IO) return 1;
    if (!strstr(err.msg, path)) return 2;
    return 0;
}

/* A write that fails part way (disk full) is an error naming the file; the previous file is
 * untouched and the temp file is removed. */
TEST(robust_io_short_write_keeps_old_file) {
    const char *dir = ct_test_tmpdir();
    int (*const fns[])(const char *) = {write_big, write_big_st, write_synth};
    const char *names[] = {"plain.bin", "model.safetensors", "risk.jsonl"};
    for (size_t i = 0; i < 3; i++) {
        char *p = ct_path_join(dir, names[i]);
        ct_err err = {0};
        CHECK_OK(ct_write_file_atomic(p, "old", 3, &err), &err);
        int rc = with_fsize_limit(4096, fns[i], p);
        CHECK_MSG(rc == 0, "%s: child exit %d (1: not CT_ERR_IO, 2: message without path)", names[i], rc);
        char *s = NULL;
        size_t n = 0;
        CHECK_OK(ct_read_file(p, &s, &n, &err), &err);
        CHECK_MSG(n == 3 && s && memcmp(s, "old", 3) == 0, "%s: old content lost", names[i]);
        free(s);
        free(p);
    }
    CHECK(no_tmp_left(dir));
}

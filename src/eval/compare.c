/* `ctune eval --compare RUN1 RUN2`: per-metric differences of two runs' reports (ctune/eval.h). */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/json.h"
#include "ctune/eval.h"

/* Metrics where lower is better; every other metric is higher-is-better. */
static bool lower_better(const char *m) {
    return !strcmp(m, "loss") || !strcmp(m, "ppl") || !strcmp(m, "reasoning_length_drop");
}

static double metric_score(json_t *rep, const char *name, bool *found) {
    size_t i;
    json_t *m;
    *found = false;
    json_array_foreach(json_object_get(rep, "metrics"), i, m) {
        if (!strcmp(json_string_value(json_object_get(m, "name")) ?: "", name)) {
            *found = true;
            return json_number_value(json_object_get(m, "score"));
        }
    }
    return 0.0;
}

static ct_status compare_report(const char *p1, const char *p2, const char *label, FILE *out, bool color,
                                int *regressions, ct_err *err) {
    json_t *a = NULL, *b = NULL;
    ct_status st = ct_json_load_file(p1, &a, err);
    if (!st) st = ct_json_load_file(p2, &b, err);
    if (st) {
        json_decref(a);
        return st;
    }
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(b, "metrics"), i, m) {
        const char *name = json_string_value(json_object_get(m, "name"));
        if (!name) continue;
        bool found;
        double s1 = metric_score(a, name, &found), s2 = json_number_value(json_object_get(m, "score"));
        if (!found) {
            fprintf(out, "%-40s %-20s %12s %12.4f %12s\n", label, name, "-", s2, "(new)");
            continue;
        }
        double d = s2 - s1;
        bool reg = lower_better(name) ? d > 1e-12 : d < -1e-12;
        if (reg) ++*regressions;
        fprintf(out, "%s%-40s %-20s %12.4f %12.4f %+12.4f%s%s\n", reg && color ? "\033[31m" : "", label, name, s1, s2, d,
                reg ? "  REGRESSION" : "", reg && color ? "\033[0m" : "");
    }
    json_decref(a);
    json_decref(b);
    return CT_OK;
}

ct_status ct_eval_compare(const char *run1, const char *run2, FILE *out, int *regressions, ct_err *err) {
    *regressions = 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/reports", run2);
    DIR *models = opendir(dir);
    if (!models) return ct_err_set(err, CT_ERR_IO, "%s: no reports/ directory (not an eval run)", run2);
    snprintf(dir, sizeof dir, "%s/reports", run1);
    if (access(dir, F_OK)) {
        closedir(models);
        return ct_err_set(err, CT_ERR_IO, "%s: no reports/ directory (not an eval run)", run1);
    }
    bool color = isatty(fileno(out));
    fprintf(out, "%-40s %-20s %12s %12s %12s\n", "model/task", "metric", "run1", "run2", "diff");
    struct dirent *me;
    ct_status st = CT_OK;
    size_t compared = 0;
    while (!st && (me = readdir(models))) {
        if (me->d_name[0] == '.') continue;
        char mdir[4096];
        snprintf(mdir, sizeof mdir, "%s/reports/%s", run2, me->d_name);
        DIR *tasks = opendir(mdir);
        if (!tasks) continue;
        struct dirent *te;
        while (!st && (te = readdir(tasks))) {
            size_t l = strlen(te->d_name);
            if (l < 6 || strcmp(te->d_name + l - 5, ".json")) continue;
            char p1[8192], p2[8192], label[512];
            snprintf(p1, sizeof p1, "%s/reports/%s/%s", run1, me->d_name, te->d_name);
            snprintf(p2, sizeof p2, "%s/%s", mdir, te->d_name);
            snprintf(label, sizeof label, "%s/%.*s", me->d_name, (int)(l - 5), te->d_name);
            if (access(p1, F_OK)) {
                fprintf(out, "%-40s only in %s\n", label, run2);
                continue;
            }
            st = compare_report(p1, p2, label, out, color, regressions, err);
            compared++;
        }
        closedir(tasks);
    }
    closedir(models);
    if (!st && compared == 0) st = ct_err_set(err, CT_ERR_FORMAT, "%s and %s have no report in common", run1, run2);
    if (!st) fprintf(out, "%d regression%s\n", *regressions, *regressions == 1 ? "" : "s");
    return st;
}

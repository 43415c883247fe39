#include "base/fault.h"

#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CT_FAULT_MAX 8

typedef struct fault_rule {
    char name[48];
    long at;   /* 1-based hit that fires */
    long hits;
    int sig;
} fault_rule;

static fault_rule g_rules[CT_FAULT_MAX];
static int g_n_rules = -1; /* -1: CTUNE_FAULT not parsed yet */

/* Parses CTUNE_FAULT once; a malformed rule is ignored (a test that relies on it then fails on
 * its own assertion, which names the point). */
static void parse_rules(void) {
    g_n_rules = 0;
    const char *s = getenv("CTUNE_FAULT");
    while (s && *s && g_n_rules < CT_FAULT_MAX) {
        size_t len = strcspn(s, ",");
        char rule[96];
        if (len < sizeof rule) {
            memcpy(rule, s, len);
            rule[len] = 0;
            fault_rule *r = &g_rules[g_n_rules];
            memset(r, 0, sizeof *r);
            r->at = 1;
            r->sig = SIGKILL;
            char *act = strchr(rule, ':');
            if (act) *act++ = 0;
            char *at = strchr(rule, '@');
            if (at) {
                *at++ = 0;
                r->at = strtol(at, NULL, 10);
            }
            bool ok = rule[0] && strlen(rule) < sizeof r->name && r->at >= 1;
            if (act && !strcmp(act, "term")) r->sig = SIGTERM;
            else if (act && !strcmp(act, "int")) r->sig = SIGINT;
            else if (act && strcmp(act, "kill")) ok = false;
            if (ok) {
                strcpy(r->name, rule);
                g_n_rules++;
            }
        }
        s += len;
        if (*s == ',') s++;
    }
}

void ct_fault_point(const char *name) {
    if (g_n_rules < 0) parse_rules();
    for (int i = 0; i < g_n_rules; i++) {
        fault_rule *r = &g_rules[i];
        if (strcmp(r->name, name) || ++r->hits != r->at) continue;
        raise(r->sig);
    }
}

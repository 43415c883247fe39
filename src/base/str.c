#include "base/str.h"

#include <stdlib.h>
#include <string.h>

int ct_str_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    /* two rows of the DP table: prev = row i-1, cur = row i */
    int *prev = malloc((m + 1) * sizeof(int)), *cur = malloc((m + 1) * sizeof(int));
    if (!prev || !cur) {
        free(prev);
        free(cur);
        return 1 << 20;
    }
    for (size_t j = 0; j <= m; j++) prev[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= m; j++) {
            int c = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < c) c = prev[j] + 1;
            if (cur[j - 1] + 1 < c) c = cur[j - 1] + 1;
            cur[j] = c;
        }
        int *t = prev;
        prev = cur;
        cur = t;
    }
    int d = prev[m];
    free(prev);
    free(cur);
    return d;
}

#include "train/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/file.h"
#include "base/json.h"
#include "ctune/callback.h"

void ct_plot_smooth(const double *x, size_t n, double *out) {
    if (!n) return;
    double w = 1.8 * (1.0 / (1.0 + exp(-0.05 * (double)n)) - 0.5);
    double last = x[0];
    for (size_t i = 0; i < n; i++) {
        out[i] = last * w + (1.0 - w) * x[i];
        last = out[i];
    }
}

/* "Nice" tick step (1, 2, 5 x 10^k) giving about `want` ticks over span. */
static double nice_step(double span, int want) {
    if (!(span > 0)) return 1;
    double raw = span / want, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static void fmt_tick(char *buf, size_t n, double v, double step) {
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 6) dec = 6;
    snprintf(buf, n, "%.*f", dec, fabs(v) < step * 1e-6 ? 0.0 : v);
}

char *ct_plot_loss_svg(const double *steps, const double *loss, size_t n, const double *es,
                       const double *el, size_t ne, const char *title) {
    const double W = 720, H = 450, L = 70, R = 20, T = 40, B = 55;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(loss[i])) x0 = fmin(x0, steps[i]), x1 = fmax(x1, steps[i]), y0 = fmin(y0, loss[i]), y1 = fmax(y1, loss[i]);
    for (size_t i = 0; i < ne; i++)
        if (isfinite(el[i])) x0 = fmin(x0, es[i]), x1 = fmax(x1, es[i]), y0 = fmin(y0, el[i]), y1 = fmax(y1, el[i]);
    if (!isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
    if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
    double ys = nice_step(y1 - y0, 6), xs = nice_step(x1 - x0, 8);
    y0 = floor(y0 / ys) * ys, y1 = ceil(y1 / ys) * ys;
    double pw = W - L - R, ph = H - T - B;
#define PX(v) (L + ((v) - x0) / (x1 - x0) * pw)
#define PY(v) (T + (y1 - (v)) / (y1 - y0) * ph)
    ct_buf b = {0};
    ct_buf_printf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                  "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n", W, H, W, H);
    ct_buf_printf(&b, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%.1f\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">",
              L + pw / 2);
    ct_buf_xml_escape(&b, title ? title : "training loss");
    ct_buf_printf(&b, "</text>\n<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n");
    char lab[64];
    for (double y = y0; y <= y1 + ys * 1e-6; y += ys) ct_buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", L, PY(y), L + pw, PY(y));
    double xt0 = ceil(x0 / xs) * xs;
    for (double x = xt0; x <= x1 + xs * 1e-6; x += xs) ct_buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", PX(x), T, PX(x), T + ph);
    ct_buf_printf(&b, "</g>\n<g fill=\"#333\">\n");
    for (double y = y0; y <= y1 + ys * 1e-6; y += ys) {
        fmt_tick(lab, sizeof lab, y, ys);
        ct_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", L - 8, PY(y) + 4, lab);
    }
    for (double x = xt0; x <= x1 + xs * 1e-6; x += xs) {
        fmt_tick(lab, sizeof lab, x, xs);
        ct_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", PX(x), T + ph + 18, lab);
    }
    ct_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\">step</text>\n", L + pw / 2, H - 12);
    ct_buf_printf(&b, "<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">loss</text>\n</g>\n", T + ph / 2);
    ct_buf_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n", L, T, pw, ph);
    if (n) {
        double *sm = malloc(n * sizeof *sm);
        if (!sm) b.oom = true;
        else {
            ct_plot_smooth(loss, n, sm);
            const double *series[2] = {loss, sm};
            const char *style[2] = {"stroke=\"#1f77b4\" stroke-opacity=\"0.4\"", "stroke=\"#1f77b4\" stroke-width=\"2\""};
            for (int s = 0; s < 2; s++) {
                ct_buf_printf(&b, "<polyline fill=\"none\" %s points=\"", style[s]);
                for (size_t i = 0; i < n; i++)
                    if (isfinite(series[s][i])) ct_buf_printf(&b, "%.1f,%.1f ", PX(steps[i]), PY(series[s][i]));
                ct_buf_printf(&b, "\"/>\n");
            }
            free(sm);
        }
    }
    if (ne) {
        ct_buf_printf(&b, "<polyline fill=\"none\" stroke=\"#ff7f0e\" stroke-dasharray=\"4 3\" points=\"");
        for (size_t i = 0; i < ne; i++)
            if (isfinite(el[i])) ct_buf_printf(&b, "%.1f,%.1f ", PX(es[i]), PY(el[i]));
        ct_buf_printf(&b, "\"/>\n<g fill=\"#ff7f0e\">\n");
        for (size_t i = 0; i < ne; i++)
            if (isfinite(el[i])) ct_buf_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\"/>\n", PX(es[i]), PY(el[i]));
        ct_buf_printf(&b, "</g>\n");
    }
    /* legend (top right) */
    double lx = L + pw - 150, ly = T + 12;
    int rows = (n ? 2 : 0) + (ne ? 1 : 0);
    if (rows) ct_buf_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"142\" height=\"%d\" fill=\"white\" stroke=\"#ccc\"/>\n", lx - 6, ly - 10, rows * 18 + 6);
    int row = 0;
    if (n) {
        ct_buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#1f77b4\" stroke-opacity=\"0.4\"/><text x=\"%.1f\" y=\"%.1f\">original</text>\n",
                  lx, ly + 18 * row, lx + 24, ly + 18 * row, lx + 30, ly + 18 * row + 4);
        row++;
        ct_buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#1f77b4\" stroke-width=\"2\"/><text x=\"%.1f\" y=\"%.1f\">smoothed</text>\n",
                  lx, ly + 18 * row, lx + 24, ly + 18 * row, lx + 30, ly + 18 * row + 4);
        row++;
    }
    if (ne)
        ct_buf_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#ff7f0e\"/><text x=\"%.1f\" y=\"%.1f\">eval loss</text>\n",
                  lx + 12, ly + 18 * row, lx + 30, ly + 18 * row + 4);
    ct_buf_printf(&b, "</svg>\n");
#undef PX
#undef PY
    if (b.oom) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

ct_status ct_plot_loss_svg_file(const char *path, const double *steps, const double *loss, size_t n,
                                const double *es, const double *el, size_t ne, const char *title, ct_err *err) {
    char *svg = ct_plot_loss_svg(steps, loss, n, es, el, ne, title);
    if (!svg) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_status st = ct_write_file_atomic(path, svg, strlen(svg), err);
    free(svg);
    return st;
}

ct_status ct_plot_from_log(const char *output_dir, ct_err *err) {
    char *lp = ct_path_join(output_dir, "trainer_log.jsonl");
    char *buf = NULL;
    size_t len = 0;
    ct_status st = lp ? ct_read_file(lp, &buf, &len, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    size_t cap = 64, n = 0, ne = 0;
    double *s = NULL, *l = NULL, *es = NULL, *el = NULL;
    if (!st) {
        s = malloc(cap * sizeof *s), l = malloc(cap * sizeof *l), es = malloc(cap * sizeof *es), el = malloc(cap * sizeof *el);
        if (!s || !l || !es || !el) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    int lineno = 0;
    for (char *line = buf, *next; !st && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        lineno++;
        if (!*line) continue;
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!o) continue; /* a torn last line after a crash is skipped */
        if (n == cap || ne == cap) {
            cap *= 2;
            double *a = realloc(s, cap * sizeof *a); if (a) s = a;
            double *c = realloc(l, cap * sizeof *c); if (c) l = c;
            double *d = realloc(es, cap * sizeof *d); if (d) es = d;
            double *e = realloc(el, cap * sizeof *e); if (e) el = e;
            if (!a || !c || !d || !e) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        }
        double step = 0, v;
        ct_json_get_double(o, "current_steps", &step);
        json_t *lv = json_object_get(o, "loss"), *ev = json_object_get(o, "eval_loss");
        if (!st && json_is_number(lv) && (v = json_number_value(lv), 1)) s[n] = step, l[n++] = v;
        if (!st && json_is_number(ev) && (v = json_number_value(ev), 1)) es[ne] = step, el[ne++] = v;
        json_decref(o);
    }
    if (!st) {
        char *out = ct_path_join(output_dir, "training_loss.svg");
        char title[512];
        snprintf(title, sizeof title, "training loss of %s", output_dir);
        st = out ? ct_plot_loss_svg_file(out, s, l, n, es, el, ne, title, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        free(out);
    }
    free(s), free(l), free(es), free(el), free(buf), free(lp);
    return st;
}

static ct_status plot_cb(void *u, ct_train_event *ev, ct_err *err) {
    (void)ev;
    return ct_plot_from_log(u, err);
}

ct_status ct_callback_loss_plot(ct_callback *cb, const char *output_dir, ct_err *err) {
    memset(cb, 0, sizeof *cb);
    cb->user = strdup(output_dir);
    if (!cb->user) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    cb->name = "loss plot";
    cb->on_train_end = plot_cb;
    cb->on_save = plot_cb;
    cb->free_user = free;
    return CT_OK;
}

/* training_loss.svg: train loss (faint), its smoothed curve and eval-loss points, with axes,
 * ticks, grid, labels and legend. Smoothing is LlamaFactory's plot_loss EMA (TensorBoard
 * style): weight = 1.8 * (1 / (1 + exp(-0.05 * n)) - 0.5), s_i = w * s_{i-1} + (1 - w) * x_i. */
#ifndef CT_TRAIN_PLOT_H
#define CT_TRAIN_PLOT_H

#include <stddef.h>

#include "ctune/err.h"

void ct_plot_smooth(const double *x, size_t n, double *out);
/* The SVG text (malloc'd). */
char *ct_plot_loss_svg(const double *steps, const double *loss, size_t n, const double *eval_steps,
                       const double *eval_loss, size_t n_eval, const char *title);
ct_status ct_plot_loss_svg_file(const char *path, const double *steps, const double *loss, size_t n,
                                const double *eval_steps, const double *eval_loss, size_t n_eval,
                                const char *title, ct_err *err);
/* Reads output_dir/trainer_log.jsonl, writes output_dir/training_loss.svg. */
ct_status ct_plot_from_log(const char *output_dir, ct_err *err);

#endif

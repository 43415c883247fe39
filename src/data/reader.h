/* Internal to src/data: which files of a dataset directory are data files, shared by the reader
 * (src/data/reader.c) and the tokenized-cache key (src/data/dataset.c), so both see the same
 * files in the same order. */
#ifndef CT_DATA_READER_H
#define CT_DATA_READER_H

#include <stdbool.h>
#include <stddef.h>

#include "ctune/err.h"

/* A name ct_read_dataset_file reads in a directory: .json / .jsonl / .txt, not hidden, not
 * dataset_info.json. */
bool ct_data_file_name(const char *name);

/* The data file names of directory `dir` (not joined with it), sorted by strcmp: a malloc'd
 * array of malloc'd strings (free each, then the array). CT_ERR_IO when `dir` is not a readable
 * directory, CT_ERR_NOMEM when out of memory. */
ct_status ct_data_dir_files(const char *dir, char ***names, size_t *n, ct_err *err);

#endif

/* Flat key/value configs shared by the training config (include/ctune/config.h) and the
 * inference / export config (include/ctune/infer_config.h): typed key tables, LlamaFactory's
 * YAML files and its command-line styles.
 *
 *   static const ct_cfg_key KEYS[] = {{"lora_rank", CT_CFG_INT, offsetof(cfg, lora_rank), "8", NULL}, ...};
 *   ct_cfg_defaults(&cfg, KEYS, n);                          // every default through the parser
 *   ct_cfg_load_yaml("train.yaml", set_fn, &cfg, &err);      // set_fn(user, key, value, "train.yaml:3")
 *   ct_cfg_apply_args(argc, argv, kind_fn, set_fn, &cfg, &err);
 *
 * Values are text until a key's type parses them: integers (also "2.0", "1e3"), numbers, YAML 1.1
 * booleans, null / ~ / None / empty = unset, comma lists (or YAML lists, or "[a,b]"). */
#ifndef CT_BASE_CFGFILE_H
#define CT_BASE_CFGFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "ctune/config.h" /* ct_strlist */
#include "ctune/err.h"

typedef enum ct_cfg_type {
    CT_CFG_STR,   /* char *; NULL = unset */
    CT_CFG_INT,   /* int64_t */
    CT_CFG_DBL,   /* double */
    CT_CFG_BOOL,  /* bool */
    CT_CFG_LIST,  /* ct_strlist */
    CT_CFG_THINK, /* int: 1 true, 0 false, -1 null (enable_thinking) */
} ct_cfg_type;

typedef struct ct_cfg_key {
    const char *name;
    ct_cfg_type type;
    size_t off;          /* offset of the field in the config struct */
    const char *def;     /* default as text; NULL = unset */
    const char *choices; /* "a|b|c" allowed values (strings, integers); NULL = any */
} ct_cfg_key;

/* Parses v for key k into the struct at base. `where` names the origin in messages
 * ("train.yaml:12", "--learning_rate"): "<where>: key 'K': expected an integer, got 'x'". */
ct_status ct_cfg_set_typed(void *base, const ct_cfg_key *k, const char *v, const char *where, ct_err *err);
/* Sets every key with a default (others zero / NULL; the struct must start zeroed). */
void ct_cfg_defaults(void *base, const ct_cfg_key *keys, size_t n);
/* Frees the strings and lists of the table's fields. */
void ct_cfg_free_fields(void *base, const ct_cfg_key *keys, size_t n);
/* Every key as "name: value" lines (malloc'd). */
char *ct_cfg_dump(const void *base, const ct_cfg_key *keys, size_t n);
const ct_cfg_key *ct_cfg_find(const ct_cfg_key *keys, size_t n, const char *name);

bool ct_cfg_is_null(const char *v);
/* YAML 1.1 booleans as PyYAML reads them (true/yes/on/1, false/no/off/0, any case style). */
int ct_cfg_parse_bool(const char *v, bool *out);

void ct_strlist_free(ct_strlist *l);
/* Appends s[0..n) trimmed (empty: nothing). -1 when out of memory. */
int ct_strlist_add(ct_strlist *l, const char *s, size_t n);
bool ct_strlist_has(const ct_strlist *l, const char *s);

/* Receives one key and its value as text (NULL never; "" for an empty YAML value). */
typedef ct_status (*ct_cfg_set_fn)(void *user, const char *key, const char *value, const char *where,
                                   ct_err *err);

/* Reads a YAML mapping of `key: value` lines. A list value arrives comma-joined; a nested mapping
 * of plain values (lr_scheduler_kwargs) arrives as "parent.child" keys. Errors name file:line. */
ct_status ct_cfg_load_yaml(const char *path, ct_cfg_set_fn set, void *user, ct_err *err);
/* The same with mappings nested up to max_depth levels below the top one ("a.b.c" keys for 2):
 * the evaluation config's dataset_args: {task: {key: value}}. */
ct_status ct_cfg_load_yaml_nested(const char *path, int max_depth, ct_cfg_set_fn set, void *user, ct_err *err);

typedef enum ct_cfg_arg_kind {
    CT_CFG_ARG_VALUE = 0, /* the key takes a value: --key VALUE */
    CT_CFG_ARG_BOOL,      /* a boolean: a bare --key means true; --key false also works */
    CT_CFG_ARG_UNKNOWN,   /* not a key: handed to set() at once, which reports it */
} ct_cfg_arg_kind;
typedef ct_cfg_arg_kind (*ct_cfg_kind_fn)(void *user, const char *key);

/* Applies command-line overrides in the styles LlamaFactory accepts: "--key value",
 * "--key=value", a bare boolean "--flag", and "key=value" (OmegaConf's, after a YAML). '-' in a
 * key reads as '_'. Anything else is an error naming the argument. */
ct_status ct_cfg_apply_args(int argc, char **argv, ct_cfg_kind_fn kind, ct_cfg_set_fn set, void *user,
                            ct_err *err);

#endif

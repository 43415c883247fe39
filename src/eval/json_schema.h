/* A JSON Schema (draft 2020-12) validator for the subset of keywords ctune's schemas use, over
 * jansson. Supported: type (name or list), enum, const, properties, required,
 * additionalProperties (bool or schema), minProperties, maxProperties, items (bool or schema),
 * prefixItems, minItems, maxItems, uniqueItems, minimum, maximum, exclusiveMinimum,
 * exclusiveMaximum, minLength, maxLength (in Unicode code points), anyOf, $ref (local JSON
 * pointers: "#", "#/$defs/name", "#/definitions/name", ...) with $defs / definitions; annotations $schema, $id,
 * $comment, title, description, default, examples are ignored. Any other keyword makes loading
 * fail (CT_ERR_UNSUPPORTED) instead of being silently ignored. Numbers compare by value
 * (1 == 1.0), as the spec requires. */
#ifndef CT_EVAL_JSON_SCHEMA_H
#define CT_EVAL_JSON_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>

#include "ctune/err.h"

typedef struct ct_json_schema {
    json_t *root;
} ct_json_schema;

/* Parses and checks a schema text; `what` names it in messages. */
ct_status ct_json_schema_load(ct_json_schema *s, const char *text, const char *what, ct_err *err);
void ct_json_schema_free(ct_json_schema *s);
/* CT_OK if `inst` is valid; else CT_ERR_FORMAT with the first violation and its path, e.g.
 * "$.top_drivers[1].impact: value is not one of the enum values". */
ct_status ct_json_schema_validate(const ct_json_schema *s, const json_t *inst, ct_err *err);

/* As ct_json_schema_validate with `sub`, a subschema inside s (its $refs resolve against s). */
ct_status ct_json_schema_validate_at(const ct_json_schema *s, const json_t *sub, const json_t *inst, ct_err *err);
/* JSON equality with numbers compared by value (1 == 1.0), recursively: JSON Schema's rule for
 * enum / const / uniqueItems. */
bool ct_json_equal_value(const json_t *a, const json_t *b);
/* The schema a local reference ("#", "#/$defs/x", JSON-pointer escapes ~0 ~1) names inside root,
 * or NULL. */
const json_t *ct_json_schema_ref(const json_t *root, const char *ref);

#endif

/*
 * json_schema.h — JSON Schema to grammar, for output that must parse as a given JSON shape.
 *
 * jsch_to_gbnf turns a schema into GBNF text (grammar.h) whose sentences are exactly the
 * compact-or-lightly-spaced JSON texts the schema accepts, for this subset:
 *
 *   type (one or a list): object, array, string, number, integer, boolean, null
 *   object: properties (written in the schema's order), required, additionalProperties
 *           (true, false or a schema; absent means any extra properties, as the standard
 *           says — OpenAI's "strict" schemas set it to false). Extra properties come
 *           after the listed ones and their keys differ from the listed names.
 *   array:  items, minItems, maxItems (at most 10000)
 *   string: minLength, maxLength, format date, time, date-time, uuid
 *   enum, const, anyOf, oneOf (treated as anyOf: exclusivity is not enforced), allOf with
 *   one member, $ref to "#", "#/$defs/NAME" or "#/definitions/NAME" (recursion allowed),
 *   the schemas true, {} and false
 *
 * Annotations (title, description, default, examples, $schema, $id, $comment, ...) are
 * ignored. Any other keyword — pattern, minimum, uniqueItems, ... — is refused with
 * HEARTH_ERR_UNSUPPORTED naming it and where it is ("SOURCE: /properties/age: keyword
 * 'minimum' is not supported"), never silently dropped; a schema nothing can satisfy
 * (false, minItems > maxItems, an empty enum) gives HEARTH_ERR_INVALID. Whitespace between
 * tokens is limited to one space or a newline and up to 20 spaces/tabs of indent, and the
 * text ends right after the value, so generation stops as soon as the value is complete.
 * Numbers have at most 16 digits before and after the point.
 *
 * Threads: no shared state; call from any thread.
 */
#ifndef HEARTH_GENERATE_JSON_SCHEMA_H
#define HEARTH_GENERATE_JSON_SCHEMA_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "base/error.h"
#include "generate/grammar.h"

/* GBNF for any JSON object (what OpenAI's response_format json_object and Ollama's
 * format "json" promise). */
extern const char jsch_any_object_gbnf[];

/* Convert schema text[0..len) (JSON) to GBNF; *gbnf is NUL-terminated and the caller's to
 * mem_free. source names the schema in errors; malformed JSON gives HEARTH_ERR_FORMAT with
 * "SOURCE:LINE:COL: not valid JSON". */
hearth_status jsch_to_gbnf(const char *text, size_t len, const char *source, char **gbnf,
                           hearth_error *err);
/* The same for an already parsed schema (e.g. inside a request body). */
hearth_status jsch_to_gbnf_json(const cJSON *schema, const char *source, char **gbnf,
                                hearth_error *err);
/* Several schemas in one grammar: rule names[i] (a GBNF rule name) accepts schemas[i];
 * there is no "root" rule unless a name is "root", so the caller writes the start rule
 * that combines them (e.g. with literal text between). Each schema's "#" refs mean itself. */
hearth_status jsch_to_gbnf_rules(const cJSON *const *schemas, const char *const *names, int n,
                                 const char *source, char **gbnf, hearth_error *err);
/* Schema text straight to a parsed grammar. */
hearth_status jsch_grammar(grm_grammar **out, const char *text, size_t len, const char *source,
                           hearth_error *err);

#endif

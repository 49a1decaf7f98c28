/*
 * tools.h — tool (function) calling for /v1/chat/completions: which prompt format a
 * model's chat template uses for tools, the grammar that keeps a call well-formed, and
 * parsing the model's output back into OpenAI-style tool_calls.
 *
 * Families, told apart by the template text:
 *   TOOL_HERMES   Qwen2.5 / Qwen3 (and Hermes): <tool_call>\n{"name": N, "arguments": {...}}\n</tool_call>
 *   TOOL_LLAMA3   Llama 3.1+: {"name": N, "parameters": {...}} (optionally after <|python_tag|>)
 *   TOOL_MISTRAL  Mistral (v3 tokenizer: Mistral 7B v0.3, Nemo): [TOOL_CALLS][{"name": N,
 *                 "arguments": {...}}, ...]
 *   TOOL_MISTRAL_ARGS  newer Mistral templates (Mistral Small 3.2, Devstral, Ministral 3,
 *                 ...), told apart by "[ARGS]": [TOOL_CALLS]N[ARGS]{...}, one per call
 * A template that mentions none of these cannot render tools: the request gets a 400.
 *
 * Constraint: tool_choice "required" or a named function constrains the whole output to
 * one call (opener, then JSON valid for that function's parameter schema, then closer).
 * "auto" uses a grammar with two branches: text that does not begin with the family's
 * opener (free, unconstrained), or the opener followed by one constrained call. So a
 * call is enforced when the answer starts with one — where these models put their calls;
 * a call written after some free text is still parsed, but was not constrained. "none"
 * renders the tools but neither constrains nor parses.
 */
#ifndef HEARTH_SERVER_TOOLS_H
#define HEARTH_SERVER_TOOLS_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "base/error.h"
#include "generate/generate.h"
#include "generate/grammar.h"
#include "generate/templates.h"

typedef enum tool_family {
    TOOL_NONE, TOOL_HERMES, TOOL_LLAMA3, TOOL_MISTRAL, TOOL_MISTRAL_ARGS
} tool_family;

typedef enum tool_choice { TOOL_AUTO, TOOL_CHOICE_NONE, TOOL_REQUIRED, TOOL_NAMED } tool_choice;

typedef struct tool_req {
    tool_family family;
    tool_choice choice;
    const cJSON *tools;   /* the request's "tools" array (borrowed) */
    const char *named;    /* TOOL_NAMED: the function's name (borrowed) */
    char *tools_json;     /* the tool definitions for the template (owned) */
} tool_req;

/* The family of a chat template (NULL: none). */
tool_family tool_family_of(const char *chat_template);

/* The text that starts a call in a family's output ("" for TOOL_NONE). */
const char *tool_opener(tool_family f);

/* Check "tools" (an array of {"type": "function", "function": {"name", "description",
 * "parameters"}}) and "tool_choice" ("auto", "none", "required" or {"type": "function",
 * "function": {"name": N}}); both borrowed from the request and must outlive q. An absent
 * or empty tools array leaves q->tools NULL (no tools). HEARTH_ERR_INVALID with a message
 * naming the field, or HEARTH_ERR_UNSUPPORTED when tools are given and the template has no
 * tool support. */
hearth_status tool_req_parse(tool_req *q, const cJSON *tools, const cJSON *choice,
                             const char *chat_template, hearth_error *err);
void tool_req_free(tool_req *q);

/* The output grammar for q (see the top of this file); *out NULL when the output is free
 * (no tools, or tool_choice "none"). Errors name the function whose parameter schema is
 * unsupported or unsatisfiable. */
hearth_status tool_grammar(const tool_req *q, grm_grammar **out, hearth_error *err);

/* Split output text into free content (before the first call) and calls. *calls is a new
 * array of OpenAI tool calls ({"id": "call_ID_I", "type": "function", "function": {"name",
 * "arguments" (a JSON string)}}) or NULL when the text holds no complete, parsable call
 * (then *content is the whole text). *content is mem_alloc'd. false on out-of-memory. */
bool tool_parse(tool_family f, const char *text, const char *id, char **content,
                cJSON **calls);

/* Render msgs with the model's template given the tool definitions (JSON text) and
 * tokenize as the chat routes do. No ChatML fallback: it cannot show tools, so a template
 * failure is the request's error. */
hearth_status tool_chat_prompt(const gen_model *gm, const tpl_message *msgs, int n,
                               const char *tools_json, tok_ids *ids, hearth_error *err);

/* The tool_calls of an assistant message, as JSON text for the template, with each
 * "arguments" string turned into the object it encodes (templates write it with tojson).
 * NULL on a value that is not an array of tool calls (err filled). mem_free the result. */
char *tool_calls_for_template(const cJSON *tool_calls, hearth_error *err);

#endif

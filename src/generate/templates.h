/*
 * templates.h — turning a conversation into the prompt text a model expects.
 *
 * A GGUF model names its prompt format with a Jinja2 chat template
 * (`tokenizer.chat_template`). tpl_render runs it through the bounded interpreter of
 * jinja.h with exactly the variables transformers' apply_chat_template provides: messages,
 * add_generation_prompt, bos_token, eos_token, and optionally tools and enable_thinking
 * (plus strftime_now, giving the local date). Nothing else is visible to the template.
 *
 * When the template fails (a limit, a construct outside the subset, raise_exception), the
 * caller gets the error and should warn and fall back to tpl_render_chatml, the ChatML
 * format most current instruct models understand.
 */
#ifndef HEARTH_GENERATE_TEMPLATES_H
#define HEARTH_GENERATE_TEMPLATES_H

#include <stdbool.h>

#include "base/error.h"

typedef struct tpl_message {
    const char *role;         /* "system", "user", "assistant", "tool", ... */
    const char *content;      /* NULL: no content (none in the template) */
    const char *tool_calls;   /* optional: JSON array of OpenAI-style tool calls, or NULL */
    const char *tool_call_id; /* optional, for role "tool" */
    const char *name;         /* optional: the tool's name, for role "tool" */
} tpl_message;

typedef struct tpl_options {
    bool add_generation_prompt; /* end with the opening of an assistant turn */
    const char *bos_token;      /* NULL: "" */
    const char *eos_token;      /* NULL: "" */
    const char *tools;          /* optional: JSON array of tool definitions, or NULL */
    int enable_thinking;        /* -1: leave undefined; 0 / 1: false / true */
} tpl_options;

/* Render msgs[0..n_msgs) with template_src. On success *out is a NUL-terminated string the
 * caller releases with mem_free. Errors: those of jj_parse and jj_render (jinja.h), and
 * HEARTH_ERR_FORMAT for a tool_calls or tools string that is not JSON. */
hearth_status tpl_render(const char *template_src, const tpl_message *msgs, int n_msgs,
                         bool add_generation_prompt, const char *bos_token,
                         const char *eos_token, char **out, hearth_error *err);
hearth_status tpl_render_ex(const char *template_src, const tpl_message *msgs, int n_msgs,
                            const tpl_options *opt, char **out, hearth_error *err);

/* The fallback: "<|im_start|>ROLE\nCONTENT<|im_end|>\n" per message, then
 * "<|im_start|>assistant\n" when add_generation_prompt. */
hearth_status tpl_render_chatml(const tpl_message *msgs, int n_msgs, bool add_generation_prompt,
                                char **out, hearth_error *err);

/* A short name for the template's prompt format, for messages and logs: "chatml", "llama3",
 * "llama2", "mistral", "gemma", "phi3", "zephyr" or "unknown" (also for NULL). */
const char *tpl_guess_family(const char *template_src);

#endif

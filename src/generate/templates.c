/*
 * templates.c — chat templates at the level of a conversation (see templates.h).
 *
 * Builds the jinja context the way transformers does (each message a dict with role and
 * content, plus tool_calls / tool_call_id / name when given) and renders; the ChatML
 * fallback and the family guess are plain string work.
 */
#include "generate/templates.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "generate/jinja.h"

static size_t local_strftime(char *buf, size_t cap, const char *fmt, void *user)
{
    (void)user;
    time_t now = time(NULL);
    struct tm tm;
    if (!localtime_r(&now, &tm))
        return 0;
    size_t n = strftime(buf, cap, fmt, &tm);
    buf[n < cap ? n : 0] = '\0';
    return n;
}

static hearth_status build_message(jj_ctx *c, const tpl_message *m, jj_value *out,
                                   hearth_error *err)
{
    jj_value d = jj_dict_new(c);
    jj_dict_set(c, d, "role", jj_cstr(c, m->role ? m->role : ""));
    jj_dict_set(c, d, "content", m->content ? jj_cstr(c, m->content) : jj_none());
    if (m->tool_calls) {
        jj_value calls;
        hearth_status st = jj_from_json(c, m->tool_calls, &calls, err);
        if (st != HEARTH_OK)
            return st;
        jj_dict_set(c, d, "tool_calls", calls);
    }
    if (m->tool_call_id)
        jj_dict_set(c, d, "tool_call_id", jj_cstr(c, m->tool_call_id));
    if (m->name)
        jj_dict_set(c, d, "name", jj_cstr(c, m->name));
    *out = d;
    return HEARTH_OK;
}

hearth_status tpl_render_ex(const char *template_src, const tpl_message *msgs, int n_msgs,
                            const tpl_options *opt, char **out, hearth_error *err)
{
    *out = NULL;
    if (!template_src || n_msgs < 0 || (n_msgs && !msgs))
        return err_set(err, HEARTH_ERR_INVALID, "chat template: no template or messages");
    jj_template *t;
    hearth_status st = jj_parse(&t, template_src, strlen(template_src), err);
    if (st != HEARTH_OK)
        return st;
    jj_ctx *c = jj_ctx_new(NULL);
    if (!c) {
        jj_template_free(t);
        return err_set(err, HEARTH_ERR_NOMEM, "chat template: out of memory");
    }
    jj_ctx_set_strftime(c, local_strftime, NULL);
    jj_value list = jj_list_new(c);
    for (int i = 0; i < n_msgs && st == HEARTH_OK; i++) {
        jj_value m;
        if ((st = build_message(c, &msgs[i], &m, err)) == HEARTH_OK)
            jj_list_push(c, list, m);
    }
    if (st == HEARTH_OK && opt->tools) {
        jj_value tools;
        if ((st = jj_from_json(c, opt->tools, &tools, err)) == HEARTH_OK)
            jj_set_var(c, "tools", tools);
    }
    if (st == HEARTH_OK) {
        jj_set_var(c, "messages", list);
        jj_set_var(c, "add_generation_prompt", jj_bool(opt->add_generation_prompt));
        jj_set_var(c, "bos_token", jj_cstr(c, opt->bos_token ? opt->bos_token : ""));
        jj_set_var(c, "eos_token", jj_cstr(c, opt->eos_token ? opt->eos_token : ""));
        if (opt->enable_thinking >= 0)
            jj_set_var(c, "enable_thinking", jj_bool(opt->enable_thinking != 0));
        st = jj_render(t, c, out, NULL, err);
    }
    jj_ctx_free(c);
    jj_template_free(t);
    return st;
}

hearth_status tpl_render(const char *template_src, const tpl_message *msgs, int n_msgs,
                         bool add_generation_prompt, const char *bos_token,
                         const char *eos_token, char **out, hearth_error *err)
{
    tpl_options opt = { .add_generation_prompt = add_generation_prompt, .bos_token = bos_token,
                        .eos_token = eos_token, .enable_thinking = -1 };
    return tpl_render_ex(template_src, msgs, n_msgs, &opt, out, err);
}

hearth_status tpl_render_chatml(const tpl_message *msgs, int n_msgs, bool add_generation_prompt,
                                char **out, hearth_error *err)
{
    static const char start[] = "<|im_start|>", end[] = "<|im_end|>\n";
    size_t n = add_generation_prompt ? strlen(start) + strlen("assistant\n") : 0;
    for (int i = 0; i < n_msgs; i++)
        n += strlen(start) + strlen(msgs[i].role ? msgs[i].role : "") + 1 +
             strlen(msgs[i].content ? msgs[i].content : "") + strlen(end);
    char *s = mem_alloc(n + 1), *p = s;
    *out = s;
    if (!s)
        return err_set(err, HEARTH_ERR_NOMEM, "chat template: out of memory");
    for (int i = 0; i < n_msgs; i++)
        p += sprintf(p, "%s%s\n%s%s", start, msgs[i].role ? msgs[i].role : "",
                     msgs[i].content ? msgs[i].content : "", end);
    if (add_generation_prompt)
        p += sprintf(p, "%sassistant\n", start);
    *p = '\0';
    return HEARTH_OK;
}

const char *tpl_guess_family(const char *src)
{
    if (!src)
        return "unknown";
    if (strstr(src, "<|im_start|>"))
        return "chatml";
    if (strstr(src, "<|start_header_id|>"))
        return "llama3";
    if (strstr(src, "<start_of_turn>"))
        return "gemma";
    if (strstr(src, "[INST]"))
        return strstr(src, "<<SYS>>") ? "llama2" : "mistral";
    if (strstr(src, "<|user|>"))
        return strstr(src, "<|end|>") ? "phi3" : "zephyr";
    return "unknown";
}

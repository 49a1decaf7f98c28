/*
 * fuzz_template.c — libFuzzer target for the chat-template interpreter.
 *
 * A chat template is a program from a stranger's model file: the input is rendered as a
 * template over a small fixed conversation. Anything may fail; nothing may crash, hang
 * (the interpreter's step limit bounds every render) or leak.
 */
#include <stddef.h>
#include <stdint.h>

#include "base/mem.h"
#include "generate/templates.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *src = mem_strndup((const char *)data, size);
    if (!src)
        return 0;
    static const tpl_message msgs[] = {
        { .role = "system", .content = "Be brief." },
        { .role = "user", .content = "Hello {{ there }}" },
        { .role = "assistant", .content = "Hi!", .tool_calls = "[{\"type\":\"function\","
          "\"function\":{\"name\":\"f\",\"arguments\":{\"x\":1}}}]" },
        { .role = "tool", .content = "42", .tool_call_id = "1", .name = "f" },
    };
    char *out = NULL;
    if (tpl_render(src, msgs, 4, true, "<s>", "</s>", &out, NULL) == HEARTH_OK)
        mem_free(out);
    mem_free(src);
    return 0;
}

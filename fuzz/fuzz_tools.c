/*
 * fuzz_tools.c — libFuzzer target for parsing tool calls out of model output
 * (server/tools.h: tool_parse), which reads whatever a model file makes the model write.
 *
 * The first byte picks the template family, the rest is the output text. The free content
 * must be a prefix of the text, and every call must carry a name and a string of arguments.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "server/tools.h"

static volatile unsigned sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const tool_family fams[] = { TOOL_HERMES, TOOL_LLAMA3, TOOL_MISTRAL,
                                        TOOL_MISTRAL_ARGS };
    const tool_family f = fams[data[0] % 4];
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    char *content = NULL;
    cJSON *calls = NULL;
    if (tool_parse(f, text, "fuzz", &content, &calls)) {
        size_t n = strlen(content);
        if (n > strlen(text) || memcmp(content, text, n) != 0)
            abort();
        const cJSON *c;
        cJSON_ArrayForEach(c, calls) {
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(c, "function");
            const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(fn, "name"));
            const char *args =
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(fn, "arguments"));
            if (!name || !args)
                abort();
            sink += (unsigned)strlen(name) + (unsigned)strlen(args);
        }
        mem_free(content);
        cJSON_Delete(calls);
    }
    free(text);
    return 0;
}

/* Tests for generate/templates.{c,h}: the real chat templates of current model families
 * (texts as published in their tokenizer_config.json / GGUF metadata), rendered for small
 * conversations. Every expected prompt is written by hand from the family's documented
 * prompt format, not produced by this renderer. */
#include "test.h"

#include "base/mem.h"
#include "formats/gguf.h"
#include "generate/templates.h"

#include "templates_qwen25.h"

static const char QWEN3[] =
    "{%- if tools %}\n"
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {%- if messages[0].role == 'system' %}\n"
    "        {{- messages[0].content + '\\n\\n' }}\n"
    "    {%- endif %}\n"
    "    {{- \"# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nY"
    "ou are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n"
    "    {%- for tool in tools %}\n"
    "        {{- \"\\n\" }}\n"
    "        {{- tool | tojson }}\n"
    "    {%- endfor %}\n"
    "    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and"
    " arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-nam"
    "e>, \\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n"
    "{%- else %}\n"
    "    {%- if messages[0].role == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}\n"
    "{%- for message in messages[::-1] %}\n"
    "    {%- set index = (messages|length - 1) - loop.index0 %}\n"
    "    {%- if ns.multi_step_tool and message.role == \"user\" and message.content is string and"
    " not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_re"
    "sponse>')) %}\n"
    "        {%- set ns.multi_step_tool = false %}\n"
    "        {%- set ns.last_query_index = index %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- for message in messages %}\n"
    "    {%- if message.content is string %}\n"
    "        {%- set content = message.content %}\n"
    "    {%- else %}\n"
    "        {%- set content = '' %}\n"
    "    {%- endif %}\n"
    "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}\n"
    "    {%- elif message.role == \"assistant\" %}\n"
    "        {%- set reasoning_content = '' %}\n"
    "        {%- if message.reasoning_content is string %}\n"
    "            {%- set reasoning_content = message.reasoning_content %}\n"
    "        {%- else %}\n"
    "            {%- if '</think>' in content %}\n"
    "                {%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').spli"
    "t('<think>')[-1].lstrip('\\n') %}\n"
    "                {%- set content = content.split('</think>')[-1].lstrip('\\n') %}\n"
    "            {%- endif %}\n"
    "        {%- endif %}\n"
    "        {%- if loop.index0 > ns.last_query_index %}\n"
    "            {%- if loop.last or (not loop.last and reasoning_content) %}\n"
    "                {{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.stri"
    "p('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}\n"
    "            {%- else %}\n"
    "                {{- '<|im_start|>' + message.role + '\\n' + content }}\n"
    "            {%- endif %}\n"
    "        {%- else %}\n"
    "            {{- '<|im_start|>' + message.role + '\\n' + content }}\n"
    "        {%- endif %}\n"
    "        {%- if message.tool_calls %}\n"
    "            {%- for tool_call in message.tool_calls %}\n"
    "                {%- if (loop.first and content) or (not loop.first) %}\n"
    "                    {{- '\\n' }}\n"
    "                {%- endif %}\n"
    "                {%- if tool_call.function %}\n"
    "                    {%- set tool_call = tool_call.function %}\n"
    "                {%- endif %}\n"
    "                {{- '<tool_call>\\n{\"name\": \"' }}\n"
    "                {{- tool_call.name }}\n"
    "                {{- '\", \"arguments\": ' }}\n"
    "                {%- if tool_call.arguments is string %}\n"
    "                    {{- tool_call.arguments }}\n"
    "                {%- else %}\n"
    "                    {{- tool_call.arguments | tojson }}\n"
    "                {%- endif %}\n"
    "                {{- '}\\n</tool_call>' }}\n"
    "            {%- endfor %}\n"
    "        {%- endif %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    "    {%- elif message.role == \"tool\" %}\n"
    "        {%- if loop.first or (messages[loop.index0 - 1].role != \"tool\") %}\n"
    "            {{- '<|im_start|>user' }}\n"
    "        {%- endif %}\n"
    "        {{- '\\n<tool_response>\\n' }}\n"
    "        {{- content }}\n"
    "        {{- '\\n</tool_response>' }}\n"
    "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n"
    "            {{- '<|im_end|>\\n' }}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "    {%- if enable_thinking is defined and enable_thinking is false %}\n"
    "        {{- '<think>\\n\\n</think>\\n\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endif %}";

static const char LLAMA31[] =
    "{{- bos_token }}\n"
    "{%- if custom_tools is defined %}\n"
    "    {%- set tools = custom_tools %}\n"
    "{%- endif %}\n"
    "{%- if not tools_in_user_message is defined %}\n"
    "    {%- set tools_in_user_message = true %}\n"
    "{%- endif %}\n"
    "{%- if not date_string is defined %}\n"
    "    {%- set date_string = \"26 Jul 2024\" %}\n"
    "{%- endif %}\n"
    "{%- if not tools is defined %}\n"
    "    {%- set tools = none %}\n"
    "{%- endif %}\n"
    "\n"
    "{#- This block extracts the system message, so we can slot it into the right place. #}\n"
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content']|trim %}\n"
    "    {%- set messages = messages[1:] %}\n"
    "{%- else %}\n"
    "    {%- set system_message = \"\" %}\n"
    "{%- endif %}\n"
    "\n"
    "{#- System message + builtin tools #}\n"
    "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
    "{%- if builtin_tools is defined or tools is not none %}\n"
    "    {{- \"Environment: ipython\\n\" }}\n"
    "{%- endif %}\n"
    "{%- if builtin_tools is defined %}\n"
    "    {{- \"Tools: \" + builtin_tools | reject('equalto', 'code_interpreter') | join(\", \") + \""
    "\\n\\n\"}}\n"
    "{%- endif %}\n"
    "{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n"
    "{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n"
    "{%- if tools is not none and not tools_in_user_message %}\n"
    "    {{- \"You have access to the following functions. To call a function, please respond wi"
    "th JSON for a function call.\" }}\n"
    "    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argumen"
    "t name and its value}.' }}\n"
    "    {{- \"Do not use variables.\\n\\n\" }}\n"
    "    {%- for t in tools %}\n"
    "        {{- t | tojson(indent=4) }}\n"
    "        {{- \"\\n\\n\" }}\n"
    "    {%- endfor %}\n"
    "{%- endif %}\n"
    "{{- system_message }}\n"
    "{{- \"<|eot_id|>\" }}\n"
    "\n"
    "{#- Custom tools are passed in a user message with some extra guidance #}\n"
    "{%- if tools_in_user_message and not tools is none %}\n"
    "    {#- Extract the first user message so we can plug it in here #}\n"
    "    {%- if messages | length != 0 %}\n"
    "        {%- set first_user_message = messages[0]['content']|trim %}\n"
    "        {%- set messages = messages[1:] %}\n"
    "    {%- else %}\n"
    "        {{- raise_exception(\"Cannot put tools in the first user message when there's no fi"
    "rst user message!\") }}\n"
    "{%- endif %}\n"
    "    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}\n"
    "    {{- \"Given the following functions, please respond with a JSON for a function call \" }"
    "}\n"
    "    {{- \"with its proper arguments that best answers the given prompt.\\n\\n\" }}\n"
    "    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argumen"
    "t name and its value}.' }}\n"
    "    {{- \"Do not use variables.\\n\\n\" }}\n"
    "    {%- for t in tools %}\n"
    "        {{- t | tojson(indent=4) }}\n"
    "        {{- \"\\n\\n\" }}\n"
    "    {%- endfor %}\n"
    "    {{- first_user_message + \"<|eot_id|>\"}}\n"
    "{%- endif %}\n"
    "\n"
    "{%- for message in messages %}\n"
    "    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in mes"
    "sage) %}\n"
    "        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['co"
    "ntent'] | trim + '<|eot_id|>' }}\n"
    "    {%- elif 'tool_calls' in message %}\n"
    "        {%- if not message.tool_calls|length == 1 %}\n"
    "            {{- raise_exception(\"This model only supports single tool-calls at once!\") }}\n"
    "        {%- endif %}\n"
    "        {%- set tool_call = message.tool_calls[0].function %}\n"
    "        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}\n"
    "            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
    "            {{- \"<|python_tag|>\" + tool_call.name + \".call(\" }}\n"
    "            {%- for arg_name, arg_val in tool_call.arguments | items %}\n"
    "                {{- arg_name + '=\"' + arg_val + '\"' }}\n"
    "                {%- if not loop.last %}\n"
    "                    {{- \", \" }}\n"
    "                {%- endif %}\n"
    "                {%- endfor %}\n"
    "            {{- \")\" }}\n"
    "        {%- else  %}\n"
    "            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
    "            {{- '{\"name\": \"' + tool_call.name + '\", ' }}\n"
    "            {{- '\"parameters\": ' }}\n"
    "            {{- tool_call.arguments | tojson }}\n"
    "            {{- \"}\" }}\n"
    "        {%- endif %}\n"
    "        {%- if builtin_tools is defined %}\n"
    "            {#- This means we're in ipython mode #}\n"
    "            {{- \"<|eom_id|>\" }}\n"
    "        {%- else %}\n"
    "            {{- \"<|eot_id|>\" }}\n"
    "        {%- endif %}\n"
    "    {%- elif message.role == \"tool\" or message.role == \"ipython\" %}\n"
    "        {{- \"<|start_header_id|>ipython<|end_header_id|>\\n\\n\" }}\n"
    "        {%- if message.content is mapping or message.content is iterable %}\n"
    "            {{- message.content | tojson }}\n"
    "        {%- else %}\n"
    "            {{- message.content }}\n"
    "        {%- endif %}\n"
    "        {{- \"<|eot_id|>\" }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    "{%- endif %}";

static const char LLAMA2[] =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set syste"
    "m_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set sy"
    "stem_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role']"
    " == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must altern"
    "ate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_mes"
    "sage != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message"
    "['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['ro"
    "le'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message"
    "['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endf"
    "or %}";

static const char MISTRAL_V03[] =
    "{%- if messages[0][\"role\"] == \"system\" %}\n"
    "    {%- set system_message = messages[0][\"content\"] %}\n"
    "    {%- set loop_messages = messages[1:] %}\n"
    "{%- else %}\n"
    "    {%- set loop_messages = messages %}\n"
    "{%- endif %}\n"
    "{%- if not tools is defined %}\n"
    "    {%- set tools = none %}\n"
    "{%- endif %}\n"
    "{%- set user_messages = loop_messages | selectattr(\"role\", \"equalto\", \"user\") | list %}\n"
    "\n"
    "{#- This block checks for alternating user/assistant messages, skipping tool calling messa"
    "ges #}\n"
    "{%- set ns = namespace() %}\n"
    "{%- set ns.index = 0 %}\n"
    "{%- for message in loop_messages %}\n"
    "    {%- if not (message.role == \"tool\" or message.role == \"tool_results\" or (message.tool_"
    "calls is defined and message.tool_calls is not none)) %}\n"
    "        {%- if (message[\"role\"] == \"user\") != (ns.index % 2 == 0) %}\n"
    "            {{- raise_exception(\"After the optional system message, conversation roles mus"
    "t alternate user/assistant/user/assistant/...\") }}\n"
    "        {%- endif %}\n"
    "        {%- set ns.index = ns.index + 1 %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "\n"
    "{{- bos_token }}\n"
    "{%- for message in loop_messages %}\n"
    "    {%- if message[\"role\"] == \"user\" %}\n"
    "        {%- if tools is not none and (message == user_messages[-1]) %}\n"
    "            {{- \"[AVAILABLE_TOOLS] [\" }}\n"
    "            {%- for tool in tools %}\n"
    "                {%- set tool = tool.function %}\n"
    "                {{- '{\"type\": \"function\", \"function\": {' }}\n"
    "                {%- for key, val in tool.items() if key != \"return\" %}\n"
    "                    {%- if val is string %}\n"
    "                        {{- '\"' + key + '\": \"' + val + '\"' }}\n"
    "                    {%- else %}\n"
    "                        {{- '\"' + key + '\": ' + val|tojson }}\n"
    "                    {%- endif %}\n"
    "                    {%- if not loop.last %}\n"
    "                        {{- \", \" }}\n"
    "                    {%- endif %}\n"
    "                {%- endfor %}\n"
    "                {{- \"}}\" }}\n"
    "                {%- if not loop.last %}\n"
    "                    {{- \", \" }}\n"
    "                {%- else %}\n"
    "                    {{- \"]\" }}\n"
    "                {%- endif %}\n"
    "            {%- endfor %}\n"
    "            {{- \"[/AVAILABLE_TOOLS]\" }}\n"
    "            {%- endif %}\n"
    "        {%- if loop.last and system_message is defined %}\n"
    "            {{- \"[INST] \" + system_message + \"\\n\\n\" + message[\"content\"] + \"[/INST]\" }}\n"
    "        {%- else %}\n"
    "            {{- \"[INST] \" + message[\"content\"] + \"[/INST]\" }}\n"
    "        {%- endif %}\n"
    "    {%- elif message.tool_calls is defined and message.tool_calls is not none %}\n"
    "        {{- \"[TOOL_CALLS] [\" }}\n"
    "        {%- for tool_call in message.tool_calls %}\n"
    "            {%- set out = tool_call.function|tojson %}\n"
    "            {{- out[:-1] }}\n"
    "            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}\n"
    "                {{- raise_exception(\"Tool call IDs should be alphanumeric strings with len"
    "gth 9!\") }}\n"
    "            {%- endif %}\n"
    "            {{- ', \"id\": \"' + tool_call.id + '\"}' }}\n"
    "            {%- if not loop.last %}\n"
    "                {{- \", \" }}\n"
    "            {%- else %}\n"
    "                {{- \"]\" + eos_token }}\n"
    "            {%- endif %}\n"
    "        {%- endfor %}\n"
    "    {%- elif message[\"role\"] == \"assistant\" %}\n"
    "        {{- \" \" + message[\"content\"]|trim + eos_token}}\n"
    "    {%- elif message[\"role\"] == \"tool_results\" or message[\"role\"] == \"tool\" %}\n"
    "        {%- if message.content is defined and message.content.content is defined %}\n"
    "            {%- set content = message.content.content %}\n"
    "        {%- else %}\n"
    "            {%- set content = message.content %}\n"
    "        {%- endif %}\n"
    "        {{- '[TOOL_RESULTS] {\"content\": ' + content|string + \", \" }}\n"
    "        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}\n"
    "            {{- raise_exception(\"Tool call IDs should be alphanumeric strings with length "
    "9!\") }}\n"
    "        {%- endif %}\n"
    "        {{- '\"call_id\": \"' + message.tool_call_id + '\"}[/TOOL_RESULTS]' }}\n"
    "    {%- else %}\n"
    "        {{- raise_exception(\"Only user and assistant roles are supported, with the excepti"
    "on of an initial optional system message!\") }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}";

static const char GEMMA2[] =
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not"
    " supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') !"
    "= (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assi"
    "stant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set ro"
    "le = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' +"
    " role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_gener"
    "ation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}";

static const char SMOLLM2[] =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|"
    "im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n"
    "' + message['content'] + '<|im_end|>' + '\n"
    "'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n"
    "' }}{% endif %}";

static const char ZEPHYR[] =
    "{% for message in messages %}\n"
    "{% if message['role'] == 'user' %}\n"
    "{{ '<|user|>\n"
    "' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n"
    "{{ '<|system|>\n"
    "' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n"
    "{{ '<|assistant|>\n"
    "'  + message['content'] + eos_token }}\n"
    "{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n"
    "{{ '<|assistant|>' }}\n"
    "{% endif %}\n"
    "{% endfor %}";

/* A system prompt, two user turns and an assistant turn. */
static const tpl_message CONV[] = {
    { .role = "system", .content = "You are terse." },
    { .role = "user", .content = "Hi" },
    { .role = "assistant", .content = "Hello!" },
    { .role = "user", .content = "What is 2+2?" },
};
#define N_CONV 4

static const char TOOLS[] =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_time\", \"description\": "
    "\"Get the time\", \"parameters\": {\"type\": \"object\", \"properties\": {}}}}]";
static const char TOOL_JSON[] =
    "{\"type\": \"function\", \"function\": {\"name\": \"get_time\", \"description\": "
    "\"Get the time\", \"parameters\": {\"type\": \"object\", \"properties\": {}}}}";

static void check_tpl(const char *file, int line, const char *tpl, const tpl_message *m, int n,
                      const tpl_options *opt, const char *want)
{
    char *out = NULL;
    hearth_error err;
    hearth_status st = tpl_render_ex(tpl, m, n, opt, &out, &err);
    if (st != HEARTH_OK)
        test_fail(file, line, "render failed: %s", err.msg);
    else if (strcmp(out, want) != 0)
        test_fail(file, line, "\n  got  \"%s\"\n  want \"%s\"", out, want);
    mem_free(out);
}
#define CHECK_TPL(tpl, m, n, opt, want) check_tpl(__FILE__, __LINE__, tpl, m, n, opt, want)

static tpl_options opts(bool gen, const char *bos, const char *eos)
{
    return (tpl_options){ .add_generation_prompt = gen, .bos_token = bos, .eos_token = eos,
                          .enable_thinking = -1 };
}

TEST(tpl_qwen25)
{
    tpl_options o = opts(true, NULL, "<|im_end|>");
    CHECK_TPL(QWEN25, CONV, N_CONV, &o,
              "<|im_start|>system\nYou are terse.<|im_end|>\n"
              "<|im_start|>user\nHi<|im_end|>\n"
              "<|im_start|>assistant\nHello!<|im_end|>\n"
              "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
              "<|im_start|>assistant\n");
    o.add_generation_prompt = false;
    CHECK_TPL(QWEN25, CONV + 1, 1, &o,
              "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
              "assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
}

TEST(tpl_qwen25_tools)
{
    const tpl_message m[] = {
        { .role = "user", .content = "Time?" },
        { .role = "assistant", .tool_calls = "[{\"type\": \"function\", \"function\": "
                                             "{\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}}]" },
        { .role = "tool", .content = "12:00", .name = "get_time" },
    };
    tpl_options o = opts(true, NULL, NULL);
    o.tools = TOOLS;
    char want[4096];
    snprintf(want, sizeof want,
             "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
             "assistant.\n\n# Tools\n\nYou may call one or more functions to assist with the user "
             "query.\n\nYou are provided with function signatures within <tools></tools> XML "
             "tags:\n<tools>\n%s\n</tools>\n\nFor each function call, return a json object with "
             "function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
             "{{\"name\": <function-name>, \"arguments\": <args-json-object>}}\n</tool_call>"
             "<|im_end|>\n"
             "<|im_start|>user\nTime?<|im_end|>\n"
             "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": "
             "{\"tz\": \"UTC\"}}\n</tool_call><|im_end|>\n"
             "<|im_start|>user\n<tool_response>\n12:00\n</tool_response><|im_end|>\n"
             "<|im_start|>assistant\n",
             TOOL_JSON);
    CHECK_TPL(QWEN25, m, 3, &o, want);
}

TEST(tpl_qwen3)
{
    const tpl_message m[] = {
        { .role = "user", .content = "Hi" },
        { .role = "assistant", .content = "<think>\nhmm\n</think>\n\nHello!" },
        { .role = "user", .content = "And?" },
    };
    /* reasoning of turns before the last user message is dropped */
    tpl_options o = opts(true, NULL, NULL);
    CHECK_TPL(QWEN3, m, 3, &o,
              "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
              "<|im_start|>user\nAnd?<|im_end|>\n<|im_start|>assistant\n");
    o.enable_thinking = 0;
    CHECK_TPL(QWEN3, m, 3, &o,
              "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
              "<|im_start|>user\nAnd?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
    /* ... but kept for the turn after it */
    o = opts(false, NULL, NULL);
    CHECK_TPL(QWEN3, m, 2, &o,
              "<|im_start|>user\nHi<|im_end|>\n"
              "<|im_start|>assistant\n<think>\nhmm\n</think>\n\nHello!<|im_end|>\n");
    CHECK_TPL(QWEN3, CONV, N_CONV, &o,
              "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
              "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n");
}

TEST(tpl_qwen3_tools)
{
    const tpl_message m[] = {
        { .role = "system", .content = "Sys" },
        { .role = "user", .content = "Time?" },
        { .role = "assistant", .content = "",
          .tool_calls = "[{\"function\": {\"name\": \"get_time\", \"arguments\": \"{\\\"tz\\\": 1}\"}}]" },
        { .role = "tool", .content = "12:00" },
    };
    tpl_options o = opts(true, NULL, NULL);
    o.tools = TOOLS;
    /* the call turn is not the last message and has no reasoning: no <think> block; a string
     * "arguments" is inserted as it is */
    char want[4096];
    snprintf(want, sizeof want,
             "<|im_start|>system\nSys\n\n# Tools\n\nYou may call one or more functions to assist "
             "with the user query.\n\nYou are provided with function signatures within "
             "<tools></tools> XML tags:\n<tools>\n%s\n</tools>\n\nFor each function call, return "
             "a json object with function name and arguments within <tool_call></tool_call> XML "
             "tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
             "</tool_call><|im_end|>\n"
             "<|im_start|>user\nTime?<|im_end|>\n"
             "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_time\", "
             "\"arguments\": {\"tz\": 1}}\n</tool_call><|im_end|>\n"
             "<|im_start|>user\n<tool_response>\n12:00\n</tool_response><|im_end|>\n"
             "<|im_start|>assistant\n",
             TOOL_JSON);
    CHECK_TPL(QWEN3, m, 4, &o, want);
}

TEST(tpl_llama31)
{
    tpl_options o = opts(true, "<|begin_of_text|>", "<|eot_id|>");
    CHECK_TPL(LLAMA31, CONV, N_CONV, &o,
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
              "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
              "You are terse.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(tpl_llama31_tools)
{
    const tpl_message m[] = {
        { .role = "user", .content = " Time? " },
        { .role = "assistant",
          .tool_calls = "[{\"function\": {\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}}]" },
        { .role = "tool", .content = "12:00" },
    };
    tpl_options o = opts(true, "<|begin_of_text|>", NULL);
    o.tools = TOOLS;
    /* tools go into the first user message, as JSON with indent 4; a string tool result is
     * itself iterable, so the template prints it with tojson (quoted) */
    CHECK_TPL(LLAMA31, m, 3, &o,
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
              "Environment: ipython\nCutting Knowledge Date: December 2023\n"
              "Today Date: 26 Jul 2024\n\n<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\n"
              "Given the following functions, please respond with a JSON for a function call "
              "with its proper arguments that best answers the given prompt.\n\n"
              "Respond in the format {\"name\": function name, \"parameters\": dictionary of "
              "argument name and its value}.Do not use variables.\n\n"
              "{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"get_time\",\n"
              "        \"description\": \"Get the time\",\n        \"parameters\": {\n"
              "            \"type\": \"object\",\n            \"properties\": {}\n        }\n    }\n}"
              "\n\nTime?<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n"
              "{\"name\": \"get_time\", \"parameters\": {\"tz\": \"UTC\"}}<|eot_id|>"
              "<|start_header_id|>ipython<|end_header_id|>\n\n\"12:00\"<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(tpl_llama2)
{
    tpl_options o = opts(true, "<s>", "</s>");
    CHECK_TPL(LLAMA2, CONV, N_CONV, &o,
              "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi [/INST] Hello! </s>"
              "<s>[INST] What is 2+2? [/INST]");
    const tpl_message bad[] = { { .role = "user", .content = "a" }, { .role = "user", .content = "b" } };
    char *out = NULL;
    hearth_error err;
    CHECK_EQ(tpl_render_ex(LLAMA2, bad, 2, &o, &out, &err), HEARTH_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "Conversation roles must alternate");
    CHECK(out == NULL);
}

TEST(tpl_mistral_v03)
{
    tpl_options o = opts(true, "<s>", "</s>");
    /* the system prompt goes into the last user turn */
    CHECK_TPL(MISTRAL_V03, CONV, N_CONV, &o,
              "<s>[INST] Hi[/INST] Hello!</s>[INST] You are terse.\n\nWhat is 2+2?[/INST]");
    const tpl_message m[] = {
        { .role = "user", .content = "Time?" },
        { .role = "assistant", .tool_calls = "[{\"id\": \"abc123def\", \"function\": {\"name\": "
                                             "\"get_time\", \"arguments\": {\"tz\": \"UTC\"}}}]" },
        { .role = "tool", .content = "12:00", .tool_call_id = "abc123def" },
    };
    o.tools = TOOLS;
    CHECK_TPL(MISTRAL_V03, m, 3, &o,
              "<s>[AVAILABLE_TOOLS] [{\"type\": \"function\", \"function\": {\"name\": \"get_time\", "
              "\"description\": \"Get the time\", \"parameters\": {\"type\": \"object\", "
              "\"properties\": {}}}}][/AVAILABLE_TOOLS][INST] Time?[/INST]"
              "[TOOL_CALLS] [{\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}, "
              "\"id\": \"abc123def\"}]</s>"
              "[TOOL_RESULTS] {\"content\": 12:00, \"call_id\": \"abc123def\"}[/TOOL_RESULTS]");
}

TEST(tpl_gemma2)
{
    tpl_options o = opts(true, "<bos>", "<eos>");
    CHECK_TPL(GEMMA2, CONV + 1, 3, &o,
              "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
              "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n");
    char *out = NULL;
    hearth_error err;
    CHECK_EQ(tpl_render_ex(GEMMA2, CONV, N_CONV, &o, &out, &err), HEARTH_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "System role not supported");
}

TEST(tpl_smollm2_zephyr)
{
    tpl_options o = opts(true, NULL, "</s>");
    CHECK_TPL(SMOLLM2, CONV + 1, 1, &o,
              "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
              "Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    CHECK_TPL(SMOLLM2, CONV, 2, &o,
              "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
              "<|im_start|>assistant\n");
    CHECK_TPL(ZEPHYR, CONV, N_CONV, &o,
              "<|system|>\nYou are terse.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n"
              "<|user|>\nWhat is 2+2?</s>\n<|assistant|>\n");
}

/* The templates stored in the GGUF vocabularies of ../shared/testdata. */
static char *gguf_template(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, TESTDATA "/vocab/%s", name);
    gguf_file *f;
    hearth_error err;
    if (gguf_open(&f, path, &err) != HEARTH_OK) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        return NULL;
    }
    const char *t = gguf_get_str(f, "tokenizer.chat_template");
    char *copy = t ? mem_strdup(t) : NULL;
    gguf_close(f);
    return copy;
}

TEST(tpl_gguf_qwen2_phi3)
{
    char *qwen2 = gguf_template("ggml-vocab-qwen2.gguf");
    char *phi3 = gguf_template("ggml-vocab-phi-3.gguf");
    REQUIRE(qwen2 && phi3);
    tpl_options o = opts(true, "<s>", "<|endoftext|>");
    CHECK_TPL(qwen2, CONV + 1, 3, &o,
              "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
              "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
              "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n");
    CHECK_TPL(phi3, CONV + 1, 3, &o,
              "<s><|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n"
              "<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n");
    CHECK_STR(tpl_guess_family(qwen2), "chatml");
    CHECK_STR(tpl_guess_family(phi3), "phi3");
    mem_free(qwen2);
    mem_free(phi3);
}

TEST(tpl_guess_family)
{
    CHECK_STR(tpl_guess_family(QWEN25), "chatml");
    CHECK_STR(tpl_guess_family(QWEN3), "chatml");
    CHECK_STR(tpl_guess_family(SMOLLM2), "chatml");
    CHECK_STR(tpl_guess_family(LLAMA31), "llama3");
    CHECK_STR(tpl_guess_family(LLAMA2), "llama2");
    CHECK_STR(tpl_guess_family(MISTRAL_V03), "mistral");
    CHECK_STR(tpl_guess_family(GEMMA2), "gemma");
    CHECK_STR(tpl_guess_family(ZEPHYR), "zephyr");
    CHECK_STR(tpl_guess_family("{{ messages }}"), "unknown");
    CHECK_STR(tpl_guess_family(NULL), "unknown");
}

TEST(tpl_chatml_fallback)
{
    char *out = NULL;
    hearth_error err;
    REQUIRE(tpl_render_chatml(CONV, 2, true, &out, &err) == HEARTH_OK);
    CHECK_STR(out, "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                   "<|im_start|>assistant\n");
    mem_free(out);
    REQUIRE(tpl_render_chatml(CONV, 0, false, &out, &err) == HEARTH_OK);
    CHECK_STR(out, "");
    mem_free(out);
}

TEST(tpl_errors)
{
    char *out = NULL;
    hearth_error err;
    tpl_options o = opts(true, NULL, NULL);
    CHECK_EQ(tpl_render_ex("{% for %}", CONV, 1, &o, &out, &err), HEARTH_ERR_FORMAT);
    const tpl_message bad = { .role = "assistant", .tool_calls = "[not json" };
    CHECK_EQ(tpl_render_ex(QWEN25, &bad, 1, &o, &out, &err), HEARTH_ERR_FORMAT);
    o.tools = "{";
    CHECK_EQ(tpl_render_ex(QWEN25, CONV, 1, &o, &out, &err), HEARTH_ERR_FORMAT);
    CHECK(out == NULL);
    /* the plain entry point is the same with no tools */
    REQUIRE(tpl_render(SMOLLM2, CONV, 2, false, NULL, NULL, &out, &err) == HEARTH_OK);
    CHECK_STR(out, "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
    mem_free(out);
}

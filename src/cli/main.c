/*
 * main.c — the hearth command: dispatches to one function per subcommand.
 *
 * Each command lives in its own file (src/cli/NAME.c) as `int cmd_NAME(int argc, char **argv)`
 * with argv[0] being the command name; it returns the process exit code. Commands parse,
 * call the library, and render; they hold no logic of their own.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "hearth.h"

static const struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} commands[] = {
    /* one line per command, keep alphabetical */
    { "ask", cmd_ask, "answer a question from a knowledge base, with citations" },
    { "audit", cmd_audit, "what listens, what could leave the machine, model hashes" },
    { "bench", cmd_bench, "measure a model's speed, or the kernels' (--kernels)" },
    { "chat", cmd_chat, "talk with a model, interactively" },
    { "embed", cmd_embed, "print the embedding vectors of texts" },
    { "fit", cmd_fit, "will a model run on this machine? memory and speed" },
    { "import", cmd_import, "register a model file under a short name" },
    { "index", cmd_index, "build or update a knowledge base from your files" },
    { "license", cmd_license, "can I ship this model's output? the deciding clause" },
    { "list", cmd_list, "the registered models" },
    { "pull", cmd_pull, "download a model (hf:ORG/REPO or https://), verified" },
    { "rm", cmd_rm, "forget a registered model" },
    { "run", cmd_run, "continue a prompt with a model, streamed" },
    { "serve", cmd_serve, "OpenAI- and Ollama-compatible API and web chat on 127.0.0.1" },
    { "search", cmd_search, "find passages in a knowledge base" },
    { "show", cmd_show, "summarise a GGUF model file" },
    { "tokenize", cmd_tokenize, "show the token ids of a text" },
    { "transcribe", cmd_transcribe, "speech to text with a whisper.cpp model" },
};

static void usage(FILE *out)
{
    fprintf(out, "hearth %s — your own AI stack, offline\n\nusage: hearth COMMAND [ARGS]\n\n",
            hearth_version());
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\nRun 'hearth COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("hearth %s\n", hearth_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "hearth: unknown command '%s' (run 'hearth --help' for the list)\n", argv[1]);
    return 2;
}

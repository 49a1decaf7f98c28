/*
 * tokenize.c — `hearth tokenize MODEL TEXT [--no-bos] [--special] [--pieces] [--json]`:
 * show the token ids a model's tokenizer gives for a text.
 *
 * By default BOS/EOS (or [CLS]/[SEP]) are added as the model asks, the way a prompt is
 * fed to it; --no-bos leaves them out. --special turns special-token text such as
 * "<|im_start|>" into those tokens. Plain output is the ids on one line; --pieces prints
 * one token per line with its piece (bytes shown escaped where not printable); --json
 * prints {"ids": [...]} (plus "pieces" with --pieces, invalid UTF-8 shown as U+FFFD).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "base/utf8.h"
#include "cli/cli.h"
#include "formats/gguf.h"
#include "tokenize/tokenizer.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: hearth tokenize MODEL TEXT [--no-bos] [--special] [--pieces] [--json]\n\n"
                 "Show the token ids MODEL's tokenizer gives for TEXT.\n\n"
                 "  --no-bos    do not add BOS/EOS ([CLS]/[SEP]) tokens\n"
                 "  --special   turn special-token text like <|im_start|> into tokens\n"
                 "  --pieces    one token per line: id and the text it stands for\n"
                 "  --json      print a JSON object instead\n");
}

/* The piece as a C-style quoted string: printable ASCII and valid UTF-8 as is. */
static void print_quoted(const char *p, size_t n)
{
    putchar('\'');
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)p[i];
        uint32_t cp;
        int k = utf8_decode(p + i, n - i, &cp);
        if (c == '\n' || c == '\t' || c == '\r' || c == '\\' || c == '\'') {
            printf("\\%c", c == '\n' ? 'n' : c == '\t' ? 't' : c == '\r' ? 'r' : c);
            i++;
        } else if (k > 1 || (k == 1 && c >= 0x20 && c != 0x7F)) {
            fwrite(p + i, 1, (size_t)k, stdout);
            i += (size_t)k;
        } else {
            printf("\\x%02x", c);
            i++;
        }
    }
    putchar('\'');
}

/* A JSON-safe copy of the piece: invalid UTF-8 bytes become U+FFFD. */
static cJSON *piece_json(const char *p, size_t n)
{
    char buf[1024];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 4 < sizeof buf;) {
        uint32_t cp;
        int len = utf8_decode(p + i, n - i, &cp);
        if (len <= 0) {
            memcpy(buf + k, "\xef\xbf\xbd", 3);
            k += 3;
            i++;
        } else {
            memcpy(buf + k, p + i, (size_t)len);
            k += (size_t)len;
            i += (size_t)len;
        }
    }
    buf[k] = '\0';
    return cJSON_CreateString(buf);
}

static int print_json(const tok_vocab *v, const tok_ids *ids, bool pieces)
{
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "ids");
    cJSON *parr = pieces ? cJSON_AddArrayToObject(root, "pieces") : NULL;
    for (size_t i = 0; i < ids->n; i++) {
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids->v[i]));
        if (parr) {
            size_t n;
            const char *p = tok_piece(v, ids->v[i], true, &n);
            cJSON_AddItemToArray(parr, piece_json(p, n));
        }
    }
    char *s = cJSON_PrintUnformatted(root);
    int rc = s ? 0 : 1;
    if (s)
        printf("%s\n", s);
    cJSON_free(s);
    cJSON_Delete(root);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *text = NULL;
    bool add_special = true, parse_special = false, pieces = false, json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--no-bos") == 0) {
            add_special = false;
        } else if (strcmp(argv[i], "--special") == 0) {
            parse_special = true;
        } else if (strcmp(argv[i], "--pieces") == 0) {
            pieces = true;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "hearth tokenize: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (!model) {
            model = argv[i];
        } else if (!text) {
            text = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!model || !text) {
        usage(stderr);
        return 2;
    }

    hearth_error err;
    gguf_file *f;
    tok_vocab *v = NULL;
    if (gguf_open(&f, model, &err) != HEARTH_OK) {
        fprintf(stderr, "hearth tokenize: %s\n", err.msg);
        return 1;
    }
    hearth_status st = tok_load(&v, f, &err);
    gguf_close(f);
    tok_ids ids = { 0 };
    if (st == HEARTH_OK)
        st = tok_encode(v, text, strlen(text), add_special, parse_special, &ids, &err);
    if (st != HEARTH_OK) {
        fprintf(stderr, "hearth tokenize: %s\n", err.msg);
        tok_free(v);
        return 1;
    }

    int rc = 0;
    if (json) {
        rc = print_json(v, &ids, pieces);
    } else if (pieces) {
        for (size_t i = 0; i < ids.n; i++) {
            size_t n;
            const char *p = tok_piece(v, ids.v[i], true, &n);
            printf("%6d ", ids.v[i]);
            print_quoted(p, n);
            putchar('\n');
        }
    } else {
        for (size_t i = 0; i < ids.n; i++)
            printf(i ? " %d" : "%d", ids.v[i]);
        putchar('\n');
    }
    tok_ids_free(&ids);
    tok_free(v);
    return rc;
}

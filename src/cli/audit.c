/*
 * audit.c — `hearth audit [--json] [--no-verify]`: what could leave this machine.
 *
 * Reports telemetry (none, and where to check), running `hearth serve` processes and where
 * they listen, every registered model re-hashed and its license verdict, then the three
 * questions: can I ship it, does it phone home, is it really local. Exits 1 when something
 * needs attention (a model file changed or missing, a server reachable from other
 * machines without an API key), so scripts can use it as a check.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "cli/cli.h"
#include "hub/audit.h"

static const char usage[] =
    "usage: hearth audit [--json] [--no-verify]\n"
    "Report telemetry (none), running 'hearth serve' processes and where they listen, every\n"
    "registered model with its sha256 re-verified and its license verdict, and a summary.\n"
    "  --no-verify   skip re-hashing the model files (fast)\n"
    "  --json        one JSON object\n"
    "Exit status 1 when something needs attention.\n";

static const char telemetry[] =
    "none: hearth sends no telemetry, usage data or update checks. The only source file "
    "that opens network connections is " AUDIT_NETWORK_SOURCE ", and it runs only when "
    "you ask for a download ('hearth pull', 'hearth fit hf:...' for a header, or a yes to "
    "the default model that run, chat and serve offer when no model is named); check "
    /* split so that this file does not match the search it suggests */
    "with: grep -rl '<cu" "rl/' src/ (it lists that one file).";

typedef struct tally {
    int verdicts[4];
    int changed, missing, exposed, exposed_no_key;
} tally;

static tally count(const audit_report *r)
{
    tally t = { 0 };
    for (size_t i = 0; i < r->n_models; i++) {
        t.verdicts[r->models[i].lic.verdict]++;
        t.missing += !r->models[i].present;
        t.changed += r->models[i].verified && !r->models[i].hash_ok;
    }
    for (size_t i = 0; i < r->n_listeners; i++) {
        t.exposed += !r->listeners[i].loopback;
        t.exposed_no_key += !r->listeners[i].loopback && r->listeners[i].auth != 1;
    }
    return t;
}

static const char *auth_word(int a)
{
    return a == 1 ? "yes" : a == 0 ? "none given" : "unknown (environment not readable)";
}

static void answers(const audit_report *r, const tally *t, char q[3][512])
{
    snprintf(q[0], 512, "%d can, %d under conditions, %d cannot, %d unknown "
             "('hearth license NAME' quotes the clause)", t->verdicts[LIC_CAN],
             t->verdicts[LIC_CONDITIONS], t->verdicts[LIC_CANNOT], t->verdicts[LIC_UNKNOWN]);
    snprintf(q[1], 512, "no: no telemetry; the network is used only when you pull a model "
             "(" AUDIT_NETWORK_SOURCE ")");
    if (t->exposed)
        snprintf(q[2], 512, "not only: %d listening address%s reachable from other machines"
                 "%s", t->exposed, t->exposed == 1 ? " is" : "es are",
                 t->exposed_no_key ? ", without an API key" : " (with an API key)");
    else if (t->changed || t->missing)
        snprintf(q[2], 512, "yes, but %d model file%s changed or missing since registered",
                 t->changed + t->missing, t->changed + t->missing == 1 ? "" : "s");
    else
        snprintf(q[2], 512, "yes: %s, and every model file is here%s",
                 r->n_servers ? "the servers listen on loopback only" : "no server is running",
                 r->n_models && r->models[0].verified ? " and unchanged" : "");
}

static void print_text(const audit_report *r, const tally *t, bool verify)
{
    printf("Telemetry\n  %s\n\nServers\n", telemetry);
    if (!r->n_servers)
        printf("  no 'hearth serve' is running\n");
    else if (!r->n_listeners)
        printf("  %d 'hearth serve' process%s found, listening on no TCP address\n",
               r->n_servers, r->n_servers == 1 ? "" : "es");
    for (size_t i = 0; i < r->n_listeners; i++) {
        const audit_listener *l = &r->listeners[i];
        printf("  %shearth serve (pid %d) listens on %s: %s; API key: %s\n",
               l->loopback ? "" : "WARNING ", l->pid, l->addr,
               l->loopback ? "this machine only" : "reachable from other machines",
               auth_word(l->auth));
    }
    printf("\nModels (%zu%s)\n", r->n_models, verify ? ", sha256 re-verified" : "");
    for (size_t i = 0; i < r->n_models; i++) {
        const audit_model *m = &r->models[i];
        const char *state = !m->present ? "MISSING" : !m->verified ? "not checked"
                            : m->hash_ok ? "sha256 ok" : "CHANGED since registered";
        printf("  %-28s %-24s %-10s %s\n", m->name, state, lic_verdict_word(m->lic.verdict),
               m->lic.license[0] ? m->lic.license : "(no license found)");
    }
    char q[3][512];
    answers(r, t, q);
    printf("\nThree questions\n  Can I ship it?       %s\n  Does it phone home?  %s\n"
           "  Is it really local?  %s\n", q[0], q[1], q[2]);
}

static int print_json(const audit_report *r, const tally *t)
{
    cJSON_Hooks hooks = { mem_alloc, mem_free };
    cJSON_InitHooks(&hooks);
    cJSON *o = cJSON_CreateObject();
    cJSON *tel = cJSON_AddObjectToObject(o, "telemetry");
    cJSON_AddBoolToObject(tel, "present", false);
    cJSON_AddStringToObject(tel, "network_code", AUDIT_NETWORK_SOURCE);
    cJSON_AddStringToObject(tel, "detail", telemetry);
    cJSON *srv = cJSON_AddArrayToObject(o, "servers");
    for (size_t i = 0; srv && i < r->n_listeners; i++) {
        const audit_listener *l = &r->listeners[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(srv, e);
        cJSON_AddNumberToObject(e, "pid", l->pid);
        cJSON_AddStringToObject(e, "address", l->addr);
        cJSON_AddBoolToObject(e, "loopback_only", l->loopback);
        if (l->auth < 0)
            cJSON_AddNullToObject(e, "api_key");
        else
            cJSON_AddBoolToObject(e, "api_key", l->auth == 1);
    }
    cJSON_AddNumberToObject(o, "server_processes", r->n_servers);
    cJSON *models = cJSON_AddArrayToObject(o, "models");
    for (size_t i = 0; models && i < r->n_models; i++) {
        const audit_model *m = &r->models[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(models, e);
        cJSON_AddStringToObject(e, "name", m->name);
        cJSON_AddStringToObject(e, "path", m->path);
        cJSON_AddBoolToObject(e, "present", m->present);
        if (m->verified)
            cJSON_AddBoolToObject(e, "sha256_ok", m->hash_ok);
        else
            cJSON_AddNullToObject(e, "sha256_ok");
        cJSON_AddStringToObject(e, "license", m->lic.license);
        cJSON_AddStringToObject(e, "verdict", lic_verdict_word(m->lic.verdict));
    }
    char q[3][512];
    answers(r, t, q);
    cJSON *s = cJSON_AddObjectToObject(o, "summary");
    cJSON_AddStringToObject(s, "license", q[0]);
    cJSON_AddStringToObject(s, "phones_home", q[1]);
    cJSON_AddStringToObject(s, "really_local", q[2]);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) {
        fprintf(stderr, "hearth audit: out of memory\n");
        return 1;
    }
    printf("%s\n", text);
    cJSON_free(text);
    return 0;
}

int cmd_audit(int argc, char **argv)
{
    bool json = false, verify = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--no-verify") == 0) {
            verify = false;
        } else {
            bool help = strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
            fputs(usage, help ? stdout : stderr);
            return help ? 0 : 2;
        }
    }
    audit_report r = { 0 };
    hearth_error err;
    if (audit_servers("/proc", &r, &err) != HEARTH_OK ||
        audit_models(&r, verify, &err) != HEARTH_OK) {
        fprintf(stderr, "hearth audit: %s\n", err.msg);
        audit_report_free(&r);
        return 1;
    }
    tally t = count(&r);
    int rc = json ? print_json(&r, &t) : (print_text(&r, &t, verify), 0);
    audit_report_free(&r);
    if (rc == 0 && (t.changed || t.missing || t.exposed_no_key))
        rc = 1;
    return rc;
}

/*
 * license.h — "can I ship this?": a verdict on a model's license, from a table.
 *
 * The facts (registry.h's reg_license: an identifier such as GGUF general.license or the
 * Hub card's `license:`, a longer name, a link, a license text beside the model) are
 * matched against a table of licenses hearth knows. Each row holds the verdict on using
 * the model's output in a paid product, the openness tier, and the deciding clause quoted
 * or paraphrased. Anything not in the table is "unknown" with the file or link to read:
 * hearth never guesses.
 *
 * Tiers: "open source" (an OSI-approved license), "open weights" (anyone may use it
 * commercially, under attribution, share-alike or use-based restrictions), "weights
 * available with restrictions" (some users or commercial use are excluded), "closed".
 */
#ifndef HEARTH_HUB_LICENSE_H
#define HEARTH_HUB_LICENSE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "hub/registry.h"

typedef enum lic_verdict { LIC_CAN, LIC_CONDITIONS, LIC_CANNOT, LIC_UNKNOWN } lic_verdict;

typedef struct lic_result {
    char license[128];  /* the identifier found ("" when none), as written in the facts */
    const char *title;  /* the license's full name; NULL when unknown */
    lic_verdict verdict;
    const char *tier;   /* one of the tiers above, or "unknown" */
    char reason[1200];  /* the deciding clause, or "unknown — read FILE" */
    char found_in[300]; /* where the identifier came from */
} lic_result;

/* Judge the facts. Never fails: unfamiliar or missing facts give LIC_UNKNOWN. */
void lic_judge(const reg_license *facts, lic_result *out);
/* The facts of a GGUF file: general.license, general.license.name, general.license.link
 * and a license text beside it (see reg_license_file_names). Free with lic_facts_clear. */
hearth_status lic_facts_from_gguf(const char *path, reg_license *facts, hearth_error *err);
void lic_facts_clear(reg_license *facts);

/* Judge MODEL, a registry name or a GGUF path: the registry entry's facts (the Hub card
 * for pulled models) come first, and the file's own metadata and license text fill in
 * what they lack. */
hearth_status lic_judge_model(const char *model, lic_result *out, hearth_error *err);

/* "can", "conditions", "cannot", "unknown". */
const char *lic_verdict_word(lic_verdict v);
/* The one-sentence answer: "You can ship this model's output in a paid product, because
 * the license says: ...". */
void lic_sentence(const lic_result *r, char *buf, size_t cap);

#endif

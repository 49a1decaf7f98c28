/*
 * rag.h — answering from retrieved sources: the prompt, and the citations in the answer.
 *
 * The prompt numbers the retrieved chunks [1]..[n], each with its path:lines, and asks the
 * model to answer only from them, citing by number. With no sources it says so plainly and
 * asks the model to tell the user that the knowledge base has nothing on the question,
 * rather than answer from memory. After generation, kn_rag_cited finds which numbers the
 * answer cites, so the caller can list each with the file and lines it came from.
 */
#ifndef HEARTH_KNOWLEDGE_RAG_H
#define HEARTH_KNOWLEDGE_RAG_H

#include <stdbool.h>

#include "knowledge/search.h"

/* The system and user messages for question over src[0..n) (n may be 0). Both are
 * heap strings (mem_free). Each source's text is cut to max_chars bytes (at a UTF-8
 * boundary) so a few sources fit a small context. */
hearth_status kn_rag_prompt(const kn_result *src, int n, const char *question, int max_chars,
                            char **system, char **user, hearth_error *err);

/* Mark cited[i] = true for every source number i+1 cited in answer as [i+1] or in a list
 * like [1, 3] or [1][2]; numbers outside 1..n are ignored. Returns how many distinct
 * sources were cited. */
int kn_rag_cited(const char *answer, int n, bool *cited);

/* "path:12-20" (or "path:12" for one line) into buf. */
void kn_rag_location(const kn_chunk_info *c, char *buf, size_t cap);

#endif

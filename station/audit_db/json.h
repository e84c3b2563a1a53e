/*
 * json.h - a small strict JSON reader for the documents the audit side reads:
 * export manifests and the lines of a JSON Lines export.
 *
 * It accepts RFC 8259 JSON with these limits, and refuses everything else:
 *   - the input is at most JSON_INPUT_MAX bytes and must be valid UTF-8;
 *   - at most JSON_TOKENS_MAX values, nested at most JSON_DEPTH_MAX deep;
 *   - numbers are integers only (an optional '-', digits, no leading zero, no
 *     fraction or exponent) that fit an int64_t;
 *   - strings may not hold U+0000 (they are handed out NUL-terminated);
 *     escapes are decoded, surrogate pairs must be paired;
 *   - an object may not hold the same key twice;
 *   - nothing but white space may follow the top-level value.
 *
 * The document is a flat array of tokens in document order (preorder): an
 * object's tokens are its key (a string) and value, in turn; an array's its
 * values. Each token knows where its subtree ends, so a caller skips a value
 * in one step. The reader does no I/O and keeps no global state.
 */
#ifndef STATION_JSON_H
#define STATION_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define JSON_INPUT_MAX (1u << 20)
#define JSON_TOKENS_MAX 4096
#define JSON_DEPTH_MAX 16

enum json_type { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json_token {
  enum json_type type;
  const char *str;     /* JSON_STRING: the decoded text, NUL-terminated (owned by the document) */
  size_t len;          /* JSON_STRING: its length in bytes */
  int64_t num;         /* JSON_NUMBER: the value */
  size_t count;        /* JSON_ARRAY: values; JSON_OBJECT: members */
  size_t end;          /* index of the first token after this value's subtree */
};

struct json_doc;

/* Parses LEN bytes at IN (no NUL needed). Returns 0 and *OUT (free with
 * json_free), or ST_E_EXPORT_INVALID with DETAIL naming the byte offset and
 * what is wrong, or ST_E_NO_MEMORY. */
int json_parse(const char *in, size_t len, struct json_doc **out, struct st_detail *detail);

/* Frees DOC; NULL is fine. */
void json_free(struct json_doc *doc);

/* Token I of DOC (0 is the top-level value); NULL when I is out of range.
 * Borrowed from DOC. */
const struct json_token *json_at(const struct json_doc *doc, size_t i);

/* The index of the value of member KEY in the object at token OBJ, or 0 when
 * OBJ is not an object or has no such member (0 is never a member value). */
size_t json_get(const struct json_doc *doc, size_t obj, const char *key);

/* Member KEY of object OBJ as a string: its text (borrowed), or NULL when it
 * is missing or not a string. */
const char *json_get_string(const struct json_doc *doc, size_t obj, const char *key);

/* Member KEY of object OBJ: 1 and *V for an integer, 0 for null, -1 when it
 * is missing or of another type. */
int json_get_int(const struct json_doc *doc, size_t obj, const char *key, int64_t *v);

#endif

/*
 * json_read.h - a small strict JSON reader (RFC 8259) for the files the
 * station reads back: export manifests and JSON Lines rows.
 *
 * json_parse reads one JSON text into a tree of nodes it owns. Strings are
 * decoded (escapes resolved, \uXXXX into UTF-8; a string holding U+0000 is
 * refused) and NUL-terminated; numbers keep their text. Object members keep
 * their order; duplicate keys are refused. Nesting is capped at 32 levels.
 */
#ifndef STATION_JSON_READ_H
#define STATION_JSON_READ_H

#include <stddef.h>
#include <stdint.h>

struct st_detail;
struct json_doc;

enum json_type { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

/* One value. Read-only for callers; owned by its json_doc. */
struct json_node {
  enum json_type type;
  const char *key;              /* the member's name inside an object, else NULL */
  const char *text;             /* JSON_STRING: the decoded string; JSON_NUMBER: its text */
  const struct json_node *child; /* JSON_ARRAY, JSON_OBJECT: the first element or member */
  const struct json_node *next;  /* the next element or member of the parent */
};

/* Parses LEN bytes of TEXT (one value, optional white space around it).
 * Returns 0 and *OUT (free with json_doc_free), ST_E_NO_MEMORY, or
 * ST_E_EXPORT_INVALID with DETAIL naming the byte offset and the problem. */
int json_parse(const char *text, size_t len, struct json_doc **out, struct st_detail *detail);

/* The top value of DOC. */
const struct json_node *json_root(const struct json_doc *doc);

/* The member KEY of object OBJ, or NULL (also when OBJ is not an object). */
const struct json_node *json_get(const struct json_node *obj, const char *key);

/* 1 and *V when N is a number that is a non-negative integer below 2^63
 * written without fraction or exponent; else 0. */
int json_u64(const struct json_node *n, uint64_t *v);

/* Frees DOC; NULL is fine. */
void json_doc_free(struct json_doc *doc);

#endif

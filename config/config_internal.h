/*
 * config_internal.h - the pieces of config/ shared between its files; not for
 * use outside config/.
 *
 * Reading a configuration goes in two steps:
 *   1. config_tree.c turns the YAML text into a small tree of cfg_node (the
 *      only file that includes <yaml.h>). It refuses what the station never
 *      wants in its configuration: more than one document, anchors, aliases,
 *      tags and nesting deeper than CFG_MAX_DEPTH.
 *   2. config_schema.c walks that tree against the schema and fills a
 *      struct station_config, with the typed readers of config_values.c.
 * Every failure is reported through cfg_fail_at(), which writes
 * "NAME:LINE:COLUMN: message" into the caller's detail.
 */
#ifndef STATION_CONFIG_INTERNAL_H
#define STATION_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

struct st_detail;
struct station_config;

/* The largest configuration file read, in bytes. */
#define CFG_MAX_FILE_SIZE (64 * 1024)

/* The deepest nesting of mappings and sequences accepted (the schema needs 4). */
#define CFG_MAX_DEPTH 16

enum cfg_node_kind { CFG_NODE_SCALAR, CFG_NODE_SEQUENCE, CFG_NODE_MAPPING };

/* One YAML node. A mapping holds its keys and values alternately in items
 * (key 0, value 0, key 1, value 1, ...); a sequence holds its entries. */
struct cfg_node {
  enum cfg_node_kind kind;
  unsigned line;            /* 1-based, where the node starts */
  unsigned column;          /* 1-based */
  char *text;               /* scalar only: the value, NUL-terminated (may hold NULs) */
  size_t length;            /* scalar only: bytes in text, without the terminator */
  bool plain;               /* scalar only: written without quotes */
  struct cfg_node **items;  /* sequence and mapping only */
  size_t item_count;
  size_t item_capacity;
};

/* What every reader needs to report an error and to resolve a path. */
struct cfg_ctx {
  const char *name;          /* the file name used in messages */
  const char *base_dir;      /* absolute directory relative paths are resolved against */
  struct st_detail *detail;  /* may be NULL */
};

/* One key a mapping may hold: its name, whether it is required, and what its
 * value is (used in the message when a required key is missing). */
struct cfg_key {
  const char *name;
  bool required;
  const char *what;
};

/* The most keys one mapping of the schema has. */
#define CFG_MAX_KEYS 8

/* config_tree.c */

/* Parses TEXT (LEN bytes) as exactly one YAML document into a new tree in
 * *ROOT (free with cfg_tree_free). Returns 0, ST_E_CONFIG (syntax error, empty
 * file, several documents, anchor, alias, tag, too deep) or ST_E_NO_MEMORY,
 * with the message in CTX's detail. */
int cfg_tree_parse(const struct cfg_ctx *ctx, const char *text, size_t len, struct cfg_node **root);

/* Frees NODE and everything under it; NULL is fine. */
void cfg_tree_free(struct cfg_node *node);

/* config_values.c */

/* Writes "NAME:LINE:COLUMN: message" into CTX's detail and returns ST_E_CONFIG. */
int cfg_fail_at(const struct cfg_ctx *ctx, unsigned line, unsigned column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Same as cfg_fail_at, at the start of NODE. */
int cfg_fail(const struct cfg_ctx *ctx, const struct cfg_node *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes "NAME: out of memory" into CTX's detail and returns ST_E_NO_MEMORY. */
int cfg_fail_memory(const struct cfg_ctx *ctx);

/* Room enough for what cfg_describe writes. */
#define CFG_DESCRIBE_SIZE 192

/* Describes NODE for a "got ..." in a message ("a mapping", "a sequence",
 * "nothing", or the quoted value, shortened and escaped) into BUF. */
const char *cfg_describe(const struct cfg_node *node, char *buf, size_t size);

/* Joins the place of a mapping (WHERE, NULL at top level) and one of its keys
 * into BUF ("hsm" + "pin" gives "hsm.pin"); returns BUF. */
const char *cfg_path_join(char *buf, size_t size, const char *where, const char *key);

/* Checks that MAP is a mapping whose keys are all among KEYS (N of them, at
 * most CFG_MAX_KEYS), each given once, with every required key present. Sets
 * FOUND[i] to the value of KEYS[i], or NULL when absent. WHERE names the
 * mapping in messages ("hsm", "intake.serial[0]"; NULL for the top level). */
int cfg_match_keys(const struct cfg_ctx *ctx, const struct cfg_node *map, const char *where,
                   const struct cfg_key *keys, size_t n, const struct cfg_node **found);

/* Checks that NODE is a sequence; PATH names it in the message. */
int cfg_expect_sequence(const struct cfg_ctx *ctx, const struct cfg_node *node, const char *path,
                        const char *what);

/* Reads NODE as a non-empty string without NUL bytes into a new *OUT. */
int cfg_get_string(const struct cfg_ctx *ctx, const struct cfg_node *node, const char *path,
                   char **out);

/* Reads NODE as a path: a string as cfg_get_string, made absolute against
 * CTX's base_dir when it is relative. */
int cfg_get_path(const struct cfg_ctx *ctx, const struct cfg_node *node, const char *path,
                 char **out);

/* Returns a new string: P when absolute, else CTX's base_dir joined with P;
 * NULL when out of memory. */
char *cfg_resolve_path(const struct cfg_ctx *ctx, const char *p);

/* Reads NODE as a decimal integer from MIN to MAX (plain digits, no sign, no
 * leading zero, no quotes). */
int cfg_get_uint(const struct cfg_ctx *ctx, const struct cfg_node *node, const char *path,
                 unsigned min, unsigned max, unsigned *out);

/* Reads NODE as one of the N words of CHOICES and sets *OUT to its index.
 * EXPECTED is the message's list of them ("forbid, allow or require"). */
int cfg_get_choice(const struct cfg_ctx *ctx, const struct cfg_node *node, const char *path,
                   const char *const *choices, size_t n, const char *expected, int *out);

/* config_schema.c */

/* Fills C (already zeroed) from the tree ROOT: applies defaults, checks every
 * key and value. Returns 0, ST_E_CONFIG or ST_E_NO_MEMORY; on failure C may be
 * partly filled and is to be freed by the caller. */
int cfg_schema_apply(const struct cfg_ctx *ctx, const struct cfg_node *root, struct station_config *c);

#endif

/*
 * config_values.c - typed readers of cfg_node values, and the error messages.
 *
 * Each reader checks one node against what the schema expects there (a
 * mapping with given keys, a string, a path, a bounded integer, one word of a
 * list) and either stores the value or fails with a message of the form
 *   NAME:LINE:COLUMN: PATH: expected WHAT, got WHAT-WAS-THERE
 * so that an operator can find and fix the line without reading any code.
 */
#include "config_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* How many bytes of a value a message shows before cutting it short. */
#define CFG_QUOTE_MAX 40

int cfg_fail_at(const struct cfg_ctx *ctx, unsigned line, unsigned column, const char *fmt, ...)
{
  char message[512];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  st_detail_set(ctx->detail, "%s:%u:%u: %s", ctx->name, line, column, message);
  return ST_E_CONFIG;
}

int cfg_fail(const struct cfg_ctx *ctx, const struct cfg_node *node, const char *fmt, ...)
{
  char message[512];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  return cfg_fail_at(ctx, node->line, node->column, "%s", message);
}

int cfg_fail_memory(const struct cfg_ctx *ctx)
{
  st_detail_set(ctx->detail, "%s: out of memory", ctx->name);
  return ST_E_NO_MEMORY;
}

/* Writes the scalar NODE into BUF in double quotes, with control and non-ASCII
 * bytes escaped, and "..." after CFG_QUOTE_MAX bytes. */
static const char *cfg_quote(const struct cfg_node *node, char *buf, size_t size)
{
  size_t used = 0;
  size_t shown = node->length < CFG_QUOTE_MAX ? node->length : CFG_QUOTE_MAX;

  used += (size_t)snprintf(buf + used, size - used, "\"");
  for (size_t i = 0; i < shown && used < size; i++) {
    unsigned char c = (unsigned char)node->text[i];
    if (c == '"' || c == '\\')
      used += (size_t)snprintf(buf + used, size - used, "\\%c", c);
    else if (c < 0x20 || c >= 0x7f)
      used += (size_t)snprintf(buf + used, size - used, "\\x%02x", c);
    else
      used += (size_t)snprintf(buf + used, size - used, "%c", c);
  }
  if (used < size)
    snprintf(buf + used, size - used, "%s\"", node->length > shown ? "..." : "");
  return buf;
}

const char *cfg_describe(const struct cfg_node *node, char *buf, size_t size)
{
  if (node->kind == CFG_NODE_MAPPING)
    snprintf(buf, size, "a mapping");
  else if (node->kind == CFG_NODE_SEQUENCE)
    snprintf(buf, size, "a sequence");
  else if (node->plain && node->length == 0)
    snprintf(buf, size, "nothing");
  else
    cfg_quote(node, buf, size);
  return buf;
}

const char *cfg_path_join(char *buf, size_t size, const char *where, const char *key)
{
  if (where == NULL)
    snprintf(buf, size, "%s", key);
  else
    snprintf(buf, size, "%s.%s", where, key);
  return buf;
}

/* Whether scalar NODE is exactly the word WORD (no NUL byte inside). */
static bool cfg_scalar_is(const struct cfg_node *node, const char *word)
{
  return node->kind == CFG_NODE_SCALAR && node->length == strlen(word) &&
         memcmp(node->text, word, node->length) == 0;
}

/* Writes the names of the N KEYS, comma-separated, into BUF. */
static void cfg_key_names(const struct cfg_key *keys, size_t n, char *buf, size_t size)
{
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%s", i > 0 ? ", " : "", keys[i].name);
}

/* The index in KEYS of the scalar KEY, or N when it is none of them. */
static size_t cfg_key_index(const struct cfg_key *keys, size_t n, const struct cfg_node *key)
{
  size_t i = 0;
  while (i < n && !cfg_scalar_is(key, keys[i].name))
    i++;
  return i;
}

/* Refuses MAP when it is not a mapping, naming the keys it should hold. */
static int cfg_expect_mapping(const struct cfg_ctx *ctx, const struct cfg_node *map,
                              const char *where, const char *names)
{
  char got[CFG_DESCRIBE_SIZE];
  int r = 0;

  if (map->kind != CFG_NODE_MAPPING && where == NULL)
    r = cfg_fail(ctx, map, "expected a mapping at top level with keys %s; got %s", names,
                 cfg_describe(map, got, sizeof got));
  else if (map->kind != CFG_NODE_MAPPING)
    r = cfg_fail(ctx, map, "%s: expected a mapping with keys %s; got %s", where, names,
                 cfg_describe(map, got, sizeof got));
  return r;
}

/* Refuses a missing required key of MAP (the first one missing). */
static int cfg_expect_required(const struct cfg_ctx *ctx, const struct cfg_node *map,
                               const char *where, const struct cfg_key *keys, size_t n,
                               const struct cfg_node *const *found)
{
  int r = 0;
  for (size_t i = 0; i < n && r == 0; i++) {
    if (keys[i].required && found[i] == NULL)
      r = cfg_fail(ctx, map, "missing required key \"%s\"%s%s (%s)", keys[i].name,
                   where != NULL ? " in " : "", where != NULL ? where : "", keys[i].what);
  }
  return r;
}

int cfg_match_keys(const struct cfg_ctx *ctx, const struct cfg_node *map, const char *where,
                   const struct cfg_key *keys, size_t n, const struct cfg_node **found)
{
  int r = ST_E_CONFIG;
  const struct cfg_node *seen[CFG_MAX_KEYS] = {NULL};
  const char *place = where != NULL ? where : "top level";
  const char *in = where != NULL ? "in" : "at";
  char names[256], got[CFG_DESCRIBE_SIZE];

  cfg_key_names(keys, n, names, sizeof names);
  for (size_t i = 0; i < n; i++)
    found[i] = NULL;
  if ((r = cfg_expect_mapping(ctx, map, where, names)) != 0)
    return r;
  for (size_t k = 0; k + 1 < map->item_count; k += 2) {
    const struct cfg_node *key = map->items[k];
    size_t i = cfg_key_index(keys, n, key);
    if (key->kind != CFG_NODE_SCALAR) {
      r = cfg_fail(ctx, key, "expected a key name %s %s (one of: %s), got %s", in, place, names,
                   cfg_describe(key, got, sizeof got));
      return r;
    }
    if (i == n) {
      r = cfg_fail(ctx, key, "unknown key %s %s %s (expected one of: %s)",
                   cfg_quote(key, got, sizeof got), in, place, names);
      return r;
    }
    if (seen[i] != NULL) {
      r = cfg_fail(ctx, key, "duplicate key \"%s\" %s %s (first given at line %u, column %u)",
                   keys[i].name, in, place, seen[i]->line, seen[i]->column);
      return r;
    }
    seen[i] = key;
    found[i] = map->items[k + 1];
  }
  return cfg_expect_required(ctx, map, where, keys, n, found);
}

int cfg_expect_sequence(const struct cfg_ctx *ctx, const struct cfg_node *node, const char *path,
                        const char *what)
{
  char got[CFG_DESCRIBE_SIZE];
  int r = 0;
  if (node->kind != CFG_NODE_SEQUENCE)
    r = cfg_fail(ctx, node, "%s: expected a sequence of %s, got %s", path, what,
                 cfg_describe(node, got, sizeof got));
  return r;
}

/* Whether the LEN bytes of S hold a control character (NUL, newline, tab...). */
static bool cfg_has_control(const char *s, size_t len)
{
  bool found = false;
  for (size_t i = 0; i < len && !found; i++)
    found = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f;
  return found;
}

int cfg_get_string(const struct cfg_ctx *ctx, const struct cfg_node *node, const char *path,
                   char **out)
{
  int r = ST_E_CONFIG;
  char got[CFG_DESCRIBE_SIZE];

  *out = NULL;
  if (node->kind != CFG_NODE_SCALAR) {
    return cfg_fail(ctx, node, "%s: expected a string, got %s", path, cfg_describe(node, got, sizeof got));
  }
  if (node->length == 0) {
    r = cfg_fail(ctx, node, "%s: expected a non-empty string, got %s", path,
                 cfg_describe(node, got, sizeof got));
    return r;
  }
  if (cfg_has_control(node->text, node->length)) {
    r = cfg_fail(ctx, node, "%s: expected a string without control characters, got %s", path,
                 cfg_describe(node, got, sizeof got));
    return r;
  }
  if ((*out = strdup(node->text)) == NULL) {
    return cfg_fail_memory(ctx);
  }
  return 0;
}

char *cfg_resolve_path(const struct cfg_ctx *ctx, const char *p)
{
  char *resolved = NULL;
  size_t base_len = strlen(ctx->base_dir);
  bool has_slash = base_len > 0 && ctx->base_dir[base_len - 1] == '/';

  if (p[0] == '/')
    resolved = strdup(p);
  else if ((resolved = malloc(base_len + 1 + strlen(p) + 1)) != NULL)
    sprintf(resolved, "%s%s%s", ctx->base_dir, has_slash ? "" : "/", p);
  return resolved;
}

int cfg_get_path(const struct cfg_ctx *ctx, const struct cfg_node *node, const char *path,
                 char **out)
{
  char *given = NULL;
  int r = cfg_get_string(ctx, node, path, &given);

  if (r != 0)
    goto out;
  if ((*out = cfg_resolve_path(ctx, given)) == NULL) {
    r = cfg_fail_memory(ctx);
    goto out;
  }
  r = 0;
out:
  free(given);
  return r;
}

/* Parses the LEN decimal digits of S into *VALUE; false when S is empty, holds
 * anything but digits, starts with a needless 0, or exceeds LIMIT. */
static bool cfg_parse_decimal(const char *s, size_t len, unsigned long long limit,
                              unsigned long long *value)
{
  bool ok = len > 0 && !(len > 1 && s[0] == '0');
  unsigned long long v = 0;

  for (size_t i = 0; i < len && ok; i++) {
    ok = s[i] >= '0' && s[i] <= '9';
    if (ok)
      v = v * 10 + (unsigned long long)(s[i] - '0');
    ok = ok && v <= limit;   /* stops before v can overflow */
  }
  *value = v;
  return ok;
}

int cfg_get_uint(const struct cfg_ctx *ctx, const struct cfg_node *node, const char *path,
                 unsigned min, unsigned max, unsigned *out)
{
  int r = ST_E_CONFIG;
  unsigned long long value = 0;
  char got[CFG_DESCRIBE_SIZE];

  if (node->kind != CFG_NODE_SCALAR || !node->plain) {
    r = cfg_fail(ctx, node, "%s: expected an integer from %u to %u, written without quotes; got %s",
                 path, min, max, cfg_describe(node, got, sizeof got));
    return r;
  }
  if (!cfg_parse_decimal(node->text, node->length, max, &value) || value < min) {
    r = cfg_fail(ctx, node, "%s: expected an integer from %u to %u, got %s", path, min, max,
                 cfg_describe(node, got, sizeof got));
    return r;
  }
  *out = (unsigned)value;
  return 0;
}

int cfg_get_choice(const struct cfg_ctx *ctx, const struct cfg_node *node, const char *path,
                   const char *const *choices, size_t n, const char *expected, int *out)
{
  int r = ST_E_CONFIG;
  char got[CFG_DESCRIBE_SIZE];
  size_t i = 0;

  while (i < n && !cfg_scalar_is(node, choices[i]))
    i++;
  if (i == n) {
    r = cfg_fail(ctx, node, "%s: expected %s, got %s", path, expected,
                 cfg_describe(node, got, sizeof got));
    return r;
  }
  *out = (int)i;
  return 0;
}

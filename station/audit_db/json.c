/*
 * json.c - the strict JSON reader (limits and document shape in json.h).
 *
 * Recursive descent over the input, depth capped, writing tokens into a
 * growing array and decoded strings into one buffer the size of the input
 * (a decoded string is never longer than its JSON spelling, and each needs
 * one NUL, which its closing quote leaves room for).
 */
#include "json.h"

#include <stdlib.h>
#include <string.h>

struct json_doc {
  struct json_token *tok;
  size_t ntok, cap;
  char *text;          /* decoded strings */
  size_t text_used;
};

struct json_in {
  const char *p, *start, *end;
  struct json_doc *doc;
  struct st_detail *detail;
  int depth;
  int oom;
};

static int json_fail(struct json_in *in, const char *what)
{
  st_detail_set(in->detail, "JSON byte %zu: %s", (size_t)(in->p - in->start), what);
  return -1;
}

static void json_ws(struct json_in *in)
{
  while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r'))
    in->p++;
}

static size_t json_new_token(struct json_in *in, enum json_type type)
{
  struct json_doc *d = in->doc;
  if (d->ntok == d->cap) {
    size_t cap = d->cap ? d->cap * 2 : 32;
    struct json_token *grown;
    if (cap > JSON_TOKENS_MAX)
      cap = JSON_TOKENS_MAX;
    if (d->ntok == cap)
      return SIZE_MAX;
    grown = realloc(d->tok, cap * sizeof *grown);
    if (grown == NULL) {
      in->oom = 1;
      return SIZE_MAX;
    }
    d->tok = grown;
    d->cap = cap;
  }
  memset(&d->tok[d->ntok], 0, sizeof d->tok[0]);
  d->tok[d->ntok].type = type;
  return d->ntok++;
}

/* Four hex digits at P into *V. */
static int json_hex4(const char *p, unsigned *v)
{
  *v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
               : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16u;
    if (d == 16)
      return 0;
    *v = *v << 4 | d;
  }
  return 1;
}

/* The length of the valid UTF-8 sequence at P (before END), or 0. */
static size_t json_utf8(const unsigned char *p, const unsigned char *end)
{
  size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 && p[0] <= 0xef ? 3 : p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : 0;
  uint32_t cp;
  if (n == 0 || (size_t)(end - p) < n)
    return 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80)
      return 0;
  cp = n == 2 ? 0x80 : n == 3 ? (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6
                              : (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12;
  if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return n;
}

/* Writes code point CP as UTF-8 at W; returns the byte count. */
static size_t json_put_utf8(char *w, uint32_t cp)
{
  if (cp < 0x80) {
    w[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    w[0] = (char)(0xc0 | cp >> 6);
    w[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    w[0] = (char)(0xe0 | cp >> 12);
    w[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    w[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  w[0] = (char)(0xf0 | cp >> 18);
  w[1] = (char)(0x80 | (cp >> 12 & 0x3f));
  w[2] = (char)(0x80 | (cp >> 6 & 0x3f));
  w[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

static int json_string(struct json_in *in, size_t *index)
{
  struct json_doc *d = in->doc;
  char *w = d->text + d->text_used, *start = w;
  size_t t;
  in->p++; /* the opening quote */
  for (;;) {
    unsigned char c;
    if (in->p >= in->end)
      return json_fail(in, "unterminated string");
    c = (unsigned char)*in->p;
    if (c == '"')
      break;
    if (c < 0x20)
      return json_fail(in, "control character in a string");
    if (c >= 0x80) {
      size_t n = json_utf8((const unsigned char *)in->p, (const unsigned char *)in->end);
      if (n == 0)
        return json_fail(in, "invalid UTF-8 in a string");
      memcpy(w, in->p, n);
      w += n;
      in->p += n;
      continue;
    }
    if (c != '\\') {
      *w++ = (char)c;
      in->p++;
      continue;
    }
    if (in->end - in->p < 2)
      return json_fail(in, "unterminated escape");
    switch (in->p[1]) {
    case '"': *w++ = '"'; break;
    case '\\': *w++ = '\\'; break;
    case '/': *w++ = '/'; break;
    case 'b': *w++ = '\b'; break;
    case 'f': *w++ = '\f'; break;
    case 'n': *w++ = '\n'; break;
    case 'r': *w++ = '\r'; break;
    case 't': *w++ = '\t'; break;
    case 'u': {
      unsigned hi, lo;
      uint32_t cp;
      if (in->end - in->p < 6 || !json_hex4(in->p + 2, &hi))
        return json_fail(in, "bad \\u escape");
      cp = hi;
      if (hi >= 0xdc00 && hi <= 0xdfff)
        return json_fail(in, "unpaired low surrogate");
      if (hi >= 0xd800 && hi <= 0xdbff) {
        if (in->end - in->p < 12 || in->p[6] != '\\' || in->p[7] != 'u' || !json_hex4(in->p + 8, &lo) ||
            lo < 0xdc00 || lo > 0xdfff)
          return json_fail(in, "unpaired high surrogate");
        cp = 0x10000 + ((uint32_t)(hi - 0xd800) << 10) + (lo - 0xdc00);
        in->p += 6;
      }
      if (cp == 0)
        return json_fail(in, "\\u0000 in a string");
      w += json_put_utf8(w, cp);
      in->p += 4; /* the escape's two characters are passed below */
      break;
    }
    default:
      return json_fail(in, "unknown escape");
    }
    in->p += 2;
  }
  in->p++; /* the closing quote */
  *w = '\0';
  if ((t = json_new_token(in, JSON_STRING)) == SIZE_MAX)
    return json_fail(in, "too many values");
  d->tok[t].len = (size_t)(w - start);
  d->tok[t].str = start; /* text is allocated once, before parsing: it never moves */
  d->text_used += (size_t)(w - start) + 1;
  *index = t;
  return 0;
}

static int json_number(struct json_in *in, size_t *index)
{
  int neg = 0;
  uint64_t v = 0, limit;
  size_t t;
  if (*in->p == '-') {
    neg = 1;
    in->p++;
  }
  limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  if (in->p >= in->end || *in->p < '0' || *in->p > '9')
    return json_fail(in, "bad number");
  if (*in->p == '0' && in->p + 1 < in->end && in->p[1] >= '0' && in->p[1] <= '9')
    return json_fail(in, "number with a leading zero");
  while (in->p < in->end && *in->p >= '0' && *in->p <= '9') {
    uint64_t digit = (uint64_t)(*in->p - '0');
    if (v > (limit - digit) / 10)
      return json_fail(in, "number out of range");
    v = v * 10 + digit;
    in->p++;
  }
  if (in->p < in->end && (*in->p == '.' || *in->p == 'e' || *in->p == 'E'))
    return json_fail(in, "only integers are accepted");
  if ((t = json_new_token(in, JSON_NUMBER)) == SIZE_MAX)
    return json_fail(in, "too many values");
  in->doc->tok[t].num = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
  *index = t;
  return 0;
}

static int json_value(struct json_in *in, size_t *index);

/* True when the object at token OBJ already has a member KEY (before I). */
static int json_has_key(const struct json_doc *d, size_t obj, size_t upto, const struct json_token *key)
{
  for (size_t i = obj + 1; i < upto; i = d->tok[i + 1].end)
    if (d->tok[i].len == key->len && memcmp(d->tok[i].str, key->str, key->len) == 0)
      return 1;
  return 0;
}

static int json_container(struct json_in *in, size_t *index)
{
  int is_obj = *in->p == '{';
  char close = is_obj ? '}' : ']';
  size_t t = json_new_token(in, is_obj ? JSON_OBJECT : JSON_ARRAY), v;
  if (t == SIZE_MAX)
    return json_fail(in, "too many values");
  if (++in->depth > JSON_DEPTH_MAX)
    return json_fail(in, "nested too deep");
  in->p++;
  json_ws(in);
  if (in->p < in->end && *in->p == close) {
    in->p++;
  } else {
    for (;;) {
      if (is_obj) {
        size_t k;
        if (in->p >= in->end || *in->p != '"')
          return json_fail(in, "expected a member name");
        if (json_string(in, &k) != 0)
          return -1;
        if (json_has_key(in->doc, t, k, &in->doc->tok[k]))
          return json_fail(in, "a member name appears twice");
        in->doc->tok[k].end = k + 1;
        json_ws(in);
        if (in->p >= in->end || *in->p != ':')
          return json_fail(in, "expected ':'");
        in->p++;
      }
      json_ws(in);
      if (json_value(in, &v) != 0)
        return -1;
      in->doc->tok[t].count++;
      json_ws(in);
      if (in->p < in->end && *in->p == ',') {
        in->p++;
        json_ws(in);
        continue;
      }
      if (in->p < in->end && *in->p == close) {
        in->p++;
        break;
      }
      return json_fail(in, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
  }
  in->depth--;
  in->doc->tok[t].end = in->doc->ntok;
  *index = t;
  return 0;
}

static int json_literal(struct json_in *in, const char *word, enum json_type type, size_t *index)
{
  size_t n = strlen(word), t;
  if ((size_t)(in->end - in->p) < n || memcmp(in->p, word, n) != 0)
    return json_fail(in, "unexpected character");
  in->p += n;
  if ((t = json_new_token(in, type)) == SIZE_MAX)
    return json_fail(in, "too many values");
  *index = t;
  return 0;
}

static int json_value(struct json_in *in, size_t *index)
{
  int r;
  if (in->p >= in->end)
    return json_fail(in, "unexpected end");
  switch (*in->p) {
  case '{':
  case '[': return json_container(in, index);
  case '"': r = json_string(in, index); break;
  case 't': r = json_literal(in, "true", JSON_TRUE, index); break;
  case 'f': r = json_literal(in, "false", JSON_FALSE, index); break;
  case 'n': r = json_literal(in, "null", JSON_NULL, index); break;
  default: r = json_number(in, index); break;
  }
  if (r == 0)
    in->doc->tok[*index].end = *index + 1;
  return r;
}

int json_parse(const char *text, size_t len, struct json_doc **out, struct st_detail *detail)
{
  struct json_in in;
  struct json_doc *d;
  size_t top;
  int r = ST_E_NO_MEMORY;
  *out = NULL;
  if (len > JSON_INPUT_MAX) {
    st_detail_set(detail, "JSON text of %zu bytes, over the limit of %u", len, JSON_INPUT_MAX);
    return ST_E_EXPORT_INVALID;
  }
  if ((d = calloc(1, sizeof *d)) == NULL || (d->text = malloc(len + 1)) == NULL)
    goto out;
  memset(&in, 0, sizeof in);
  in.p = in.start = text;
  in.end = text + len;
  in.doc = d;
  in.detail = detail;
  json_ws(&in);
  if (json_value(&in, &top) != 0) {
    r = in.oom ? ST_E_NO_MEMORY : ST_E_EXPORT_INVALID;
    goto out;
  }
  json_ws(&in);
  if (in.p != in.end) {
    json_fail(&in, "text after the value");
    r = ST_E_EXPORT_INVALID;
    goto out;
  }
  *out = d;
  d = NULL;
  r = 0;
out:
  json_free(d);
  return r;
}

void json_free(struct json_doc *doc)
{
  if (doc == NULL)
    return;
  free(doc->tok);
  free(doc->text);
  free(doc);
}

const struct json_token *json_at(const struct json_doc *doc, size_t i)
{
  return i < doc->ntok ? &doc->tok[i] : NULL;
}

size_t json_get(const struct json_doc *doc, size_t obj, const char *key)
{
  size_t n = strlen(key);
  if (obj >= doc->ntok || doc->tok[obj].type != JSON_OBJECT)
    return 0;
  for (size_t i = obj + 1; i < doc->tok[obj].end; i = doc->tok[i + 1].end)
    if (doc->tok[i].len == n && memcmp(doc->tok[i].str, key, n) == 0)
      return i + 1;
  return 0;
}

const char *json_get_string(const struct json_doc *doc, size_t obj, const char *key)
{
  size_t i = json_get(doc, obj, key);
  return i != 0 && doc->tok[i].type == JSON_STRING ? doc->tok[i].str : NULL;
}

int json_get_int(const struct json_doc *doc, size_t obj, const char *key, int64_t *v)
{
  size_t i = json_get(doc, obj, key);
  if (i == 0)
    return -1;
  if (doc->tok[i].type == JSON_NULL)
    return 0;
  if (doc->tok[i].type != JSON_NUMBER)
    return -1;
  *v = doc->tok[i].num;
  return 1;
}

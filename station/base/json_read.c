/*
 * json_read.c - a small strict JSON reader (see json_read.h).
 *
 * Recursive descent over the text; nodes and decoded strings live in blocks
 * of the document, so one free releases everything.
 */
#include "json_read.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

#define JSON_DEPTH_MAX 32

/* A block of the document's memory. */
struct json_block {
  struct json_block *next;
  size_t used, cap;
  _Alignas(max_align_t) unsigned char data[];
};

struct json_doc {
  struct json_block *blocks;
  struct json_node *root;
};

struct json_parser {
  struct json_doc *doc;
  const char *p, *start, *end;
  int failed_memory;
  struct st_detail *detail;
  int bad;
};

static void *json_alloc(struct json_parser *x, size_t n)
{
  struct json_block *b = x->doc->blocks;
  size_t need = (n + 15) & ~(size_t)15;
  void *p;
  if (b == NULL || b->cap - b->used < need) {
    size_t cap = need > 65536 ? need : 65536;
    struct json_block *nb = malloc(sizeof *nb + cap);
    if (nb == NULL) {
      x->failed_memory = 1;
      return NULL;
    }
    nb->next = b;
    nb->used = 0;
    nb->cap = cap;
    x->doc->blocks = b = nb;
  }
  p = b->data + b->used;
  b->used += need;
  return p;
}

static int json_fail(struct json_parser *x, const char *what)
{
  if (!x->bad)
    st_detail_set(x->detail, "JSON: %s at byte %zu", what, (size_t)(x->p - x->start));
  x->bad = 1;
  return -1;
}

static void json_ws(struct json_parser *x)
{
  while (x->p < x->end && (*x->p == ' ' || *x->p == '\t' || *x->p == '\n' || *x->p == '\r'))
    x->p++;
}

static int json_hex4(const char *p, unsigned *v)
{
  *v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
               : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16;
    if (d == 16)
      return 0;
    *v = *v << 4 | d;
  }
  return 1;
}

/* Appends code point CP as UTF-8 at *W. */
static void json_utf8(char **w, unsigned cp)
{
  char *o = *w;
  if (cp < 0x80) {
    *o++ = (char)cp;
  } else if (cp < 0x800) {
    *o++ = (char)(0xc0 | cp >> 6);
    *o++ = (char)(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    *o++ = (char)(0xe0 | cp >> 12);
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
    *o++ = (char)(0x80 | (cp & 0x3f));
  } else {
    *o++ = (char)(0xf0 | cp >> 18);
    *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
    *o++ = (char)(0x80 | (cp & 0x3f));
  }
  *w = o;
}

/* A string at x->p (at its opening quote) into *OUT. */
static int json_string(struct json_parser *x, const char **out)
{
  const char *q = x->p + 1;
  char *buf, *w;
  size_t raw = 0;
  while (q + raw < x->end && q[raw] != '"')
    raw += q[raw] == '\\' && q + raw + 1 < x->end ? 2 : 1;
  if (q + raw >= x->end)
    return json_fail(x, "unterminated string");
  /* decoded text is never longer than the raw text */
  if ((buf = json_alloc(x, raw + 1)) == NULL)
    return -1;
  w = buf;
  while (q < x->end && *q != '"') {
    unsigned char c = (unsigned char)*q;
    if (c < 0x20) {
      x->p = q;
      return json_fail(x, "control character in a string");
    }
    if (c != '\\') {
      *w++ = (char)c;
      q++;
      continue;
    }
    q++;
    switch (*q) {
    case '"': *w++ = '"'; q++; break;
    case '\\': *w++ = '\\'; q++; break;
    case '/': *w++ = '/'; q++; break;
    case 'b': *w++ = '\b'; q++; break;
    case 'f': *w++ = '\f'; q++; break;
    case 'n': *w++ = '\n'; q++; break;
    case 'r': *w++ = '\r'; q++; break;
    case 't': *w++ = '\t'; q++; break;
    case 'u': {
      unsigned cp, lo;
      if (x->end - q < 5 || !json_hex4(q + 1, &cp))
        goto bad_escape;
      q += 5;
      if (cp >= 0xd800 && cp < 0xdc00) {
        if (x->end - q < 6 || q[0] != '\\' || q[1] != 'u' || !json_hex4(q + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
          goto bad_escape;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        q += 6;
      } else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0) {
        goto bad_escape;
      }
      json_utf8(&w, cp);
      break;
    }
    default:
      goto bad_escape;
    }
  }
  *w = '\0';
  x->p = q + 1;
  *out = buf;
  return 0;
bad_escape:
  x->p = q;
  return json_fail(x, "bad escape in a string");
}

static int json_value(struct json_parser *x, struct json_node **out, int depth);

static int json_number(struct json_parser *x, struct json_node *n)
{
  const char *s = x->p;
  char *t;
  if (x->p < x->end && *x->p == '-')
    x->p++;
  if (x->p < x->end && *x->p == '0')
    x->p++;
  else if (x->p < x->end && *x->p >= '1' && *x->p <= '9')
    while (x->p < x->end && *x->p >= '0' && *x->p <= '9')
      x->p++;
  else
    return json_fail(x, "bad number");
  if (x->p < x->end && *x->p == '.') {
    x->p++;
    if (x->p >= x->end || *x->p < '0' || *x->p > '9')
      return json_fail(x, "bad number");
    while (x->p < x->end && *x->p >= '0' && *x->p <= '9')
      x->p++;
  }
  if (x->p < x->end && (*x->p == 'e' || *x->p == 'E')) {
    x->p++;
    if (x->p < x->end && (*x->p == '+' || *x->p == '-'))
      x->p++;
    if (x->p >= x->end || *x->p < '0' || *x->p > '9')
      return json_fail(x, "bad number");
    while (x->p < x->end && *x->p >= '0' && *x->p <= '9')
      x->p++;
  }
  if ((t = json_alloc(x, (size_t)(x->p - s) + 1)) == NULL)
    return -1;
  memcpy(t, s, (size_t)(x->p - s));
  t[x->p - s] = '\0';
  n->type = JSON_NUMBER;
  n->text = t;
  return 0;
}

static int json_literal(struct json_parser *x, const char *word, enum json_type type, struct json_node *n)
{
  size_t len = strlen(word);
  if ((size_t)(x->end - x->p) < len || memcmp(x->p, word, len) != 0)
    return json_fail(x, "unexpected text");
  x->p += len;
  n->type = type;
  return 0;
}

/* The elements of an array or the members of an object, after its bracket. */
static int json_children(struct json_parser *x, struct json_node *n, int depth)
{
  int object = n->type == JSON_OBJECT;
  char close = object ? '}' : ']';
  const struct json_node **link = &n->child;
  json_ws(x);
  if (x->p < x->end && *x->p == close) {
    x->p++;
    return 0;
  }
  for (;;) {
    const char *key = NULL;
    struct json_node *child;
    json_ws(x);
    if (object) {
      if (x->p >= x->end || *x->p != '"')
        return json_fail(x, "expected a member name");
      if (json_string(x, &key) < 0)
        return -1;
      if (json_get(n, key) != NULL)
        return json_fail(x, "duplicate member name");
      json_ws(x);
      if (x->p >= x->end || *x->p != ':')
        return json_fail(x, "expected ':'");
      x->p++;
    }
    if (json_value(x, &child, depth + 1) < 0)
      return -1;
    child->key = key;
    *link = child;
    link = &child->next;
    json_ws(x);
    if (x->p < x->end && *x->p == ',') {
      x->p++;
      continue;
    }
    if (x->p < x->end && *x->p == close) {
      x->p++;
      return 0;
    }
    return json_fail(x, object ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static int json_value(struct json_parser *x, struct json_node **out, int depth)
{
  struct json_node *n;
  if (depth > JSON_DEPTH_MAX)
    return json_fail(x, "nested too deep");
  if ((n = json_alloc(x, sizeof *n)) == NULL)
    return -1;
  memset(n, 0, sizeof *n);
  *out = n;
  json_ws(x);
  if (x->p >= x->end)
    return json_fail(x, "a value is missing");
  switch (*x->p) {
  case '{':
  case '[':
    n->type = *x->p == '{' ? JSON_OBJECT : JSON_ARRAY;
    x->p++;
    return json_children(x, n, depth);
  case '"':
    n->type = JSON_STRING;
    return json_string(x, &n->text);
  case 'n':
    return json_literal(x, "null", JSON_NULL, n);
  case 't':
    return json_literal(x, "true", JSON_TRUE, n);
  case 'f':
    return json_literal(x, "false", JSON_FALSE, n);
  default:
    return json_number(x, n);
  }
}

int json_parse(const char *text, size_t len, struct json_doc **out, struct st_detail *detail)
{
  struct json_doc *doc = calloc(1, sizeof *doc);
  struct json_parser x = {doc, text, text, text + len, 0, detail, 0};
  int r = ST_E_NO_MEMORY;
  if (doc == NULL)
    goto out;
  if (json_value(&x, &doc->root, 0) == 0) {
    json_ws(&x);
    if (x.p != x.end)
      json_fail(&x, "text after the value");
  }
  r = x.failed_memory ? ST_E_NO_MEMORY : x.bad ? ST_E_EXPORT_INVALID : 0;
  if (r == 0) {
    *out = doc;
    doc = NULL;
  }
out:
  json_doc_free(doc);
  return r;
}

const struct json_node *json_root(const struct json_doc *doc)
{
  return doc->root;
}

const struct json_node *json_get(const struct json_node *obj, const char *key)
{
  if (obj == NULL || obj->type != JSON_OBJECT)
    return NULL;
  for (const struct json_node *c = obj->child; c != NULL; c = c->next)
    if (c->key != NULL && strcmp(c->key, key) == 0)
      return c;
  return NULL;
}

int json_u64(const struct json_node *n, uint64_t *v)
{
  uint64_t x = 0;
  if (n == NULL || n->type != JSON_NUMBER || strlen(n->text) > 18 || (n->text[0] == '0' && n->text[1] != '\0'))
    return 0;
  for (const char *p = n->text; *p != '\0'; p++) {
    if (*p < '0' || *p > '9')
      return 0;
    x = x * 10 + (uint64_t)(*p - '0');
  }
  *v = x;
  return 1;
}

void json_doc_free(struct json_doc *doc)
{
  if (doc == NULL)
    return;
  for (struct json_block *b = doc->blocks, *next; b != NULL; b = next) {
    next = b->next;
    free(b);
  }
  free(doc);
}

/*
 * hsm_uri.c - PKCS#11 URIs (RFC 7512) naming the station's keys.
 *
 * The form taken here:
 *
 *   pkcs11:ATTR=VALUE;ATTR=VALUE...?ATTR=VALUE&ATTR=VALUE...
 *
 * The scheme "pkcs11:" (any case) comes first; the path runs to the first '?'
 * and its attributes are separated by ';'; the query follows and its
 * attributes are separated by '&'. A value may hold %XX escapes (two hex
 * digits, any case), which are decoded; a '%' not followed by two hex digits,
 * a space, a control character, a non-ASCII byte or a '#' is malformed. No
 * attribute may appear twice, none may be empty, and each belongs to its part.
 *
 *   path:   token, object           kept (text; %00 refused)
 *           id                      checked (bytes), not kept
 *           type, manufacturer, model, serial, slot-*, library-*
 *                                   accepted and ignored
 *   query:  module-path, pin-source kept (text; %00 refused)
 *           pin-value               refused: a PIN never goes in argv
 *           module-name             refused: the station wants module-path
 *   either: x-*                     vendor attributes, accepted and ignored
 *
 * Anything else is refused, so that a misspelt attribute is not silently
 * dropped. A URI is at most HSM_URI_MAX bytes.
 */
#include "hsm.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"

#define HSM_URI_MAX 4096
#define HSM_URI_SCHEME "pkcs11:"

enum hsm_uri_part { HSM_URI_PATH, HSM_URI_QUERY };

enum hsm_uri_use {
  HSM_URI_TOKEN,
  HSM_URI_OBJECT,
  HSM_URI_MODULE_PATH,
  HSM_URI_PIN_SOURCE,
  HSM_URI_ID,
  HSM_URI_IGNORE,
  HSM_URI_REFUSE_PIN,
  HSM_URI_REFUSE_MODULE_NAME,
};

static const struct hsm_uri_attr {
  const char *name;
  enum hsm_uri_part part;
  enum hsm_uri_use use;
} hsm_uri_attrs[] = {
  {"token", HSM_URI_PATH, HSM_URI_TOKEN},
  {"object", HSM_URI_PATH, HSM_URI_OBJECT},
  {"id", HSM_URI_PATH, HSM_URI_ID},
  {"type", HSM_URI_PATH, HSM_URI_IGNORE},
  {"manufacturer", HSM_URI_PATH, HSM_URI_IGNORE},
  {"model", HSM_URI_PATH, HSM_URI_IGNORE},
  {"serial", HSM_URI_PATH, HSM_URI_IGNORE},
  {"slot-manufacturer", HSM_URI_PATH, HSM_URI_IGNORE},
  {"slot-description", HSM_URI_PATH, HSM_URI_IGNORE},
  {"slot-id", HSM_URI_PATH, HSM_URI_IGNORE},
  {"library-manufacturer", HSM_URI_PATH, HSM_URI_IGNORE},
  {"library-description", HSM_URI_PATH, HSM_URI_IGNORE},
  {"library-version", HSM_URI_PATH, HSM_URI_IGNORE},
  {"module-path", HSM_URI_QUERY, HSM_URI_MODULE_PATH},
  {"pin-source", HSM_URI_QUERY, HSM_URI_PIN_SOURCE},
  {"pin-value", HSM_URI_QUERY, HSM_URI_REFUSE_PIN},
  {"module-name", HSM_URI_QUERY, HSM_URI_REFUSE_MODULE_NAME},
};
#define HSM_URI_NATTRS (sizeof hsm_uri_attrs / sizeof hsm_uri_attrs[0])

/* The value of hex digit C, or -1. */
static int hsm_uri_hex(char c)
{
  int v = -1;
  if (c >= '0' && c <= '9')
    v = c - '0';
  else if (c >= 'a' && c <= 'f')
    v = c - 'a' + 10;
  else if (c >= 'A' && c <= 'F')
    v = c - 'A' + 10;
  return v;
}

/* Percent-decodes the LEN bytes at SRC (the value of attribute NAME) into a
 * new NUL-terminated string *OUT holding *OUT_LEN bytes before the NUL.
 * Returns 0, ST_E_USAGE (malformed; DETAIL says where) or ST_E_NO_MEMORY. */
static int hsm_uri_decode(const char *name, const char *src, size_t len, char **out,
                          size_t *out_len, struct st_detail *detail)
{
  int r = ST_E_USAGE;
  char *buf = NULL;
  size_t n = 0;

  buf = malloc(len + 1);
  if (buf == NULL) {
    r = ST_E_NO_MEMORY;
    goto out;
  }
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)src[i];
    if (c == '%') {
      int hi = i + 2 < len ? hsm_uri_hex(src[i + 1]) : -1;
      int lo = i + 2 < len ? hsm_uri_hex(src[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        st_detail_set(detail, "PKCS#11 URI: bad %%-escape in the value of %s (a %% must be followed "
                      "by two hex digits)", name);
        goto out;
      }
      buf[n++] = (char)(hi * 16 + lo);
      i += 2;
    } else if (c <= 0x20 || c >= 0x7f || c == '#') {
      st_detail_set(detail, "PKCS#11 URI: the value of %s holds a character that must be "
                    "%%-escaped (byte 0x%02x)", name, c);
      goto out;
    } else {
      buf[n++] = (char)c;
    }
  }
  buf[n] = '\0';
  *out = buf;
  *out_len = n;
  buf = NULL;
  r = 0;
out:
  free(buf);
  return r;
}

/* Handles one attribute SEG (LEN bytes, "name=value") found in PART: keeps,
 * checks, ignores or refuses it. SEEN marks the table's attributes met so far.
 * Returns 0, ST_E_USAGE with DETAIL, or ST_E_NO_MEMORY. */
static int hsm_uri_attribute(struct hsm_uri *out, enum hsm_uri_part part, const char *seg,
                             size_t len, unsigned char *seen, struct st_detail *detail)
{
  int r = ST_E_USAGE;
  const char *eq = memchr(seg, '=', len);
  const struct hsm_uri_attr *attr = NULL;
  size_t name_len, attr_index = 0;
  char name[32];
  char *value = NULL;
  size_t value_len = 0;
  char **keep = NULL;

  if (len == 0) {
    st_detail_set(detail, "PKCS#11 URI: empty attribute (doubled '%c')",
                  part == HSM_URI_PATH ? ';' : '&');
    goto out;
  }
  if (eq == NULL || eq == seg) {
    st_detail_set(detail, "PKCS#11 URI: attribute %.*s is not of the form name=value",
                  (int)(len < 40 ? len : 40), seg);
    goto out;
  }
  name_len = (size_t)(eq - seg);
  if (name_len >= sizeof name) {
    st_detail_set(detail, "PKCS#11 URI: unknown attribute %.*s...", 20, seg);
    goto out;
  }
  memcpy(name, seg, name_len);
  name[name_len] = '\0';
  for (size_t i = 0; i < HSM_URI_NATTRS && attr == NULL; i++) {
    if (strcmp(hsm_uri_attrs[i].name, name) == 0) {
      attr = &hsm_uri_attrs[i];
      attr_index = i;
    }
  }
  if (attr == NULL) {
    if (strncmp(name, "x-", 2) == 0) {
      r = 0; /* a vendor attribute: not ours */
      goto out;
    }
    st_detail_set(detail, "PKCS#11 URI: unknown attribute %s", name);
    goto out;
  }
  if (attr->use == HSM_URI_REFUSE_PIN) {
    /* The value is neither decoded nor repeated anywhere. */
    st_detail_set(detail, "PKCS#11 URI: pin-value is refused: a PIN never goes on the command "
                  "line; use pin-source=FILE or pin-source=env:NAME");
    goto out;
  }
  if (attr->use == HSM_URI_REFUSE_MODULE_NAME) {
    st_detail_set(detail, "PKCS#11 URI: module-name is not supported; give module-path");
    goto out;
  }
  if (attr->part != part) {
    st_detail_set(detail, "PKCS#11 URI: %s belongs in the %s", name,
                  attr->part == HSM_URI_PATH ? "path (before '?', separated by ';')"
                                             : "query (after '?', separated by '&')");
    goto out;
  }
  if (seen[attr_index]) {
    st_detail_set(detail, "PKCS#11 URI: attribute %s appears twice", name);
    goto out;
  }
  seen[attr_index] = 1;
  r = hsm_uri_decode(name, eq + 1, len - name_len - 1, &value, &value_len, detail);
  if (r != 0)
    goto out;
  r = ST_E_USAGE;
  if (value_len == 0) {
    st_detail_set(detail, "PKCS#11 URI: attribute %s is empty", name);
    goto out;
  }
  switch (attr->use) {
  case HSM_URI_TOKEN:
    keep = &out->token;
    break;
  case HSM_URI_OBJECT:
    keep = &out->object;
    break;
  case HSM_URI_MODULE_PATH:
    keep = &out->module_path;
    break;
  case HSM_URI_PIN_SOURCE:
    keep = &out->pin_source;
    break;
  default:
    break; /* id (any bytes) and the ignored ones are checked, not kept */
  }
  if (keep != NULL) {
    if (strlen(value) != value_len) {
      st_detail_set(detail, "PKCS#11 URI: the value of %s holds a NUL byte (%%00)", name);
      goto out;
    }
    *keep = value;
    value = NULL;
  }
  r = 0;
out:
  free(value);
  return r;
}

/* Splits the LEN bytes at S on SEP and hands each attribute to
 * hsm_uri_attribute. An empty part (LEN 0) holds no attribute. */
static int hsm_uri_part(struct hsm_uri *out, enum hsm_uri_part part, const char *s, size_t len,
                        char sep, unsigned char *seen, struct st_detail *detail)
{
  int r = 0;
  const char *end = s + len;

  while (len > 0 && r == 0) {
    const char *next = memchr(s, sep, (size_t)(end - s));
    const char *stop = next != NULL ? next : end;
    r = hsm_uri_attribute(out, part, s, (size_t)(stop - s), seen, detail);
    if (next == NULL)
      break;
    s = next + 1;
    if (s == end) {
      st_detail_set(detail, "PKCS#11 URI: ends with a dangling '%c'", sep);
      r = ST_E_USAGE;
    }
  }
  return r;
}

int hsm_uri_parse(const char *uri, struct hsm_uri *out, struct st_detail *detail)
{
  int r = ST_E_USAGE;
  unsigned char seen[HSM_URI_NATTRS] = {0};
  const char *path, *query;
  size_t len, path_len;

  if (out == NULL)
    goto out;
  memset(out, 0, sizeof *out);
  if (uri == NULL) {
    st_detail_set(detail, "PKCS#11 URI: none given");
    goto out;
  }
  len = strnlen(uri, HSM_URI_MAX + 1);
  if (len > HSM_URI_MAX) {
    st_detail_set(detail, "PKCS#11 URI: longer than %d bytes", HSM_URI_MAX);
    goto out;
  }
  if (len < sizeof HSM_URI_SCHEME - 1
      || strncasecmp(uri, HSM_URI_SCHEME, sizeof HSM_URI_SCHEME - 1) != 0) {
    st_detail_set(detail, "PKCS#11 URI: must begin with \"pkcs11:\"");
    goto out;
  }
  path = uri + sizeof HSM_URI_SCHEME - 1;
  query = strchr(path, '?');
  path_len = query != NULL ? (size_t)(query - path) : strlen(path);
  r = hsm_uri_part(out, HSM_URI_PATH, path, path_len, ';', seen, detail);
  if (r == 0 && query != NULL)
    r = hsm_uri_part(out, HSM_URI_QUERY, query + 1, strlen(query + 1), '&', seen, detail);
out:
  if (r != 0)
    hsm_uri_cleanup(out);
  return r;
}

void hsm_uri_cleanup(struct hsm_uri *out)
{
  if (out == NULL)
    return;
  free(out->token);
  free(out->object);
  free(out->module_path);
  free(out->pin_source);
  memset(out, 0, sizeof *out);
}

/* pin.c - the HSM PIN in locked memory, from prompt, environment or file (see pin.h). */
#include "pin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ui.h>

#include "error.h"
#include "log.h"
#include "syscalls.h"

struct pin {
  char value[PIN_MAX + 1]; /* NUL-terminated */
  size_t len;
  int locked;              /* 1 when mlock succeeded */
};

struct pin *pin_new(void)
{
  struct pin *p = calloc(1, sizeof *p);
  if (p != NULL)
    p->locked = mlock(p, sizeof *p) == 0;
  return p;
}

struct pin *pin_copy(const struct pin *p)
{
  struct pin *c = pin_new();
  if (c != NULL) {
    memcpy(c->value, p->value, sizeof c->value);
    c->len = p->len;
  }
  return c;
}

void pin_clear(struct pin *p)
{
  OPENSSL_cleanse(p->value, sizeof p->value);
  p->len = 0;
}

void pin_free(struct pin *p)
{
  if (p == NULL)
    return;
  pin_clear(p);
  if (p->locked)
    munlock(p, sizeof *p);
  free(p);
}

const char *pin_value(const struct pin *p)
{
  return p != NULL ? p->value : "";
}

size_t pin_length(const struct pin *p)
{
  return p->len;
}

int pin_set(struct pin *p, const char *value)
{
  size_t n = strlen(value);
  pin_clear(p);
  if (n > PIN_MAX)
    return -1;
  memcpy(p->value, value, n + 1);
  p->len = n;
  return 0;
}

int pin_append(struct pin *p, char c)
{
  if (p->len >= PIN_MAX)
    return -1;
  p->value[p->len++] = c;
  p->value[p->len] = '\0';
  return 0;
}

void pin_chop(struct pin *p)
{
  if (p->len > 0)
    p->value[--p->len] = '\0';
}

/* Cuts VALUE at the first CR or LF. */
static void pin_trim_line(char *value)
{
  value[strcspn(value, "\r\n")] = '\0';
}

static int pin_from_env(const char *name, struct pin *out, struct st_detail *detail)
{
  int r = ST_E_PIN_SOURCE;
  const char *value = getenv(name);
  if (value == NULL || value[0] == '\0') {
    st_detail_set(detail, "hsm.pin is env:%s but that environment variable is not set", name);
    return r;
  }
  if (strlen(value) > PIN_MAX) {
    st_detail_set(detail, "the PIN in $%s is longer than %d bytes", name, PIN_MAX);
    return r;
  }
  pin_set(out, value);
  return ST_OK;
}

/*
 * The POSIX access ACL of a file, as Linux keeps it in the extended attribute
 * "system.posix_acl_access": a little-endian u32 version (2), then entries of
 * u16 tag, u16 permissions (r 4, w 2, x 1), u32 uid or gid. Tags: 0x01 the
 * owner, 0x02 a named user, 0x04 the owning group, 0x08 a named group, 0x10
 * the mask (the most a named entry or the owning group gets), 0x20 others.
 */
#define PIN_ACL_XATTR "system.posix_acl_access"
#define PIN_ACL_USER 0x02
#define PIN_ACL_GROUP 0x08
#define PIN_ACL_MASK 0x10

static unsigned pin_le16(const unsigned char *p)
{
  return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static unsigned long pin_le32(const unsigned char *p)
{
  return (unsigned long)p[0] | (unsigned long)p[1] << 8 | (unsigned long)p[2] << 16 | (unsigned long)p[3] << 24;
}

/* 0 when the ACL of FD (if any) grants no named user or group any access;
 * else ST_E_PERMISSIONS with DETAIL naming the first such entry. A file
 * system without ACLs has none. */
static int pin_check_acl(int fd, const char *path, struct st_detail *detail)
{
  unsigned char acl[4 + 8 * 64];
  ssize_t n = fgetxattr(fd, PIN_ACL_XATTR, acl, sizeof acl);
  unsigned mask = 7;
  if (n < 0 && errno == ERANGE) {
    st_detail_set(detail, "PIN file %s has an access control list of more entries than any PIN file needs; "
                  "run setfacl -b %s", path, path);
    return ST_E_PERMISSIONS;
  }
  if (n < 4)
    return ST_OK;
  for (ssize_t i = 4; i + 8 <= n; i += 8)
    if (pin_le16(acl + i) == PIN_ACL_MASK)
      mask = pin_le16(acl + i + 2) & 7;
  for (ssize_t i = 4; i + 8 <= n; i += 8) {
    unsigned tag = pin_le16(acl + i), perm = pin_le16(acl + i + 2) & mask;
    if ((tag == PIN_ACL_USER || tag == PIN_ACL_GROUP) && perm != 0) {
      st_detail_set(detail, "PIN file %s has an access control list entry giving %s %lu %s%s%s access beyond its "
                    "owner; run setfacl -b %s (and chmod 600 %s)", path, tag == PIN_ACL_USER ? "user" : "group",
                    pin_le32(acl + i + 4), perm & 4 ? "r" : "", perm & 2 ? "w" : "", perm & 1 ? "x" : "", path,
                    path);
      return ST_E_PERMISSIONS;
    }
  }
  return ST_OK;
}

static int pin_from_file(const char *path, struct pin *out, struct st_detail *detail)
{
  int r = ST_E_PIN_SOURCE;
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  struct stat st;
  ssize_t n;

  if (fd < 0) {
    st_detail_set(detail, "cannot open PIN file %s: %s", path, strerror(errno));
    goto out;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    st_detail_set(detail, "PIN file %s is not a regular file", path);
    goto out;
  }
  if ((r = pin_check_acl(fd, path, detail)) != ST_OK)
    goto out;
  r = ST_E_PERMISSIONS;
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    st_detail_set(detail, "PIN file %s has mode %04o: %s may read or change it; only its owner may; run chmod 600 %s",
                  path, (unsigned)(st.st_mode & 07777), st.st_mode & S_IRWXO ? "other users" : "its group", path);
    goto out;
  }
  r = ST_E_PIN_SOURCE;
  n = st_read_full(fd, out->value, PIN_MAX);
  if (n < 0) {
    st_detail_set(detail, "cannot read PIN file %s: %s", path, strerror(errno));
    goto out;
  }
  out->value[n] = '\0';
  pin_trim_line(out->value);
  out->len = strlen(out->value);
  if (out->value[0] == '\0') {
    st_detail_set(detail, "PIN file %s is empty", path);
    goto out;
  }
  r = ST_OK;
out:
  if (fd >= 0)
    close(fd);
  return r;
}

static int pin_from_prompt(const char *prompt_text, struct pin *out, struct st_detail *detail)
{
  int r = ST_E_PIN_SOURCE;
  int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    st_detail_set(detail, "hsm.pin is prompt but there is no terminal to ask on; use env:NAME or file:PATH");
    goto out;
  }
  close(fd);
  if (EVP_read_pw_string(out->value, PIN_MAX + 1, prompt_text, 0) != 0 || out->value[0] == '\0') {
    st_detail_set(detail, "no PIN was entered");
    goto out;
  }
  out->len = strlen(out->value);
  r = ST_OK;
out:
  ERR_clear_error();
  return r;
}

int pin_obtain(enum pin_source kind, const char *ref, const char *prompt_text, struct pin **out,
               struct st_detail *detail)
{
  int r;
  struct pin *p = pin_new();
  *out = NULL;
  if (p == NULL)
    return ST_E_NO_MEMORY;
  if (kind == PIN_FROM_ENV)
    r = pin_from_env(ref, p, detail);
  else if (kind == PIN_FROM_FILE)
    r = pin_from_file(ref, p, detail);
  else
    r = pin_from_prompt(prompt_text, p, detail);
  if (r != ST_OK) {
    pin_free(p);
    return r;
  }
  *out = p;
  return ST_OK;
}

int pin_parse_source(const char *text, enum pin_source *kind, const char **ref)
{
  int r = ST_OK;
  if (strcmp(text, "prompt") == 0) {
    *kind = PIN_FROM_PROMPT;
    *ref = NULL;
  } else if (strncmp(text, "env:", 4) == 0 && text[4] != '\0') {
    *kind = PIN_FROM_ENV;
    *ref = text + 4;
  } else if (strncmp(text, "file:", 5) == 0 && text[5] != '\0') {
    *kind = PIN_FROM_FILE;
    *ref = text + 5;
  } else if (text[0] == '/') {
    *kind = PIN_FROM_FILE;
    *ref = text;
  } else {
    r = ST_E_USAGE;
  }
  return r;
}

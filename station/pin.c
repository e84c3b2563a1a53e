/* pin.c - the HSM PIN from prompt, environment or file (see pin.h). */
#include "pin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ui.h>

#include "error.h"
#include "log.h"

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
    goto out;
  }
  if (strlen(value) > PIN_MAX) {
    st_detail_set(detail, "the PIN in $%s is longer than %d bytes", name, PIN_MAX);
    goto out;
  }
  memcpy(out->value, value, strlen(value) + 1);
  r = ST_OK;
out:
  return r;
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
  if (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP)) {
    st_detail_set(detail, "PIN file %s has mode %04o: others may read or change it; run chmod 600 %s",
                  path, (unsigned)(st.st_mode & 07777), path);
    goto out;
  }
  if (st.st_mode & S_IRGRP)
    st_warn("PIN file %s is readable by its group (mode %04o); 0600 is safer", path, (unsigned)(st.st_mode & 07777));
  n = read(fd, out->value, PIN_MAX);
  if (n < 0) {
    st_detail_set(detail, "cannot read PIN file %s: %s", path, strerror(errno));
    goto out;
  }
  out->value[n] = '\0';
  pin_trim_line(out->value);
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
  r = ST_OK;
out:
  ERR_clear_error();
  return r;
}

int pin_obtain(enum config_pin_kind kind, const char *ref, const char *prompt_text, struct pin *out,
               struct st_detail *detail)
{
  int r;
  memset(out, 0, sizeof *out);
  out->locked = mlock(out->value, sizeof out->value) == 0;
  if (kind == CONFIG_PIN_ENV)
    r = pin_from_env(ref, out, detail);
  else if (kind == CONFIG_PIN_FILE)
    r = pin_from_file(ref, out, detail);
  else
    r = pin_from_prompt(prompt_text, out, detail);
  if (r != ST_OK)
    OPENSSL_cleanse(out->value, sizeof out->value);
  return r;
}

int pin_parse_source(const char *text, enum config_pin_kind *kind, const char **ref)
{
  int r = ST_OK;
  if (strcmp(text, "prompt") == 0) {
    *kind = CONFIG_PIN_PROMPT;
    *ref = NULL;
  } else if (strncmp(text, "env:", 4) == 0 && text[4] != '\0') {
    *kind = CONFIG_PIN_ENV;
    *ref = text + 4;
  } else if (strncmp(text, "file:", 5) == 0 && text[5] != '\0') {
    *kind = CONFIG_PIN_FILE;
    *ref = text + 5;
  } else if (text[0] == '/') {
    *kind = CONFIG_PIN_FILE;
    *ref = text;
  } else {
    r = ST_E_USAGE;
  }
  return r;
}

void pin_wipe(struct pin *p)
{
  if (p == NULL)
    return;
  OPENSSL_cleanse(p->value, sizeof p->value);
  if (p->locked)
    munlock(p->value, sizeof p->value);
  p->locked = 0;
}

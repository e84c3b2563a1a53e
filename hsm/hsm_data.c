/*
 * hsm_data.c - small data objects on the token, and the journal-signing key.
 *
 * A data object here is a PKCS#11 object of class CKO_DATA that is a token
 * object (it survives the session), private (only a logged-in user sees or
 * changes it), modifiable, with CKA_APPLICATION "station" and a CKA_LABEL
 * the caller chooses; its CKA_VALUE holds the bytes. The journal keeps its
 * head there (the seq and chain value of the last durable record, see
 * station/checkpoint.h): a copy of the journal file cannot roll it back,
 * because it lives inside the token and changes only with the PIN.
 *
 * Writing finds the one object with the label and class and sets its
 * CKA_VALUE (C_SetAttributeValue). Tokens that keep CKA_VALUE read-only
 * (SoftHSM does) get a replacement instead: a new object under "<label>.new",
 * the old one destroyed, the new one renamed (CKA_LABEL); reading falls back
 * to "<label>.new" when a stop cut that short, so a value is never lost. Each call opens its own session and closes it (see hsm_pkcs11.c for
 * why that never logs the token out). libp11 0.4.12 has no data-object calls,
 * so this goes through the module's raw function list.
 *
 * The journal key is an EC P-256 private key made inside the token by
 * hsm_generate_ec_p256 (sensitive, never extractable, sign only) the first
 * time it is asked for.
 */
#include "hsm_internal.h"

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "log.h"

#define HSM_DATA_APPLICATION "station"

/* Finds the data objects labelled LABEL (at most 2, to see duplicates). */
static CK_RV hsm_data_find(struct hsm_p11 *p, CK_SESSION_HANDLE s, const char *label,
                           CK_OBJECT_HANDLE found[2], CK_ULONG *n)
{
  return hsm_p11_find(p, s, CKO_DATA, label, NULL, 0, found, 2, n);
}

/* Checks the arguments shared by read and write. */
static int hsm_data_args(struct hsm *h, const char *label, struct st_detail *detail)
{
  int r = 0;
  if (h == NULL || label == NULL || label[0] == '\0' || strlen(label) > 128) {
    r = ST_E_USAGE;
    st_detail_set(detail, "a data object needs a token handle and a label of 1 to 128 bytes");
  }
  return r;
}

/* The label of the new copy while a value is being replaced. */
static void hsm_data_tmp_label(char *out, size_t size, const char *label)
{
  snprintf(out, size, "%s.new", label);
}

/* Finds the one data object labelled LABEL, or else the one labelled
 * LABEL.new (a replacement cut short after the old copy was destroyed).
 * *N is 0 when neither is there. */
static int hsm_data_locate(struct hsm *h, CK_SESSION_HANDLE s, const char *label, CK_OBJECT_HANDLE *o,
                           CK_ULONG *n, struct st_detail *detail)
{
  int r = ST_E_HSM;
  char tmp[160];
  CK_OBJECT_HANDLE found[2];
  CK_RV rv = hsm_data_find(h->p11, s, label, found, n);
  if (rv == CKR_OK && *n == 0) {
    hsm_data_tmp_label(tmp, sizeof tmp, label);
    rv = hsm_data_find(h->p11, s, tmp, found, n);
  }
  if (rv != CKR_OK) {
    r = hsm_p11_fail(detail, "C_FindObjects", rv);
    goto out;
  }
  if (*n > 1) {
    st_detail_set(detail, "%lu data objects labelled \"%s\" on token %s", (unsigned long)*n, label,
                  h->token_label);
    goto out;
  }
  *o = found[0];
  r = 0;
out:
  return r;
}

int hsm_data_read(struct hsm *h, const char *label, void *buf, size_t cap, size_t *len,
                  struct st_detail *detail)
{
  int r = hsm_data_args(h, label, detail);
  CK_FUNCTION_LIST_PTR f = NULL;
  CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
  CK_ULONG n = 0;
  CK_ATTRIBUTE a = {CKA_VALUE, NULL, 0};
  int have_session = 0;
  CK_RV rv;

  if (r != 0)
    goto out;
  f = hsm_p11_functions(h->p11);
  *len = 0;
  rv = hsm_p11_session(h->p11, 0, &s);
  if (rv != CKR_OK) {
    r = hsm_p11_fail(detail, "C_OpenSession", rv);
    goto out;
  }
  have_session = 1;
  r = hsm_data_locate(h, s, label, &o, &n, detail);
  if (r != 0 || n == 0)
    goto out; /* not there (or not logged in: private objects are hidden) */
  rv = f->C_GetAttributeValue(s, o, &a, 1);
  if (rv == CKR_OK && (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > cap)) {
    r = ST_E_HSM;
    st_detail_set(detail, "data object \"%s\" on token %s is larger than %zu bytes", label,
                  h->token_label, cap);
    goto out;
  }
  if (rv == CKR_OK) {
    a.pValue = buf;
    rv = f->C_GetAttributeValue(s, o, &a, 1);
  }
  if (rv != CKR_OK) {
    r = hsm_p11_fail(detail, "C_GetAttributeValue", rv);
    goto out;
  }
  *len = a.ulValueLen;
  r = 1;
out:
  if (have_session)
    f->C_CloseSession(s);
  return r;
}

/* Replaces the value when the token will not change CKA_VALUE in place
 * (SoftHSM keeps it read-only): a new object is made under LABEL.new, the old
 * one (OLD, when HAVE_OLD) destroyed, and the new one renamed to LABEL. A
 * stop at any step leaves either the old value or the new one readable by
 * hsm_data_read, never none. */
static int hsm_data_replace(struct hsm *h, CK_SESSION_HANDLE s, const char *label, CK_OBJECT_HANDLE old,
                            int have_old, const void *data, size_t len, struct st_detail *detail)
{
  CK_FUNCTION_LIST_PTR f = hsm_p11_functions(h->p11);
  char tmp[160];
  CK_OBJECT_CLASS cls = CKO_DATA;
  CK_BBOOL yes = CK_TRUE;
  CK_OBJECT_HANDLE made = CK_INVALID_HANDLE, stale[2];
  CK_ULONG n = 0;
  CK_ATTRIBUTE rename = {CKA_LABEL, (void *)label, strlen(label)};
  const char *call = "C_FindObjects";
  CK_RV rv;

  hsm_data_tmp_label(tmp, sizeof tmp, label);
  {
    CK_ATTRIBUTE tmpl[] = {
      {CKA_CLASS, &cls, sizeof cls},
      {CKA_TOKEN, &yes, sizeof yes},
      {CKA_PRIVATE, &yes, sizeof yes},
      {CKA_MODIFIABLE, &yes, sizeof yes},
      {CKA_LABEL, tmp, strlen(tmp)},
      {CKA_APPLICATION, HSM_DATA_APPLICATION, sizeof HSM_DATA_APPLICATION - 1},
      {CKA_VALUE, (void *)data, len},
    };
    /* a leftover LABEL.new of an earlier cut replacement goes first */
    rv = hsm_data_find(h->p11, s, tmp, stale, &n);
    for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++)
      rv = f->C_DestroyObject(s, stale[i]), call = "C_DestroyObject";
    if (rv == CKR_OK)
      rv = f->C_CreateObject(s, tmpl, sizeof tmpl / sizeof tmpl[0], &made), call = "C_CreateObject";
  }
  if (rv == CKR_OK && have_old)
    rv = f->C_DestroyObject(s, old), call = "C_DestroyObject";
  if (rv == CKR_OK)
    rv = f->C_SetAttributeValue(s, made, &rename, 1), call = "C_SetAttributeValue(CKA_LABEL)";
  return rv == CKR_OK ? 0 : hsm_p11_fail(detail, call, rv);
}

int hsm_data_write(struct hsm *h, const char *label, const void *data, size_t len,
                   struct st_detail *detail)
{
  int r = hsm_data_args(h, label, detail);
  CK_FUNCTION_LIST_PTR f = NULL;
  CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE found[2];
  CK_ULONG n = 0;
  CK_ATTRIBUTE value = {CKA_VALUE, (void *)data, len};
  int have_session = 0;
  CK_RV rv;

  if (r != 0)
    goto out;
  f = hsm_p11_functions(h->p11);
  rv = hsm_p11_session(h->p11, 1, &s);
  if (rv != CKR_OK) {
    r = hsm_p11_fail(detail, "C_OpenSession", rv);
    goto out;
  }
  have_session = 1;
  rv = hsm_data_find(h->p11, s, label, found, &n);
  if (rv != CKR_OK) {
    r = hsm_p11_fail(detail, "C_FindObjects", rv);
    goto out;
  }
  r = ST_E_HSM;
  if (n > 1) {
    st_detail_set(detail, "%lu data objects labelled \"%s\" on token %s", (unsigned long)n, label,
                  h->token_label);
    goto out;
  }
  /* In place when the token allows it; else a new object replaces the old. */
  if (n == 1 && f->C_SetAttributeValue(s, found[0], &value, 1) == CKR_OK)
    r = 0;
  else
    r = hsm_data_replace(h, s, label, found[0], n == 1, data, len, detail);
out:
  if (have_session)
    f->C_CloseSession(s);
  return r;
}

int hsm_find_or_create_key(struct hsm *h, const char *label, struct hsm_key **out, int *created,
                           struct st_detail *detail)
{
  struct st_detail d = {""};
  int made = 0;
  int r = hsm_find_key(h, label, out, &d);
  /* Only a key that is not there at all is made; two keys under the label
   * stay an error. */
  if (r == ST_E_HSM_KEY && strstr(d.text, "no private key") != NULL) {
    r = hsm_generate_ec_p256(h, label, out, &d);
    made = r == 0;
  }
  if (created != NULL)
    *created = made;
  if (r != 0 && detail != NULL)
    *detail = d;
  return r;
}

/*
 * hsm_data.c - small data objects on the token, and the journal-signing key.
 *
 * A data object here is a PKCS#11 object of class CKO_DATA that is a token
 * object (it survives the session), private (only a logged-in user sees or
 * changes it), modifiable, with CKA_APPLICATION "station" and a CKA_LABEL
 * the caller chooses; its CKA_VALUE holds the bytes. The journal keeps its
 * head there (the seq and chain value of the last durable record, see
 * station/journal/checkpoint.h): a copy of the journal file cannot roll it back,
 * because it lives inside the token and changes only with the PIN.
 *
 * A value lives in two slots, objects labelled "<label>#0" and "<label>#1",
 * each holding an 8-byte big-endian generation followed by the bytes. Reading
 * takes the slot with the higher generation. Writing destroys the older slot
 * (or takes a free one) and creates it anew with the next generation: only
 * C_CreateObject and C_DestroyObject, which every token supports the same way
 * (SoftHSM refuses to change CKA_VALUE in place; tpm2-pkcs11 accepts the
 * change and forgets it), and a stop at any point leaves the previous value
 * readable in the other slot. Each call opens its own session and closes it
 * (see hsm_pkcs11.c for why that never logs the token out). libp11 0.4.12 has
 * no data-object calls, so this goes through the module's raw function list.
 *
 * The journal key is an EC P-256 private key made inside the token by
 * hsm_generate_ec_p256 (sensitive, never extractable, sign only) the first
 * time it is asked for.
 */
#include "hsm_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"

#define HSM_DATA_APPLICATION "station"

/* Room for a value and its generation. */
#define HSM_DATA_MAX 4096
#define HSM_DATA_GEN 8

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

/* One of the two slots of a value, as found on the token. */
struct hsm_data_slot {
  CK_OBJECT_HANDLE object;
  int present;
  uint64_t generation;
  unsigned char value[HSM_DATA_MAX];
  size_t len;                          /* bytes after the generation */
};

/* Reads slot INDEX of LABEL. Returns 0 (present or not) or an error. */
static int hsm_data_read_slot(struct hsm *h, CK_SESSION_HANDLE s, const char *label, int index,
                              struct hsm_data_slot *slot, struct st_detail *detail)
{
  char name[160];
  CK_OBJECT_HANDLE found[2];
  CK_ULONG n = 0;
  CK_ATTRIBUTE a = {CKA_VALUE, slot->value, sizeof slot->value};
  CK_RV rv;

  memset(slot, 0, sizeof *slot);
  snprintf(name, sizeof name, "%s#%d", label, index);
  rv = hsm_p11_find(h->p11, s, CKO_DATA, name, NULL, 0, found, 2, &n);
  if (rv != CKR_OK)
    return hsm_p11_fail(detail, "C_FindObjects", rv);
  if (n > 1) {
    st_detail_set(detail, "%lu data objects labelled \"%s\" on token %s", (unsigned long)n, name, h->token_label);
    return ST_E_HSM;
  }
  if (n == 0)
    return 0;
  rv = hsm_p11_functions(h->p11)->C_GetAttributeValue(s, found[0], &a, 1);
  if (rv != CKR_OK)
    return hsm_p11_fail(detail, "C_GetAttributeValue", rv);
  if (a.ulValueLen < HSM_DATA_GEN || a.ulValueLen > sizeof slot->value) {
    st_detail_set(detail, "data object \"%s\" on token %s is not a station value", name, h->token_label);
    return ST_E_HSM;
  }
  slot->object = found[0];
  slot->present = 1;
  for (int i = 0; i < HSM_DATA_GEN; i++)
    slot->generation = slot->generation << 8 | slot->value[i];
  slot->len = a.ulValueLen - HSM_DATA_GEN;
  return 0;
}

/* Reads both slots of LABEL; *NEWER is the index of the current value, or -1. */
static int hsm_data_read_slots(struct hsm *h, CK_SESSION_HANDLE s, const char *label, struct hsm_data_slot slots[2],
                               int *newer, struct st_detail *detail)
{
  int r = hsm_data_read_slot(h, s, label, 0, &slots[0], detail);
  if (r == 0)
    r = hsm_data_read_slot(h, s, label, 1, &slots[1], detail);
  *newer = !slots[0].present && !slots[1].present ? -1
         : !slots[1].present                      ? 0
         : !slots[0].present                      ? 1
         : slots[1].generation > slots[0].generation;
  return r;
}

int hsm_data_read(struct hsm *h, const char *label, void *buf, size_t cap, size_t *len,
                  struct st_detail *detail)
{
  int r = hsm_data_args(h, label, detail);
  CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
  struct hsm_data_slot *slots = NULL;
  int have_session = 0, newer = -1;
  CK_RV rv;

  if (r != 0)
    goto out;
  *len = 0;
  r = ST_E_NO_MEMORY;
  slots = calloc(2, sizeof *slots);
  if (slots == NULL)
    goto out;
  rv = hsm_p11_session(h->p11, 0, &s);
  if (rv != CKR_OK) {
    r = hsm_p11_fail(detail, "C_OpenSession", rv);
    goto out;
  }
  have_session = 1;
  r = hsm_data_read_slots(h, s, label, slots, &newer, detail);
  if (r != 0 || newer < 0)
    goto out; /* not there (or not logged in: private objects are hidden) */
  if (slots[newer].len > cap) {
    r = ST_E_HSM;
    st_detail_set(detail, "data object \"%s\" on token %s is larger than %zu bytes", label, h->token_label, cap);
    goto out;
  }
  memcpy(buf, slots[newer].value + HSM_DATA_GEN, slots[newer].len);
  *len = slots[newer].len;
  r = 1;
out:
  if (have_session)
    hsm_p11_functions(h->p11)->C_CloseSession(s);
  free(slots);
  return r;
}

int hsm_data_write(struct hsm *h, const char *label, const void *data, size_t len,
                   struct st_detail *detail)
{
  int r = hsm_data_args(h, label, detail);
  CK_FUNCTION_LIST_PTR f = NULL;
  CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
  struct hsm_data_slot *slots = NULL;
  int have_session = 0, newer = -1, target;
  uint64_t generation;
  unsigned char *value = NULL;
  char name[160];
  CK_OBJECT_CLASS cls = CKO_DATA;
  CK_BBOOL yes = CK_TRUE;
  CK_OBJECT_HANDLE made = CK_INVALID_HANDLE;
  const char *call = "C_DestroyObject";
  CK_RV rv = CKR_OK;

  if (r != 0)
    goto out;
  r = ST_E_NO_MEMORY;
  slots = calloc(2, sizeof *slots);
  value = malloc(len + HSM_DATA_GEN);
  if (slots == NULL || value == NULL || len > HSM_DATA_MAX - HSM_DATA_GEN)
    goto out;
  f = hsm_p11_functions(h->p11);
  rv = hsm_p11_session(h->p11, 1, &s);
  if (rv != CKR_OK) {
    r = hsm_p11_fail(detail, "C_OpenSession", rv);
    goto out;
  }
  have_session = 1;
  r = hsm_data_read_slots(h, s, label, slots, &newer, detail);
  if (r != 0)
    goto out;
  /* the older (or free) slot takes the new value; the newer one stays as it is */
  target = newer < 0 ? 0 : !newer;
  generation = newer < 0 ? 1 : slots[newer].generation + 1;
  for (int i = HSM_DATA_GEN - 1; i >= 0; i--, generation >>= 8)
    value[i] = (unsigned char)(generation & 0xff);
  memcpy(value + HSM_DATA_GEN, data, len);
  snprintf(name, sizeof name, "%s#%d", label, target);
  if (slots[target].present)
    rv = f->C_DestroyObject(s, slots[target].object);
  if (rv == CKR_OK) {
    CK_ATTRIBUTE tmpl[] = {
      {CKA_CLASS, &cls, sizeof cls},
      {CKA_TOKEN, &yes, sizeof yes},
      {CKA_PRIVATE, &yes, sizeof yes},
      {CKA_LABEL, name, strlen(name)},
      {CKA_APPLICATION, HSM_DATA_APPLICATION, sizeof HSM_DATA_APPLICATION - 1},
      {CKA_VALUE, value, len + HSM_DATA_GEN},
    };
    call = "C_CreateObject";
    rv = f->C_CreateObject(s, tmpl, sizeof tmpl / sizeof tmpl[0], &made);
  }
  r = rv == CKR_OK ? 0 : hsm_p11_fail(detail, call, rv);
out:
  if (have_session)
    f->C_CloseSession(s);
  free(value);
  free(slots);
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

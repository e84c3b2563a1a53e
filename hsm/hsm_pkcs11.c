/*
 * hsm_pkcs11.c - the raw PKCS#11 calls that libp11 0.4.12 cannot make.
 *
 * libp11 has loaded and initialised the module. Opening the same file again
 * with dlopen() gives back that same loaded instance, so C_GetFunctionList
 * returns the function list libp11 uses, C_Initialize answers
 * CKR_CRYPTOKI_ALREADY_INITIALIZED (taken as success), and C_Finalize is left
 * to libp11. PKCS#11 login state belongs to the application, not to a session:
 * once hsm_login has logged in through libp11, every session opened here is a
 * user session too. Each operation below opens its own session and closes it;
 * libp11 keeps its own sessions open, so closing ours never logs the token out.
 *
 * Done here: fresh token information (the user-PIN flags), whether the token
 * is in its slot, a login of our own (hsm_relogin), the public half of
 * an EC key read from CKA_EC_PARAMS and CKA_EC_POINT, the attributes of a
 * private key (hsm_key_info) and EC P-256 key-pair generation inside the
 * token (hsm_generate_ec_p256). Data objects are in hsm_data.c. PKCS#11 return values are translated into the
 * station's codes here, once, with the CKR_ name kept in the detail or the log.
 */
#include "hsm_internal.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "error.h"
#include "log.h"

/* CKA_EC_PARAMS of a P-256 key: the DER of the namedCurve OID prime256v1
 * (1.2.840.10045.3.1.7). */
static const unsigned char hsm_p256_params[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                                0xce, 0x3d, 0x03, 0x01, 0x07};

#define HSM_KEY_ID_LEN 16 /* bytes of fresh CKA_ID for a generated key pair */
#define HSM_LABEL_MAX 64  /* longest key label the station gives or reports */

struct hsm_p11 {
  void *dl;               /* our reference on the loaded module */
  CK_FUNCTION_LIST_PTR f; /* the module's function list (the one libp11 uses) */
  CK_SLOT_ID slot;        /* the slot of the station's token */
  int finalize;           /* 1 only if our C_Initialize was the module's first */
};

#define HSM_CKR(rv) {rv, #rv}
static const struct hsm_ckr_row {
  CK_RV rv;
  const char *name;
} hsm_ckr_rows[] = {
  HSM_CKR(CKR_OK),
  HSM_CKR(CKR_CANCEL),
  HSM_CKR(CKR_HOST_MEMORY),
  HSM_CKR(CKR_SLOT_ID_INVALID),
  HSM_CKR(CKR_GENERAL_ERROR),
  HSM_CKR(CKR_FUNCTION_FAILED),
  HSM_CKR(CKR_ARGUMENTS_BAD),
  HSM_CKR(CKR_ATTRIBUTE_READ_ONLY),
  HSM_CKR(CKR_ATTRIBUTE_SENSITIVE),
  HSM_CKR(CKR_ATTRIBUTE_TYPE_INVALID),
  HSM_CKR(CKR_ATTRIBUTE_VALUE_INVALID),
  HSM_CKR(CKR_DEVICE_ERROR),
  HSM_CKR(CKR_DEVICE_MEMORY),
  HSM_CKR(CKR_DEVICE_REMOVED),
  HSM_CKR(CKR_FUNCTION_NOT_SUPPORTED),
  HSM_CKR(CKR_KEY_HANDLE_INVALID),
  HSM_CKR(CKR_KEY_TYPE_INCONSISTENT),
  HSM_CKR(CKR_MECHANISM_INVALID),
  HSM_CKR(CKR_MECHANISM_PARAM_INVALID),
  HSM_CKR(CKR_OBJECT_HANDLE_INVALID),
  HSM_CKR(CKR_OPERATION_ACTIVE),
  HSM_CKR(CKR_OPERATION_NOT_INITIALIZED),
  HSM_CKR(CKR_PIN_INCORRECT),
  HSM_CKR(CKR_PIN_INVALID),
  HSM_CKR(CKR_PIN_LEN_RANGE),
  HSM_CKR(CKR_PIN_EXPIRED),
  HSM_CKR(CKR_PIN_LOCKED),
  HSM_CKR(CKR_SESSION_CLOSED),
  HSM_CKR(CKR_SESSION_COUNT),
  HSM_CKR(CKR_SESSION_HANDLE_INVALID),
  HSM_CKR(CKR_SESSION_READ_ONLY),
  HSM_CKR(CKR_TEMPLATE_INCOMPLETE),
  HSM_CKR(CKR_TEMPLATE_INCONSISTENT),
  HSM_CKR(CKR_TOKEN_NOT_PRESENT),
  HSM_CKR(CKR_TOKEN_NOT_RECOGNIZED),
  HSM_CKR(CKR_TOKEN_WRITE_PROTECTED),
  HSM_CKR(CKR_USER_ALREADY_LOGGED_IN),
  HSM_CKR(CKR_USER_NOT_LOGGED_IN),
  HSM_CKR(CKR_USER_PIN_NOT_INITIALIZED),
  HSM_CKR(CKR_USER_TYPE_INVALID),
  HSM_CKR(CKR_DOMAIN_PARAMS_INVALID),
  HSM_CKR(CKR_CURVE_NOT_SUPPORTED),
  HSM_CKR(CKR_BUFFER_TOO_SMALL),
  HSM_CKR(CKR_CRYPTOKI_NOT_INITIALIZED),
  HSM_CKR(CKR_CRYPTOKI_ALREADY_INITIALIZED),
};
#undef HSM_CKR

void hsm_ckr_text(unsigned long rv, char *buf, size_t size)
{
  const char *name = NULL;
  for (size_t i = 0; i < sizeof hsm_ckr_rows / sizeof hsm_ckr_rows[0]; i++) {
    if (hsm_ckr_rows[i].rv == rv) {
      name = hsm_ckr_rows[i].name;
      break;
    }
  }
  if (name != NULL)
    snprintf(buf, size, "%s", name);
  else
    snprintf(buf, size, "CKR 0x%lx", rv);
}

/* The station code for a failed PKCS#11 call: out of host memory is
 * ST_E_NO_MEMORY, every other failure of the token is ST_E_HSM. */
static int hsm_code_of_rv(CK_RV rv)
{
  return rv == CKR_HOST_MEMORY ? ST_E_NO_MEMORY : ST_E_HSM;
}

int hsm_p11_fail(struct st_detail *detail, const char *call, CK_RV rv)
{
  char name[48];
  hsm_ckr_text(rv, name, sizeof name);
  st_detail_set(detail, "%s: %s", call, name);
  return hsm_code_of_rv(rv);
}

void hsm_copy_padded(char *out, size_t out_size, const unsigned char *field, size_t len)
{
  size_t n = len < out_size - 1 ? len : out_size - 1;
  memcpy(out, field, n);
  while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\0'))
    n--;
  out[n] = '\0';
}

int hsm_p11_open(const char *module_path, unsigned long slot_id, struct hsm_p11 **out,
                 struct st_detail *detail)
{
  int r = ST_E_HSM_MODULE;
  struct hsm_p11 *p = NULL;
  CK_C_GetFunctionList get_list;
  CK_C_INITIALIZE_ARGS args;
  CK_RV rv;

  p = calloc(1, sizeof *p);
  if (p == NULL) {
    r = ST_E_NO_MEMORY;
    goto out;
  }
  p->slot = slot_id;
  p->dl = dlopen(module_path, RTLD_NOW);
  if (p->dl == NULL) {
    st_detail_set(detail, "PKCS#11 module %s: %s", module_path, dlerror());
    goto out;
  }
  get_list = (CK_C_GetFunctionList)dlsym(p->dl, "C_GetFunctionList");
  if (get_list == NULL) {
    st_detail_set(detail, "PKCS#11 module %s has no C_GetFunctionList", module_path);
    goto out;
  }
  rv = get_list(&p->f);
  if (rv != CKR_OK || p->f == NULL) {
    hsm_p11_fail(detail, "C_GetFunctionList", rv);
    goto out;
  }
  memset(&args, 0, sizeof args);
  args.flags = CKF_OS_LOCKING_OK;
  rv = p->f->C_Initialize(&args);
  if (rv == CKR_OK) {
    /* libp11 should have initialised this very instance; if the loader gave
     * us another one, it is ours to finalise. */
    st_debug("hsm: module %s was not initialised by libp11", module_path);
    p->finalize = 1;
  } else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    hsm_p11_fail(detail, "C_Initialize", rv);
    goto out;
  }
  *out = p;
  p = NULL;
  r = 0;
out:
  hsm_p11_close(p);
  return r;
}

void hsm_p11_close(struct hsm_p11 *p)
{
  if (p == NULL)
    return;
  if (p->finalize)
    p->f->C_Finalize(NULL);
  if (p->dl != NULL)
    dlclose(p->dl);
  free(p);
}

CK_RV hsm_p11_session(struct hsm_p11 *p, int rw, CK_SESSION_HANDLE *s)
{
  CK_FLAGS flags = CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0);
  return p->f->C_OpenSession(p->slot, flags, NULL, NULL, s);
}

int hsm_p11_token_present(struct hsm_p11 *p)
{
  CK_SLOT_INFO si;
  CK_TOKEN_INFO ti;
  CK_RV rv = p->f->C_GetSlotInfo(p->slot, &si);
  if (rv == CKR_SLOT_ID_INVALID || rv == CKR_DEVICE_REMOVED)
    return 0; /* a token that is its own reader takes its slot with it */
  if (rv != CKR_OK)
    return -1;
  if ((si.flags & CKF_TOKEN_PRESENT) == 0)
    return 0;
  rv = p->f->C_GetTokenInfo(p->slot, &ti);
  if (rv == CKR_OK)
    return 1;
  if (rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_RECOGNIZED)
    return 0;
  return -1;
}

CK_RV hsm_p11_login(struct hsm_p11 *p, const char *pin)
{
  CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
  CK_RV rv = hsm_p11_session(p, 0, &s);
  if (rv != CKR_OK)
    return rv;
  rv = p->f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)strlen(pin));
  if (rv == CKR_USER_ALREADY_LOGGED_IN)
    rv = CKR_OK;
  p->f->C_CloseSession(s);
  return rv;
}

int hsm_p11_token_info(struct hsm_p11 *p, struct hsm_token_info *info)
{
  int r = ST_E_HSM;
  CK_TOKEN_INFO ti;
  CK_SESSION_INFO si;
  CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
  int have_session = 0;
  const char *call = "C_GetTokenInfo";
  CK_RV rv;
  char name[48];

  rv = p->f->C_GetTokenInfo(p->slot, &ti);
  if (rv == CKR_OK) {
    call = "C_OpenSession";
    rv = hsm_p11_session(p, 0, &s);
    have_session = rv == CKR_OK;
  }
  if (rv == CKR_OK) {
    call = "C_GetSessionInfo";
    rv = p->f->C_GetSessionInfo(s, &si);
  }
  if (rv != CKR_OK) {
    hsm_ckr_text(rv, name, sizeof name);
    st_warn("hsm: %s: %s", call, name);
    r = hsm_code_of_rv(rv);
    goto out;
  }
  info->logged_in = si.state == CKS_RO_USER_FUNCTIONS || si.state == CKS_RW_USER_FUNCTIONS;
  hsm_copy_padded(info->label, sizeof info->label, ti.label, sizeof ti.label);
  hsm_copy_padded(info->manufacturer, sizeof info->manufacturer, ti.manufacturerID,
                  sizeof ti.manufacturerID);
  hsm_copy_padded(info->model, sizeof info->model, ti.model, sizeof ti.model);
  hsm_copy_padded(info->serial, sizeof info->serial, ti.serialNumber, sizeof ti.serialNumber);
  info->pin_count_low = (ti.flags & CKF_USER_PIN_COUNT_LOW) != 0;
  info->pin_final_try = (ti.flags & CKF_USER_PIN_FINAL_TRY) != 0;
  info->pin_locked = (ti.flags & CKF_USER_PIN_LOCKED) != 0;
  r = 0;
out:
  if (have_session)
    p->f->C_CloseSession(s);
  return r;
}

CK_RV hsm_p11_find(struct hsm_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                          const char *label, const unsigned char *id, size_t id_len,
                          CK_OBJECT_HANDLE *found, CK_ULONG max, CK_ULONG *n)
{
  CK_ATTRIBUTE tmpl[] = {
    {CKA_CLASS, &cls, sizeof cls},
    {CKA_LABEL, (void *)label, strlen(label)},
    {CKA_ID, (void *)id, id_len},
  };
  CK_RV rv, rv_final;

  *n = 0;
  rv = p->f->C_FindObjectsInit(s, tmpl, id_len > 0 ? 3 : 2);
  if (rv == CKR_OK) {
    rv = p->f->C_FindObjects(s, found, max, n);
    rv_final = p->f->C_FindObjectsFinal(s);
    if (rv == CKR_OK)
      rv = rv_final;
  }
  return rv;
}

/* Reads the boolean attribute TYPE of object O: 1, 0, or -1 when the token
 * will not tell (attribute absent, sensitive or of a strange size). */
static int hsm_p11_bool(struct hsm_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                        CK_ATTRIBUTE_TYPE type)
{
  CK_BBOOL v = CK_FALSE;
  CK_ATTRIBUTE a = {type, &v, sizeof v};
  int r = -1;
  if (p->f->C_GetAttributeValue(s, o, &a, 1) == CKR_OK && a.ulValueLen == sizeof v)
    r = v != CK_FALSE;
  return r;
}

/* 1 when object O is an EC key whose CKA_EC_PARAMS name prime256v1. */
static int hsm_p11_is_ec_p256(struct hsm_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o)
{
  CK_KEY_TYPE key_type = CKK_RSA;
  unsigned char ec_params[64];
  CK_ATTRIBUTE a_type = {CKA_KEY_TYPE, &key_type, sizeof key_type};
  CK_ATTRIBUTE a_params = {CKA_EC_PARAMS, ec_params, sizeof ec_params};
  int r = 0;

  if (p->f->C_GetAttributeValue(s, o, &a_type, 1) == CKR_OK && a_type.ulValueLen == sizeof key_type
      && key_type == CKK_EC && p->f->C_GetAttributeValue(s, o, &a_params, 1) == CKR_OK
      && a_params.ulValueLen == sizeof hsm_p256_params
      && memcmp(ec_params, hsm_p256_params, sizeof hsm_p256_params) == 0)
    r = 1;
  return r;
}

/* Reads variable-length attribute TYPE of object O into a new buffer *OUT of
 * *LEN bytes (at most 1024). Returns CKR_OK or the failure. */
static CK_RV hsm_p11_bytes(struct hsm_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                           CK_ATTRIBUTE_TYPE type, unsigned char **out, size_t *len)
{
  CK_ATTRIBUTE a = {type, NULL, 0};
  unsigned char *buf = NULL;
  CK_RV rv;

  *out = NULL;
  rv = p->f->C_GetAttributeValue(s, o, &a, 1);
  if (rv == CKR_OK && (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen == 0
                       || a.ulValueLen > 1024))
    rv = CKR_ATTRIBUTE_VALUE_INVALID;
  if (rv == CKR_OK && (buf = malloc(a.ulValueLen)) == NULL)
    rv = CKR_HOST_MEMORY;
  if (rv == CKR_OK) {
    a.pValue = buf;
    rv = p->f->C_GetAttributeValue(s, o, &a, 1);
  }
  if (rv == CKR_OK) {
    *out = buf;
    *len = a.ulValueLen;
    buf = NULL;
  }
  free(buf);
  return rv;
}

/* Builds a software EC public key from CKA_EC_PARAMS (a named-curve OID) and
 * CKA_EC_POINT (an uncompressed point, DER OCTET STRING as PKCS#11 wants it,
 * or bare as some tokens give it) of object O. NULL when O has no such pair
 * or the point is not on the curve. */
static EVP_PKEY *hsm_p11_ec_public(struct hsm_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o)
{
  EVP_PKEY *ret = NULL;
  EVP_PKEY_CTX *pctx = NULL;
  unsigned char *ec_params = NULL, *ec_point = NULL;
  size_t ec_params_len = 0, ec_point_len = 0;
  const unsigned char *cursor;
  ASN1_OBJECT *curve = NULL;
  ASN1_OCTET_STRING *wrapped = NULL;
  const unsigned char *point;
  size_t point_len;
  const char *group;
  OSSL_PARAM ossl_params[3];

  if (hsm_p11_bytes(p, s, o, CKA_EC_PARAMS, &ec_params, &ec_params_len) != CKR_OK
      || hsm_p11_bytes(p, s, o, CKA_EC_POINT, &ec_point, &ec_point_len) != CKR_OK)
    goto out;
  cursor = ec_params;
  curve = d2i_ASN1_OBJECT(NULL, &cursor, (long)ec_params_len);
  if (curve == NULL || (group = OBJ_nid2sn(OBJ_obj2nid(curve))) == NULL)
    goto out;
  cursor = ec_point;
  wrapped = d2i_ASN1_OCTET_STRING(NULL, &cursor, (long)ec_point_len);
  if (wrapped != NULL && cursor == ec_point + ec_point_len) {
    point = ASN1_STRING_get0_data(wrapped);
    point_len = (size_t)ASN1_STRING_length(wrapped);
  } else {
    point = ec_point;
    point_len = ec_point_len;
  }
  ossl_params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
  ossl_params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point,
                                                     point_len);
  ossl_params[2] = OSSL_PARAM_construct_end();
  pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
  if (pctx == NULL || EVP_PKEY_fromdata_init(pctx) != 1
      || EVP_PKEY_fromdata(pctx, &ret, EVP_PKEY_PUBLIC_KEY, ossl_params) != 1) {
    EVP_PKEY_free(ret);
    ret = NULL;
  }
out:
  ERR_clear_error();
  EVP_PKEY_CTX_free(pctx);
  ASN1_OCTET_STRING_free(wrapped);
  ASN1_OBJECT_free(curve);
  free(ec_point);
  free(ec_params);
  return ret;
}

EVP_PKEY *hsm_p11_public_key(struct hsm_key *k)
{
  EVP_PKEY *ret = NULL;
  struct hsm_p11 *p = k->h->p11;
  CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE found[1];
  CK_ULONG n = 0;

  if (hsm_p11_session(p, 0, &s) != CKR_OK) {
    st_warn("hsm: cannot open a session on token %s", k->h->token_label);
    return NULL;
  }
  /* The public-key object of the pair: same label and same CKA_ID. */
  if (hsm_p11_find(p, s, CKO_PUBLIC_KEY, k->label, k->id, k->id_len, found, 1, &n) == CKR_OK
      && n == 1)
    ret = hsm_p11_ec_public(p, s, found[0]);
  /* Some tokens keep the point on the private key too. */
  if (ret == NULL
      && hsm_p11_find(p, s, CKO_PRIVATE_KEY, k->label, k->id, k->id_len, found, 1, &n) == CKR_OK
      && n == 1)
    ret = hsm_p11_ec_public(p, s, found[0]);
  p->f->C_CloseSession(s);
  return ret;
}

int hsm_key_info(struct hsm_key *k, struct hsm_key_info *info)
{
  int r = ST_E_HSM;
  struct hsm_p11 *p = NULL;
  CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
  int have_session = 0;
  CK_OBJECT_HANDLE found[2];
  CK_ULONG n = 0;
  CK_RV rv;
  char name[48];

  if (k == NULL || info == NULL)
    goto out;
  p = k->h->p11;
  memset(info, 0, sizeof *info);
  snprintf(info->label, sizeof info->label, "%s", k->label);
  info->sensitive = info->extractable = info->always_sensitive = info->never_extractable = -1;

  rv = hsm_p11_session(p, 0, &s);
  if (rv != CKR_OK) {
    hsm_ckr_text(rv, name, sizeof name);
    st_warn("hsm: C_OpenSession: %s", name);
    r = hsm_code_of_rv(rv);
    goto out;
  }
  have_session = 1;
  rv = hsm_p11_find(p, s, CKO_PRIVATE_KEY, k->label, k->id, k->id_len, found, 2, &n);
  if (rv != CKR_OK) {
    hsm_ckr_text(rv, name, sizeof name);
    st_warn("hsm: C_FindObjects: %s", name);
    r = hsm_code_of_rv(rv);
    goto out;
  }
  if (n != 1) {
    st_warn("hsm: %lu private keys labelled \"%s\" with this key's id on token %s (logged in?)",
            (unsigned long)n, k->label, k->h->token_label);
    goto out;
  }
  info->sensitive = hsm_p11_bool(p, s, found[0], CKA_SENSITIVE);
  info->extractable = hsm_p11_bool(p, s, found[0], CKA_EXTRACTABLE);
  info->always_sensitive = hsm_p11_bool(p, s, found[0], CKA_ALWAYS_SENSITIVE);
  info->never_extractable = hsm_p11_bool(p, s, found[0], CKA_NEVER_EXTRACTABLE);
  info->is_ec_p256 = hsm_p11_is_ec_p256(p, s, found[0]);
  r = 0;
out:
  if (have_session)
    p->f->C_CloseSession(s);
  return r;
}

/* Refuses (ST_E_EXISTS) when a private or a public key labelled LABEL is on
 * the token; session S must be logged in so that private keys are visible. */
static int hsm_p11_refuse_existing(struct hsm *h, CK_SESSION_HANDLE s, const char *label,
                                   struct st_detail *detail)
{
  static const CK_OBJECT_CLASS classes[] = {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY};
  CK_OBJECT_HANDLE found[1];
  CK_ULONG n = 0;
  CK_RV rv;

  for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
    rv = hsm_p11_find(h->p11, s, classes[i], label, NULL, 0, found, 1, &n);
    if (rv != CKR_OK)
      return hsm_p11_fail(detail, "C_FindObjects", rv);
    if (n > 0) {
      st_detail_set(detail, "a %s key labelled \"%s\" is already on token %s",
                    classes[i] == CKO_PRIVATE_KEY ? "private" : "public", label, h->token_label);
      return ST_E_EXISTS;
    }
  }
  return 0;
}

int hsm_generate_ec_p256(struct hsm *h, const char *label, struct hsm_key **out,
                         struct st_detail *detail)
{
  int r = ST_E_HSM;
  struct hsm_p11 *p = NULL;
  CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
  int have_session = 0;
  CK_SESSION_INFO si;
  CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
  CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  unsigned char id[HSM_KEY_ID_LEN];
  size_t label_len;
  CK_RV rv;

  if (h == NULL || label == NULL || out == NULL) {
    r = ST_E_USAGE;
    st_detail_set(detail, "hsm_generate_ec_p256: missing argument");
    goto out;
  }
  *out = NULL;
  p = h->p11;
  label_len = strlen(label);
  if (label_len == 0 || label_len > HSM_LABEL_MAX) {
    r = ST_E_USAGE;
    st_detail_set(detail, "a key label must be 1 to %d bytes long", HSM_LABEL_MAX);
    goto out;
  }

  rv = hsm_p11_session(p, 1, &s);
  if (rv != CKR_OK) {
    r = hsm_p11_fail(detail, "C_OpenSession", rv);
    goto out;
  }
  have_session = 1;
  rv = p->f->C_GetSessionInfo(s, &si);
  if (rv != CKR_OK) {
    r = hsm_p11_fail(detail, "C_GetSessionInfo", rv);
    goto out;
  }
  if (si.state != CKS_RW_USER_FUNCTIONS) {
    st_detail_set(detail, "not logged in to token %s: log in before generating a key",
                  h->token_label);
    goto out;
  }
  r = hsm_p11_refuse_existing(h, s, label, detail);
  if (r != 0)
    goto out;
  r = ST_E_HSM;

  if (RAND_bytes(id, sizeof id) != 1) {
    r = ST_E_CRYPTO;
    st_detail_set(detail, "no random bytes for the key id");
    st_detail_add_openssl(detail);
    goto out;
  }
  {
    CK_ATTRIBUTE pub_tmpl[] = {
      {CKA_TOKEN, &yes, sizeof yes},
      {CKA_EC_PARAMS, (void *)hsm_p256_params, sizeof hsm_p256_params},
      {CKA_LABEL, (void *)label, label_len},
      {CKA_ID, id, sizeof id},
    };
    CK_ATTRIBUTE priv_tmpl[] = {
      {CKA_TOKEN, &yes, sizeof yes},
      {CKA_PRIVATE, &yes, sizeof yes},
      {CKA_SENSITIVE, &yes, sizeof yes},
      {CKA_EXTRACTABLE, &no, sizeof no},
      {CKA_SIGN, &yes, sizeof yes},
      {CKA_DERIVE, &no, sizeof no},
      {CKA_DECRYPT, &no, sizeof no},
      {CKA_UNWRAP, &no, sizeof no},
      {CKA_LABEL, (void *)label, label_len},
      {CKA_ID, id, sizeof id},
    };
    rv = p->f->C_GenerateKeyPair(s, &mech, pub_tmpl, sizeof pub_tmpl / sizeof pub_tmpl[0],
                                 priv_tmpl, sizeof priv_tmpl / sizeof priv_tmpl[0], &pub, &priv);
  }
  if (rv != CKR_OK) {
    r = hsm_p11_fail(detail, "C_GenerateKeyPair", rv);
    goto out;
  }
  st_info("hsm: generated EC P-256 key pair \"%s\" on token %s", label, h->token_label);
  /* libp11 re-runs C_FindObjects on every PKCS11_enumerate_keys and appends
   * the handles it has not seen, so the new key is found through it. */
  r = hsm_find_key(h, label, out, detail);
out:
  if (have_session)
    p->f->C_CloseSession(s);
  return r;
}

CK_FUNCTION_LIST_PTR hsm_p11_functions(struct hsm_p11 *p)
{
  return p->f;
}

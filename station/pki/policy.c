/* policy.c - the device CSR checks (see policy.h for the rules and their order). */
#include "policy.h"

#include <ctype.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "csr.h"
#include "error.h"

int policy_is_uuid(const char *text, size_t len)
{
  int ok = len == 36;
  for (size_t i = 0; ok && i < len; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23)
      ok = text[i] == '-';
    else
      ok = isxdigit((unsigned char)text[i]) != 0;
  }
  return ok;
}

/* Check 2: id-ecPublicKey with the named curve prime256v1 as its parameter. */
static int policy_check_key(const struct csr *c, struct st_detail *detail)
{
  int r = ST_E_KEY_TYPE;
  int key_nid, param_type, curve_nid;

  csr_key_algorithm(c, &key_nid, &param_type, &curve_nid);
  if (key_nid != NID_X9_62_id_ecPublicKey) {
    const char *name = OBJ_nid2sn(key_nid);
    st_detail_set(detail, "the key is %s; devices use EC P-256", name != NULL ? name : "of an unknown type");
    return r;
  }
  if (param_type != V_ASN1_OBJECT) {
    st_detail_set(detail, "the EC key spells out its curve parameters; only the named curve P-256 is accepted");
    return r;
  }
  if (curve_nid != NID_X9_62_prime256v1) {
    const char *curve = OBJ_nid2sn(curve_nid);
    st_detail_set(detail, "the EC key is on curve %s; devices use P-256 (prime256v1)",
                  curve != NULL ? curve : "unknown");
    return r;
  }
  return ST_OK;
}

/* Check 3: ecdsa-with-SHA256, without parameters. */
static int policy_check_algorithm(const struct csr *c, struct st_detail *detail)
{
  int r = ST_E_SIGNATURE_ALGORITHM;
  int has_params = 0;
  int nid = csr_signature_nid(c, &has_params);

  if (nid != NID_ecdsa_with_SHA256) {
    const char *name = OBJ_nid2ln(nid);
    st_detail_set(detail, "the CSR is signed with %s, not ecdsa-with-SHA256", name != NULL ? name : "an unknown algorithm");
    return r;
  }
  if (has_params) {
    st_detail_set(detail, "the ecdsa-with-SHA256 algorithm identifier carries parameters it must not have");
    return r;
  }
  return ST_OK;
}

/* Copies an ASN.1 string for a message, replacing what is not printable. */
static void policy_printable(const ASN1_STRING *s, char *buf, size_t cap)
{
  const unsigned char *data = ASN1_STRING_get0_data(s);
  size_t len = (size_t)ASN1_STRING_length(s), n = 0;
  for (size_t i = 0; i < len && n + 1 < cap; i++)
    buf[n++] = (data[i] >= 0x20 && data[i] < 0x7f && data[i] != '"') ? (char)data[i] : '?';
  buf[n] = '\0';
}

static int policy_string_equals(const ASN1_STRING *s, const char *text)
{
  size_t len = strlen(text);
  return (size_t)ASN1_STRING_length(s) == len && memcmp(ASN1_STRING_get0_data(s), text, len) == 0;
}

/* Checks 4-7 over the subject's attributes. */
static int policy_check_subject(const struct policy *p, const struct csr *c, struct policy_identity *id,
                                struct st_detail *detail)
{
  int r = ST_E_SUBJECT_ATTRIBUTE;
  const X509_NAME *subject = csr_subject(c);
  const ASN1_STRING *cn = NULL, *ou = NULL;
  int cn_count = 0, ou_count = 0, production_count = 0;
  char shown[80];

  for (int i = 0; i < X509_NAME_entry_count(subject); i++) {
    const X509_NAME_ENTRY *e = X509_NAME_get_entry(subject, i);
    const ASN1_STRING *value = X509_NAME_ENTRY_get_data(e);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    if (nid == NID_commonName) {
      cn = value;
      cn_count++;
    } else if (nid == NID_organizationalUnitName) {
      ou = value;
      ou_count++;
    } else if (nid == NID_businessCategory && policy_string_equals(value, "production")) {
      production_count++;
    } else {
      char oid[80];
      OBJ_obj2txt(oid, sizeof oid, X509_NAME_ENTRY_get_object(e), 0);
      policy_printable(value, shown, sizeof shown);
      st_detail_set(detail, "the subject holds %s=\"%s\"; a device subject is CN, OU and optionally businessCategory=production",
                    oid, shown);
      return r;
    }
  }
  if (cn_count != 1) {
    st_detail_set(detail, "the subject holds %d CN attributes; it must hold exactly one, the device UUID", cn_count);
    return ST_E_COMMON_NAME;
  }
  if (!policy_is_uuid((const char *)ASN1_STRING_get0_data(cn), (size_t)ASN1_STRING_length(cn))) {
    policy_printable(cn, shown, sizeof shown);
    st_detail_set(detail, "the CN \"%s\" is not a device UUID (8-4-4-4-12 hex digits)", shown);
    return ST_E_COMMON_NAME;
  }
  if (ou_count != 1) {
    st_detail_set(detail, "the subject holds %d OU attributes; it must hold exactly one, \"%s\"", ou_count, p->factory);
    return ST_E_FACTORY;
  }
  if (!policy_string_equals(ou, p->factory)) {
    policy_printable(ou, shown, sizeof shown);
    st_detail_set(detail, "the OU is \"%s\" but this station signs for factory \"%s\"", shown, p->factory);
    return ST_E_FACTORY;
  }
  if (production_count > 1) {
    st_detail_set(detail, "the subject holds businessCategory=production %d times", production_count);
    return r;
  }
  if (production_count == 1 && p->production == POLICY_PRODUCTION_FORBID) {
    st_detail_set(detail, "the CSR carries businessCategory=production and profile.production is forbid");
    return ST_E_PRODUCTION_FORBIDDEN;
  }
  if (production_count == 0 && p->production == POLICY_PRODUCTION_REQUIRE) {
    st_detail_set(detail, "the CSR lacks businessCategory=production and profile.production is require");
    return ST_E_PRODUCTION_REQUIRED;
  }
  for (size_t i = 0; i < 36; i++)
    id->device_id[i] = (char)tolower(ASN1_STRING_get0_data(cn)[i]);
  id->device_id[36] = '\0';
  id->production = production_count;
  return ST_OK;
}

int policy_device_id(const struct csr *c, char out[37])
{
  const X509_NAME *subject = csr_subject(c);
  int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  const ASN1_STRING *cn;
  out[0] = '\0';
  if (i < 0 || X509_NAME_get_index_by_NID(subject, NID_commonName, i) >= 0)
    return 0;
  cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
  if (!policy_is_uuid((const char *)ASN1_STRING_get0_data(cn), (size_t)ASN1_STRING_length(cn)))
    return 0;
  for (size_t k = 0; k < 36; k++)
    out[k] = (char)tolower(ASN1_STRING_get0_data(cn)[k]);
  out[36] = '\0';
  return 1;
}

int policy_check_crypto(const struct csr *c, struct st_detail *detail)
{
  int r = policy_check_key(c, detail);
  if (r == ST_OK)
    r = policy_check_algorithm(c, detail);
  if (r == ST_OK)
    r = csr_verify_signature(c, detail);
  return r;
}

int policy_check(const struct policy *p, const struct csr *c, struct policy_identity *id,
                 struct st_detail *detail)
{
  int r = policy_check_crypto(c, detail);
  if (r == ST_OK)
    r = policy_check_subject(p, c, id, detail);
  return r;
}

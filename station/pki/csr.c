/*
 * csr.c - parsing one CSR from untrusted bytes (see csr.h).
 *
 * PEM detection: the input is PEM when it holds the text "-----BEGIN ".
 * Every PEM block in it is read; exactly one must be a certificate request and
 * none may be anything else (a private key that reached a stick by mistake is
 * named in the refusal). DER input must be one structure with no trailing
 * bytes; a second DER CSR after the first counts as "more than one CSR".
 */
#include "csr.h"

#include <pthread.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include "error.h"

/*
 * PKCS#10 (RFC 2986) as the station reads it:
 *   CertificationRequest ::= SEQUENCE {
 *     certificationRequestInfo  SEQUENCE {
 *       version        INTEGER (0),
 *       subject        Name,
 *       subjectPKInfo  SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING },
 *       attributes     [0] IMPLICIT SET OF Attribute },
 *     signatureAlgorithm  AlgorithmIdentifier,
 *     signature           BIT STRING }
 * Both SEQUENCEs that are hashed (the info, signed by the device; the key
 * info, the key's identity) keep their received encoding.
 */
typedef struct {
  ASN1_ENCODING enc;
  X509_ALGOR *algorithm;
  ASN1_BIT_STRING *public_key;
} STATION_SPKI;

typedef struct {
  ASN1_ENCODING enc;
  ASN1_INTEGER *version;
  X509_NAME *subject;
  STATION_SPKI *key_info;
  STACK_OF(X509_ATTRIBUTE) *attributes;
} STATION_REQ_INFO;

typedef struct {
  STATION_REQ_INFO *info;
  X509_ALGOR *signature_algorithm;
  ASN1_BIT_STRING *signature;
} STATION_REQ;

ASN1_SEQUENCE_enc(STATION_SPKI, enc, NULL) = {
  ASN1_SIMPLE(STATION_SPKI, algorithm, X509_ALGOR),
  ASN1_SIMPLE(STATION_SPKI, public_key, ASN1_BIT_STRING),
} ASN1_SEQUENCE_END_enc(STATION_SPKI, STATION_SPKI)

ASN1_SEQUENCE_enc(STATION_REQ_INFO, enc, NULL) = {
  ASN1_SIMPLE(STATION_REQ_INFO, version, ASN1_INTEGER),
  ASN1_SIMPLE(STATION_REQ_INFO, subject, X509_NAME),
  ASN1_SIMPLE(STATION_REQ_INFO, key_info, STATION_SPKI),
  ASN1_IMP_SET_OF_OPT(STATION_REQ_INFO, attributes, X509_ATTRIBUTE, 0),
} ASN1_SEQUENCE_END_enc(STATION_REQ_INFO, STATION_REQ_INFO)

ASN1_SEQUENCE(STATION_REQ) = {
  ASN1_SIMPLE(STATION_REQ, info, STATION_REQ_INFO),
  ASN1_SIMPLE(STATION_REQ, signature_algorithm, X509_ALGOR),
  ASN1_SIMPLE(STATION_REQ, signature, ASN1_BIT_STRING),
} ASN1_SEQUENCE_END(STATION_REQ)

DECLARE_ASN1_FUNCTIONS(STATION_REQ)
IMPLEMENT_ASN1_FUNCTIONS(STATION_REQ)

struct csr {
  STATION_REQ *request;
  uint8_t *der;
  size_t der_len;
};

static int csr_is_pem(const uint8_t *data, size_t len)
{
  static const char marker[] = "-----BEGIN ";
  return memmem(data, len, marker, sizeof marker - 1) != NULL;
}

static int csr_pem_name_is_request(const char *name)
{
  return strcmp(name, "CERTIFICATE REQUEST") == 0 || strcmp(name, "NEW CERTIFICATE REQUEST") == 0;
}

/* Reads every PEM block of DATA; keeps the DER of the one CSR block in
 * *DER_OUT (OPENSSL_malloc'd). */
static int csr_pem_extract(const uint8_t *data, size_t len, uint8_t **der_out, size_t *der_len,
                           struct st_detail *detail)
{
  int r = ST_E_NOT_A_CSR;
  BIO *in = BIO_new_mem_buf(data, (int)len);
  char *name = NULL, *header = NULL;
  unsigned char *block = NULL;
  long block_len = 0;
  int requests = 0;

  if (in == NULL) {
    r = ST_E_NO_MEMORY;
    goto out;
  }
  while (PEM_read_bio(in, &name, &header, &block, &block_len) == 1) {
    if (!csr_pem_name_is_request(name)) {
      st_detail_set(detail, "the file holds a PEM block of type %.64s, not a CERTIFICATE REQUEST", name);
      r = ST_E_NOT_A_CSR;
      goto out;
    }
    if (header != NULL && header[0] != '\0') {
      st_detail_set(detail, "the CSR's PEM block carries headers (an encrypted or unusual PEM)");
      r = ST_E_NOT_A_CSR;
      goto out;
    }
    requests++;
    if (requests > 1) {
      st_detail_set(detail, "the file holds more than one CERTIFICATE REQUEST block");
      r = ST_E_MULTIPLE_CSRS;
      goto out;
    }
    *der_out = block;
    *der_len = (size_t)block_len;
    block = NULL;
    OPENSSL_free(name);
    OPENSSL_free(header);
    name = header = NULL;
  }
  ERR_clear_error();
  if (requests == 0) {
    st_detail_set(detail, "no complete, well-formed CERTIFICATE REQUEST PEM block was found");
    r = ST_E_NOT_A_CSR;
    goto out;
  }
  r = ST_OK;
out:
  if (r != ST_OK && *der_out != NULL) {
    OPENSSL_free(*der_out);
    *der_out = NULL;
  }
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(block);
  BIO_free(in);
  ERR_clear_error();
  return r;
}

/* Decodes exactly one request from DER; refuses trailing bytes. */
static int csr_decode_der(const uint8_t *der, size_t len, STATION_REQ **out, struct st_detail *detail)
{
  int r = ST_E_NOT_A_CSR;
  const unsigned char *p = der;
  STATION_REQ *req = d2i_STATION_REQ(NULL, &p, (long)len);
  size_t used = (size_t)(p - der);

  if (req == NULL) {
    st_detail_set(detail, "the bytes are not a DER-encoded PKCS#10 request");
    st_detail_add_openssl(detail);
    goto out;
  }
  if (used != len) {
    const unsigned char *q = p;
    STATION_REQ *second = d2i_STATION_REQ(NULL, &q, (long)(len - used));
    if (second != NULL) {
      st_detail_set(detail, "the DER file holds more than one certificate request");
      r = ST_E_MULTIPLE_CSRS;
    } else {
      st_detail_set(detail, "%zu unexpected bytes follow the DER request", len - used);
    }
    STATION_REQ_free(second);
    goto out;
  }
  if (ASN1_INTEGER_get(req->info->version) != 0) {
    st_detail_set(detail, "the request has version %ld; only PKCS#10 version 1 (0) exists",
                  ASN1_INTEGER_get(req->info->version));
    goto out;
  }
  *out = req;
  req = NULL;
  r = ST_OK;
out:
  STATION_REQ_free(req);
  ERR_clear_error();
  return r;
}

int csr_parse(const uint8_t *data, size_t len, struct csr **out, struct st_detail *detail)
{
  int r = ST_E_NOT_A_CSR;
  struct csr *c = NULL;
  uint8_t *der = NULL;
  size_t der_len = 0;

  if (len > CSR_MAX_BYTES) {
    st_detail_set(detail, "the input is %zu bytes; a CSR is at most %d", len, CSR_MAX_BYTES);
    r = ST_E_TOO_LARGE;
    goto out;
  }
  if (len == 0) {
    st_detail_set(detail, "the input is empty");
    goto out;
  }
  c = OPENSSL_zalloc(sizeof *c);
  if (c == NULL) {
    r = ST_E_NO_MEMORY;
    goto out;
  }
  if (csr_is_pem(data, len)) {
    r = csr_pem_extract(data, len, &der, &der_len, detail);
    if (r != ST_OK)
      goto out;
  } else {
    der = OPENSSL_memdup(data, len);
    der_len = len;
    if (der == NULL) {
      r = ST_E_NO_MEMORY;
      goto out;
    }
  }
  r = csr_decode_der(der, der_len, &c->request, detail);
  if (r != ST_OK)
    goto out;
  c->der = der;
  c->der_len = der_len;
  der = NULL;
  *out = c;
  c = NULL;
  r = ST_OK;
out:
  OPENSSL_free(der);
  csr_free(c);
  return r;
}

const X509_NAME *csr_subject(const struct csr *c)
{
  return c->request->info->subject;
}

void csr_key_algorithm(const struct csr *c, int *key_nid, int *param_type, int *curve_nid)
{
  const ASN1_OBJECT *oid = NULL;
  const void *param = NULL;
  X509_ALGOR_get0(&oid, param_type, &param, c->request->info->key_info->algorithm);
  *key_nid = OBJ_obj2nid(oid);
  *curve_nid = *param_type == V_ASN1_OBJECT ? OBJ_obj2nid(param) : NID_undef;
}

int csr_signature_nid(const struct csr *c, int *has_params)
{
  const ASN1_OBJECT *oid = NULL;
  int param_type = V_ASN1_UNDEF;
  X509_ALGOR_get0(&oid, &param_type, NULL, c->request->signature_algorithm);
  *has_params = param_type != V_ASN1_UNDEF;
  return OBJ_obj2nid(oid);
}

/* A P-256 key with parameters only, made once: every CSR key starts as a
 * copy of its parameters. Importing a point with EVP_PKEY_fromdata builds the
 * curve's group from its name each time, which cost about a quarter of a CSR
 * check; copying the parameters of a ready key costs a fraction of that. */
static EVP_PKEY *csr_p256_params;
static EVP_MD *csr_sha256_md; /* fetched once: an implicit fetch per digest takes a lock */
static pthread_once_t csr_p256_once = PTHREAD_ONCE_INIT;

static void csr_p256_params_make(void)
{
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
  csr_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
  if (ctx == NULL || EVP_PKEY_paramgen_init(ctx) != 1 ||
      EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1) != 1 ||
      EVP_PKEY_CTX_set_ec_param_enc(ctx, OPENSSL_EC_NAMED_CURVE) != 1 ||
      EVP_PKEY_paramgen(ctx, &csr_p256_params) != 1)
    csr_p256_params = NULL;
  EVP_PKEY_CTX_free(ctx);
}

/* SHA-256, fetched once (OpenSSL's built-in one should the fetch have failed). */
static const EVP_MD *csr_sha256_digest(void)
{
  pthread_once(&csr_p256_once, csr_p256_params_make);
  return csr_sha256_md != NULL ? csr_sha256_md : EVP_sha256();
}

/* The P-256 public key of C as an EVP_PKEY, imported from its point (the
 * import checks that the point is on the curve). */
static EVP_PKEY *csr_p256_key(const struct csr *c)
{
  const ASN1_BIT_STRING *bits = c->request->info->key_info->public_key;
  EVP_PKEY *key = NULL;

  pthread_once(&csr_p256_once, csr_p256_params_make);
  if (csr_p256_params == NULL || (key = EVP_PKEY_new()) == NULL)
    return key;
  if (EVP_PKEY_copy_parameters(key, csr_p256_params) != 1 ||
      EVP_PKEY_set1_encoded_public_key(key, ASN1_STRING_get0_data(bits), (size_t)ASN1_STRING_length(bits)) != 1) {
    EVP_PKEY_free(key);
    key = NULL;
  }
  return key;
}

int csr_verify_signature(const struct csr *c, struct st_detail *detail)
{
  int r = ST_E_KEY_TYPE;
  EVP_PKEY *key = csr_p256_key(c);
  EVP_PKEY_CTX *ctx = NULL;
  const STATION_REQ_INFO *info = c->request->info;
  const ASN1_BIT_STRING *sig = c->request->signature;
  unsigned char digest[32];

  if (key == NULL) {
    st_detail_set(detail, "the public key is not a point on P-256");
    goto out;
  }
  r = ST_E_CSR_SIGNATURE;
  ctx = EVP_PKEY_CTX_new(key, NULL);
  if (ctx == NULL || info->enc.enc == NULL ||
      EVP_Digest(info->enc.enc, (size_t)info->enc.len, digest, NULL, csr_sha256_digest(), NULL) != 1 ||
      EVP_PKEY_verify_init(ctx) != 1 ||
      EVP_PKEY_verify(ctx, ASN1_STRING_get0_data(sig), (size_t)ASN1_STRING_length(sig), digest, sizeof digest) != 1) {
    st_detail_set(detail, "the CSR's signature does not verify: the request was altered or not signed by its key");
    goto out;
  }
  r = ST_OK;
out:
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(key);
  ERR_clear_error();
  return r;
}

int csr_copy_key_to(const struct csr *c, X509 *x)
{
  int r = ST_E_CRYPTO;
  const STATION_SPKI *spki = c->request->info->key_info;
  const ASN1_OBJECT *oid = NULL;
  const void *param = NULL;
  int param_type = V_ASN1_UNDEF;
  ASN1_OBJECT *oid_copy = NULL, *param_copy = NULL;
  unsigned char *bits = NULL;
  int bits_len = ASN1_STRING_length(spki->public_key);

  X509_ALGOR_get0(&oid, &param_type, &param, spki->algorithm);
  oid_copy = OBJ_dup(oid);
  param_copy = param_type == V_ASN1_OBJECT ? OBJ_dup(param) : NULL;
  bits = OPENSSL_memdup(ASN1_STRING_get0_data(spki->public_key), (size_t)bits_len);
  if (oid_copy == NULL || param_copy == NULL || bits == NULL ||
      X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), oid_copy, V_ASN1_OBJECT, param_copy, bits, bits_len) != 1)
    goto out;
  oid_copy = param_copy = NULL;
  bits = NULL;
  r = ST_OK;
out:
  ASN1_OBJECT_free(oid_copy);
  ASN1_OBJECT_free(param_copy);
  OPENSSL_free(bits);
  return r;
}

const uint8_t *csr_subject_der(const struct csr *c, size_t *len)
{
  const unsigned char *der = NULL;
  size_t der_len = 0;
  if (X509_NAME_get0_der(c->request->info->subject, &der, &der_len) != 1)
    der = NULL;
  *len = der_len;
  return der;
}

const uint8_t *csr_public_point(const struct csr *c, size_t *len)
{
  const ASN1_BIT_STRING *bits = c->request->info->key_info->public_key;
  const uint8_t *point = NULL;
  *len = 0;
  if ((bits->flags & ASN1_STRING_FLAG_BITS_LEFT) == 0 || (bits->flags & 0x07) == 0) {
    point = ASN1_STRING_get0_data(bits);
    *len = (size_t)ASN1_STRING_length(bits);
  }
  return point;
}

void csr_sha256(const struct csr *c, uint8_t out[32])
{
  EVP_Digest(c->der, c->der_len, out, NULL, csr_sha256_digest(), NULL);
}

void csr_key_sha256(const struct csr *c, uint8_t out[32])
{
  const STATION_SPKI *spki = c->request->info->key_info;
  EVP_Digest(spki->enc.enc, (size_t)spki->enc.len, out, NULL, csr_sha256_digest(), NULL);
}

void csr_free(struct csr *c)
{
  if (c == NULL)
    return;
  STATION_REQ_free(c->request);
  OPENSSL_free(c->der);
  OPENSSL_free(c);
}

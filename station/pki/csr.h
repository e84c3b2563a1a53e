/*
 * csr.h - reading one device CSR from untrusted bytes.
 *
 * Input is PEM (one "CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST" block;
 * text around the block is ignored) or DER (exactly one PKCS#10 structure, no
 * trailing bytes). At most CSR_MAX_BYTES are accepted.
 *
 * The request is decoded with the station's own ASN.1 template of PKCS#10
 * (RFC 2986), which keeps the subjectPublicKeyInfo as an algorithm and a bit
 * string: OpenSSL's X509_REQ would turn every key into an EVP_PKEY through its
 * provider decoders while parsing, which costs more than the whole rest of an
 * issuance. The key becomes an EVP_PKEY only to check the CSR's signature, and
 * only once it is known to be EC P-256 (csr_verify_signature).
 *
 * Nothing here judges the CSR's contents: that is policy.h.
 */
#ifndef STATION_CSR_H
#define STATION_CSR_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/x509.h>

struct st_detail;
struct csr;

/* The largest CSR file or serial block the station reads. */
#define CSR_MAX_BYTES (16 * 1024)

/* Parses DATA (LEN bytes). Returns 0 and *OUT (free with csr_free), or
 * ST_E_TOO_LARGE, ST_E_NOT_A_CSR (DETAIL says why: "PEM block is a PRIVATE
 * KEY", "bytes after the DER structure", ...), ST_E_MULTIPLE_CSRS,
 * ST_E_NO_MEMORY. */
int csr_parse(const uint8_t *data, size_t len, struct csr **out, struct st_detail *detail);

/* The CSR's subject. Borrowed: valid until csr_free. */
const X509_NAME *csr_subject(const struct csr *c);

/* The key's algorithm: KEY_NID (e.g. NID_X9_62_id_ecPublicKey), PARAM_TYPE
 * (V_ASN1_OBJECT for a named curve, V_ASN1_SEQUENCE for explicit parameters,
 * V_ASN1_NULL, V_ASN1_UNDEF) and CURVE_NID (NID_undef unless PARAM_TYPE is an
 * object). */
void csr_key_algorithm(const struct csr *c, int *key_nid, int *param_type, int *curve_nid);

/* The signature algorithm's NID; *HAS_PARAMS is 1 when it carries parameters. */
int csr_signature_nid(const struct csr *c, int *has_params);

/* Checks the CSR's ecdsa-with-SHA256 signature with its own EC P-256 key (call
 * only after csr_key_algorithm and csr_signature_nid said so). Returns 0, or
 * ST_E_KEY_TYPE when the point is not on P-256, ST_E_CSR_SIGNATURE when the
 * signature does not verify. */
int csr_verify_signature(const struct csr *c, struct st_detail *detail);

/* Puts the CSR's subjectPublicKeyInfo, as it came, into certificate X
 * (without decoding the key). Returns 0 or ST_E_CRYPTO. */
int csr_copy_key_to(const struct csr *c, X509 *x);

/* The subject's DER encoding as received (what a certificate copies as
 * bytes). Borrowed: valid until csr_free. */
const uint8_t *csr_subject_der(const struct csr *c, size_t *len);

/* The public key's point: the subjectPublicKey BIT STRING's octets (for a
 * P-256 key, 04||X||Y or a compressed point). NULL when the bit string has
 * unused bits (no EC point is encoded so). Borrowed. */
const uint8_t *csr_public_point(const struct csr *c, size_t *len);

/* SHA-256 of the CSR's DER: the identity of "the same CSR" in the journal. */
void csr_sha256(const struct csr *c, uint8_t out[32]);

/* SHA-256 of the CSR's subjectPublicKeyInfo DER: the identity of its key. */
void csr_key_sha256(const struct csr *c, uint8_t out[32]);

/* Frees C; NULL is fine. */
void csr_free(struct csr *c);

#endif

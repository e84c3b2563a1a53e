/*
 * csr.h - reading one device CSR from untrusted bytes.
 *
 * Input is PEM (one "CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST" block;
 * text around the block is ignored) or DER (exactly one PKCS#10 structure, no
 * trailing bytes). At most CSR_MAX_BYTES are accepted. Nothing here judges the
 * CSR's contents: that is policy.h.
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

/* The parsed request. Borrowed: valid until csr_free. */
X509_REQ *csr_request(const struct csr *c);

/* The CSR's DER bytes as received (after PEM decoding). Borrowed. */
const uint8_t *csr_der(const struct csr *c, size_t *len);

/* SHA-256 of the CSR's DER: the identity of "the same CSR" in the journal. */
void csr_sha256(const struct csr *c, uint8_t out[32]);

/* SHA-256 of the CSR's SubjectPublicKeyInfo DER: the identity of its key.
 * Returns 0, or ST_E_NOT_A_CSR when the key cannot be encoded. */
int csr_key_sha256(const struct csr *c, uint8_t out[32]);

/* Frees C; NULL is fine. */
void csr_free(struct csr *c);

#endif

/*
 * error.h - the station's one table of outcomes.
 *
 * Every function that can fail returns 0 or one of the negative codes below.
 * Each code has a short name (kebab-case, stable: it is what an operator sees in
 * rejected/NAME.txt, on a serial line as `STATION ERR <name> ...`, and what the
 * journal records as a refusal reason) and a sentence an operator can act on.
 *
 * The class says how the code is to be treated:
 *   REFUSAL  the request (a CSR, a file) is refused; the station carries on.
 *   USAGE    the command line or the configuration is wrong (exit status 2).
 *   FAULT    the HSM, the CA, the journal or the system failed (exit status 3).
 *
 * Beside its class, a code may belong to classes that say what follows from
 * it (any number of them, the flags column; st_error_has asks):
 *   TOKEN_FAULT        a signature failed because the token or its session
 *                      did: the engine notes a token fault and logs in again.
 *   JOURNAL_UNTRUSTED  the journal on disk is not the one the station wrote
 *                      (changed, cut, rolled back, replaced): the engine stops
 *                      for good, and a restart refuses it too.
 *   STOPS_RELEASE      the journal cannot be read or written: nothing more may
 *                      be released; the serial server stops on it.
 *   CHECK_FAILED       a check found the journal or an export wrong (not that
 *                      it could not be run): `station journal verify` and
 *                      `station audit import` exit with status 1.
 *
 * Library errors (OpenSSL, PKCS#11, libyaml, errno) are translated into these
 * codes once, where they are met; their own detail goes into the caller's
 * detail text or the log, never in place of a code.
 */
#ifndef STATION_ERROR_H
#define STATION_ERROR_H

#include <stddef.h>

enum st_error_class { ST_CLASS_OK, ST_CLASS_REFUSAL, ST_CLASS_USAGE, ST_CLASS_FAULT };

/* The classes a code may belong to beside its st_error_class (see above). */
enum st_error_flag {
  ST_CLASS_TOKEN_FAULT = 1 << 0,
  ST_CLASS_JOURNAL_UNTRUSTED = 1 << 1,
  ST_CLASS_STOPS_RELEASE = 1 << 2,
  ST_CLASS_CHECK_FAILED = 1 << 3,
};

/* X(symbol, value, class, name, sentence, flags) */
#define ST_ERROR_TABLE(X) \
  X(ST_OK,                      0, OK,      "ok",                        "Success.", 0) \
  /* refusals of a request: policy and intake */ \
  X(ST_E_UNREADABLE,           -1, REFUSAL, "unreadable",                "The file could not be read.", 0) \
  X(ST_E_TOO_LARGE,            -2, REFUSAL, "too-large",                 "The input is larger than a CSR can be.", 0) \
  X(ST_E_NOT_A_CSR,            -3, REFUSAL, "not-a-csr",                 "The input is not a certificate signing request in PEM or DER.", 0) \
  X(ST_E_MULTIPLE_CSRS,        -4, REFUSAL, "multiple-csrs",             "The file holds more than one CSR; put one CSR in each file.", 0) \
  X(ST_E_CSR_SIGNATURE,        -5, REFUSAL, "csr-signature-invalid",     "The CSR's signature does not verify with its own public key.", 0) \
  X(ST_E_SIGNATURE_ALGORITHM,  -6, REFUSAL, "wrong-signature-algorithm", "The CSR is not signed with ecdsa-with-SHA256.", 0) \
  X(ST_E_KEY_TYPE,             -7, REFUSAL, "wrong-key-type",            "The CSR's key is not an EC P-256 key with a named curve.", 0) \
  X(ST_E_COMMON_NAME,          -8, REFUSAL, "bad-common-name",           "The subject must hold exactly one CN, the device UUID.", 0) \
  X(ST_E_FACTORY,              -9, REFUSAL, "wrong-factory",             "The subject must hold exactly one OU, this station's factory.", 0) \
  X(ST_E_SUBJECT_ATTRIBUTE,   -10, REFUSAL, "unexpected-subject-attribute", "The subject holds an attribute the device profile does not allow.", 0) \
  X(ST_E_PRODUCTION_FORBIDDEN,-11, REFUSAL, "production-forbidden",      "The CSR asks for a production certificate (businessCategory=production) and this station does not issue them.", 0) \
  X(ST_E_PRODUCTION_REQUIRED, -12, REFUSAL, "production-required",       "This station issues production certificates only; the CSR lacks businessCategory=production.", 0) \
  X(ST_E_KEY_REUSED,          -13, REFUSAL, "key-reused",                "This public key is already certified for another device: a cloned or mis-provisioned board.", 0) \
  X(ST_E_DEVICE_KNOWN,        -14, REFUSAL, "device-already-certified",  "This device id already holds a certificate for a different key.", 0) \
  X(ST_E_NOT_REGULAR_FILE,    -15, REFUSAL, "not-a-regular-file",        "Only regular files are read; links, directories, FIFOs and devices are skipped.", 0) \
  X(ST_E_FILE_NAME,           -16, REFUSAL, "bad-file-name",             "A CSR file name must end in .csr, .pem or .der.", 0) \
  X(ST_E_NAME_CLASH,          -17, REFUSAL, "name-clash",                "Another CSR file in this batch already gives the same certificate name.", 0) \
  X(ST_E_TIMEOUT,             -18, REFUSAL, "timeout",                   "The request did not complete in time.", 0) \
  X(ST_E_KEY_CLONED,          -19, REFUSAL, "key-cloned",                "Another request of the same batch or serial turn carries this public key under another device id: a copied key, so neither is signed.", 0) \
  X(ST_E_DEVICE_CLONED,       -20, REFUSAL, "device-cloned",             "Another request of the same batch or serial turn carries this device id with another key: two boards claim one id, so neither is signed.", 0) \
  /* usage and configuration */ \
  X(ST_E_USAGE,               -40, USAGE,   "usage",                     "The command line is not valid; see station --help.", 0) \
  X(ST_E_CONFIG,              -41, USAGE,   "config",                    "The configuration is not valid.", 0) \
  X(ST_E_PIN_SOURCE,          -42, USAGE,   "pin-source",                "The HSM PIN could not be read from its configured source.", 0) \
  X(ST_E_BATCH_LAYOUT,        -43, USAGE,   "batch-layout",              "The batch directory must hold a csr/ directory.", 0) \
  X(ST_E_EXISTS,              -44, USAGE,   "exists",                    "The object already exists and is never overwritten.", 0) \
  /* faults: the station cannot go on */ \
  X(ST_E_INTERNAL,            -60, FAULT,   "internal",                  "Internal error.", 0) \
  X(ST_E_NO_MEMORY,           -61, FAULT,   "no-memory",                 "Out of memory.", 0) \
  X(ST_E_IO,                  -62, FAULT,   "io",                        "A file system operation failed.", ST_CLASS_STOPS_RELEASE) \
  X(ST_E_NO_SPACE,            -63, FAULT,   "no-space",                  "The disk is full.", ST_CLASS_STOPS_RELEASE) \
  X(ST_E_HSM_MODULE,          -64, FAULT,   "hsm-module",                "The PKCS#11 module could not be loaded.", 0) \
  X(ST_E_HSM_TOKEN,           -65, FAULT,   "hsm-token",                 "The HSM token was not found.", 0) \
  X(ST_E_HSM_PIN,             -66, FAULT,   "hsm-pin",                   "The HSM refused the PIN.", 0) \
  X(ST_E_HSM_PIN_LOCKED,      -67, FAULT,   "hsm-pin-locked",            "The HSM user PIN is locked; the token's security officer must unlock it.", 0) \
  X(ST_E_HSM_KEY,             -68, FAULT,   "hsm-key",                   "The key was not found on the HSM token.", 0) \
  X(ST_E_HSM,                 -69, FAULT,   "hsm",                       "The HSM failed an operation.", ST_CLASS_TOKEN_FAULT) \
  X(ST_E_CA_MISMATCH,         -70, FAULT,   "ca-key-mismatch",           "The local CA certificate does not match the CA key on the token.", 0) \
  X(ST_E_CA_CERT,             -71, FAULT,   "ca-certificate",            "The local CA certificate or the factory root is missing, unreadable or unfit.", 0) \
  X(ST_E_SIGN_VERIFY,         -72, FAULT,   "signature-check-failed",    "A signature made by the HSM did not verify; nothing was released.", 0) \
  X(ST_E_JOURNAL,             -73, FAULT,   "journal",                   "The journal could not be read or written.", ST_CLASS_STOPS_RELEASE) \
  X(ST_E_JOURNAL_CORRUPT,     -74, FAULT,   "journal-corrupt",           "The journal fails its integrity check.", ST_CLASS_JOURNAL_UNTRUSTED | ST_CLASS_STOPS_RELEASE | ST_CLASS_CHECK_FAILED) \
  X(ST_E_JOURNAL_LOCKED,      -75, FAULT,   "journal-locked",            "Another station process holds the journal.", ST_CLASS_STOPS_RELEASE) \
  X(ST_E_CRYPTO,              -76, FAULT,   "crypto",                    "A cryptographic operation failed.", ST_CLASS_TOKEN_FAULT) \
  /* serial */ \
  X(ST_E_SERIAL_BUSY,         -80, REFUSAL, "serial-busy",               "The board sent more CSRs than the station queues for one port; wait for each answer before sending again.", 0) \
  X(ST_E_SERIAL_PORT,         -81, FAULT,   "serial-port",               "The serial port could not be opened, set up, read or written; check the adapter, its cable and the device path.", 0) \
  X(ST_E_SERIAL_BAUD,         -82, USAGE,   "serial-baud",               "The baud rate is not one a serial port can be set to (e.g. 9600, 57600, 115200, 921600).", 0) \
  /* USB sticks: eject */ \
  X(ST_E_STICK_EJECT,        -130, FAULT,   "stick-eject",               "The stick could not be unmounted; it may still be in use. Wait until nothing writes to it and eject it again, or pull it out once the console says it is safe to remove.", 0) \
  /* audit */ \
  X(ST_E_CHECKPOINT,          -90, FAULT,   "checkpoint-invalid",        "A signed checkpoint of the journal does not verify with the journal key: the journal was rewritten.", ST_CLASS_CHECK_FAILED) \
  X(ST_E_JOURNAL_TRUNCATED,   -91, FAULT,   "journal-truncated",         "The journal ends before the head kept on the token: its tail was cut.", ST_CLASS_JOURNAL_UNTRUSTED | ST_CLASS_CHECK_FAILED) \
  X(ST_E_JOURNAL_ROLLBACK,    -92, FAULT,   "journal-rolled-back",       "The journal is an older copy than the head kept on the token: an earlier copy was restored.", ST_CLASS_JOURNAL_UNTRUSTED | ST_CLASS_CHECK_FAILED) \
  X(ST_E_JOURNAL_REPLACED,    -93, FAULT,   "journal-replaced",          "The journal is not the one the head kept on the token vouches for.", ST_CLASS_JOURNAL_UNTRUSTED | ST_CLASS_CHECK_FAILED) \
  X(ST_E_JOURNAL_HEAD,        -94, FAULT,   "journal-head",              "The journal head on the token is missing or cannot be read or written.", ST_CLASS_CHECK_FAILED) \
  X(ST_E_JOURNAL_KEY,         -95, FAULT,   "journal-key",               "The journal-signing key is missing, unusable or not the one that signed.", 0) \
  X(ST_E_EXPORT_SIGNATURE,    -96, FAULT,   "export-signature",          "The export does not match its signature by the journal key.", ST_CLASS_CHECK_FAILED) \
  X(ST_E_EXPORT_INVALID,      -97, FAULT,   "export-invalid",            "The export file is not a well-formed station export, or its rows disagree with its manifest.", ST_CLASS_CHECK_FAILED) \
  X(ST_E_EXPORT_MANIFEST,     -108, FAULT,   "export-manifest",           "The export's manifest is missing, malformed or not the one of this export file.", ST_CLASS_CHECK_FAILED) \
  X(ST_E_JOURNAL_UNSEALED,    -98, FAULT,   "journal-unsealed",          "The journal ends with records no seal covers: the station never released them and does not trust them.", ST_CLASS_CHECK_FAILED) \
  X(ST_E_JOURNAL_MISSING,     -99, FAULT,   "journal-missing",           "The token holds the journal key or a journal head, but journal.path holds no journal: restore it, or start a new one with `station journal init`.", ST_CLASS_CHECK_FAILED) \
  /* the token's time and what the station trusts */ \
  X(ST_E_HSM_TIMEOUT,        -100, FAULT,   "hsm-timeout",               "The HSM did not answer a signature or a login in time (hsm.sign_timeout); nothing of it was released. Unplug and re-plug the token, then restart the station.", 0) \
  X(ST_E_ROOT,               -101, USAGE,   "running-as-root",           "The station does not run as root; run it as the station user, or pass --allow-root (or STATION_ALLOW_ROOT=1) where root is intended.", 0) \
  X(ST_E_PERMISSIONS,        -102, USAGE,   "insecure-permissions",      "A file the station trusts can be changed or read by users it should not be; fix its owner or mode as the message says.", 0) \
  X(ST_E_GATEWAY_CERT,       -103, USAGE,   "gateway-certificate",       "The device gateway's certificate (gateway.certificate) is unreadable, does not chain to the factory root, is not for a TLS server or names no gateway; fix the file or set gateway.url.", 0) \
  /* the factory audit database (station audit) */ \
  X(ST_E_AUDIT_DB,           -110, FAULT,   "audit-db",                  "The audit database could not be read or written.", 0) \
  X(ST_E_AUDIT_DB_FOREIGN,   -111, USAGE,   "audit-db-foreign",          "The file is not a station audit database (or one of a newer version); it was left unchanged.", 0) \
  X(ST_E_AUDIT_DB_LOCKED,    -112, FAULT,   "audit-db-locked",           "Another process is writing the audit database; nothing was changed. Try again when it has finished.", 0) \
  X(ST_E_AUDIT_UNKNOWN_KEY,  -113, REFUSAL, "export-unknown-key",        "The export is signed by a journal key that no station was registered with (station audit trust).", 0) \
  X(ST_E_AUDIT_KEY_TAKEN,    -114, USAGE,   "station-registered",        "This journal key or this station name is already registered with another name or key.", 0)

#define ST_ERROR_ENUM(sym, val, cls, name, sentence, flags) sym = val,
enum st_error { ST_ERROR_TABLE(ST_ERROR_ENUM) };
#undef ST_ERROR_ENUM

/* The short, stable name of a code ("wrong-factory"); "unknown" for a value
 * not in the table. Never NULL; static storage. */
const char *st_error_name(int code);

/* The operator sentence of a code; never NULL; static storage. */
const char *st_error_sentence(int code);

/* The class of a code; ST_CLASS_FAULT for a value not in the table. */
enum st_error_class st_error_class_of(int code);

/* 1 when CODE belongs to every class in FLAGS (enum st_error_flag, or'ed),
 * else 0; 0 for a value not in the table. */
int st_error_has(int code, unsigned flags);

/* A detail text: the particulars of one failure ("OU is \"x\", expected \"y\"").
 * Functions that take a `struct st_detail *` fill it when they fail (it may be
 * NULL when the caller does not want it). */
struct st_detail {
  char text[512];
};

/* Formats into D (printf-style); D may be NULL. Truncates silently. */
void st_detail_set(struct st_detail *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends the oldest pending OpenSSL error (if any) to D after ": ", and clears
 * OpenSSL's error queue. D may be NULL (the queue is still cleared). */
void st_detail_add_openssl(struct st_detail *d);

#endif

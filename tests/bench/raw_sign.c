/*
 * raw_sign.c - the raw PKCS#11 signing rate of a token: the ceiling for any
 * signer on it. THREADS sessions (one per thread) each run C_SignInit +
 * C_Sign (CKM_ECDSA over a 32-byte digest) in a loop for SECONDS, with the
 * key labelled KEY. Prints "raw_sign_per_s <rate>".
 *
 * usage: raw_sign MODULE TOKEN KEY PIN_ENV SECONDS THREADS
 * (PIN_ENV names the environment variable holding the PIN.)
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

struct raw_sign_job {
  CK_FUNCTION_LIST_PTR p11;
  CK_SLOT_ID slot;
  const char *key_label;
  double seconds;
  long signatures;
  int failed;
};

static double raw_now(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *raw_sign_loop(void *arg)
{
  struct raw_sign_job *job = arg;
  CK_SESSION_HANDLE session;
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_ATTRIBUTE find[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, (void *)job->key_label, strlen(job->key_label)}};
  CK_OBJECT_HANDLE key;
  CK_ULONG found = 0;
  CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
  unsigned char digest[32], sig[132];
  double end;

  memset(digest, 0x42, sizeof digest);
  if (job->p11->C_OpenSession(job->slot, CKF_SERIAL_SESSION, NULL, NULL, &session) != CKR_OK ||
      job->p11->C_FindObjectsInit(session, find, 2) != CKR_OK ||
      job->p11->C_FindObjects(session, &key, 1, &found) != CKR_OK || found != 1) {
    job->failed = 1;
    return NULL;
  }
  job->p11->C_FindObjectsFinal(session);
  end = raw_now() + job->seconds;
  while (raw_now() < end) {
    CK_ULONG sig_len = sizeof sig;
    if (job->p11->C_SignInit(session, &mech, key) != CKR_OK ||
        job->p11->C_Sign(session, digest, sizeof digest, sig, &sig_len) != CKR_OK) {
      job->failed = 1;
      break;
    }
    job->signatures++;
  }
  job->p11->C_CloseSession(session);
  return NULL;
}

int main(int argc, char **argv)
{
  void *module;
  CK_RV (*get_list)(CK_FUNCTION_LIST_PTR_PTR);
  CK_FUNCTION_LIST_PTR p11 = NULL;
  CK_SLOT_ID slots[64], slot = 0;
  CK_ULONG nslots = 64;
  CK_SESSION_HANDLE login_session;
  CK_C_INITIALIZE_ARGS init = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};
  const char *pin;
  int threads, have_slot = 0;
  long total = 0;
  struct raw_sign_job jobs[64];
  pthread_t tids[64];

  if (argc != 7 || (threads = atoi(argv[6])) < 1 || threads > 64 || (pin = getenv(argv[4])) == NULL) {
    fprintf(stderr, "usage: raw_sign MODULE TOKEN KEY PIN_ENV SECONDS THREADS\n");
    return 2;
  }
  module = dlopen(argv[1], RTLD_NOW);
  get_list = module != NULL ? (CK_RV(*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(module, "C_GetFunctionList") : NULL;
  if (get_list == NULL || get_list(&p11) != CKR_OK || p11->C_Initialize(&init) != CKR_OK ||
      p11->C_GetSlotList(CK_TRUE, slots, &nslots) != CKR_OK) {
    fprintf(stderr, "raw_sign: cannot use module %s\n", argv[1]);
    return 1;
  }
  for (CK_ULONG i = 0; i < nslots && !have_slot; i++) {
    CK_TOKEN_INFO info;
    char label[33];
    if (p11->C_GetTokenInfo(slots[i], &info) != CKR_OK)
      continue;
    memcpy(label, info.label, 32);
    label[32] = '\0';
    for (int k = 31; k >= 0 && label[k] == ' '; k--)
      label[k] = '\0';
    if (strcmp(label, argv[2]) == 0) {
      slot = slots[i];
      have_slot = 1;
    }
  }
  if (!have_slot || p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &login_session) != CKR_OK ||
      p11->C_Login(login_session, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)) != CKR_OK) {
    fprintf(stderr, "raw_sign: token %s not found or login failed\n", argv[2]);
    return 1;
  }
  for (int i = 0; i < threads; i++) {
    jobs[i] = (struct raw_sign_job){p11, slot, argv[3], atof(argv[5]), 0, 0};
    pthread_create(&tids[i], NULL, raw_sign_loop, &jobs[i]);
  }
  for (int i = 0; i < threads; i++) {
    pthread_join(tids[i], NULL);
    if (jobs[i].failed) {
      fprintf(stderr, "raw_sign: signing failed\n");
      return 1;
    }
    total += jobs[i].signatures;
  }
  printf("raw_sign_per_s %.0f\n", (double)total / atof(argv[5]));
  p11->C_Finalize(NULL);
  return 0;
}

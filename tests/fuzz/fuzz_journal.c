/* fuzz_journal.c - libFuzzer target: the journal reader. The bytes are a
 * journal file, checked by journal_verify (header, every record's syntax,
 * seq, chain) through an in-memory file. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"
#include "journal.h"
#include "syscalls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  char path[64];
  struct journal_verify_report report;
  struct st_detail why;
  int fd = memfd_create("journal", MFD_CLOEXEC);
  if (fd < 0)
    return 0;
  if (st_write_all(fd, data, len) == 0) {
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    journal_verify(path, &report, &why);
  }
  close(fd);
  return 0;
}

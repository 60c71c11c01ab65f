/* Lets go of start-up's code pages: the pages of the read-only segments of
 * the program and of its shared libraries leave this process's resident
 * set once, so only those the running broker touches again come back (from
 * the page cache, where they stay for every process that maps the files). */
#define _GNU_SOURCE
#include "platform/platform.h"

#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Read-only segments per object: ELF files have two or three. */
#define MAX_RANGES 8

struct release {
    uintptr_t page;
    size_t n_released_len;
};

/* Text relocations make a library's code pages private copies: dropping
 * them would bring back the unrelocated bytes of the file. */
static int has_text_relocations(const struct dl_phdr_info *info)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_DYNAMIC) continue;
        const ElfW(Dyn) *d = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
        for (; d->d_tag != DT_NULL; d++) {
            if (d->d_tag == DT_TEXTREL) return 1;
            if (d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_TEXTREL)) return 1;
        }
    }
    return 0;
}

/* Only segments without write permission: their pages hold the file's own
 * bytes, never copied on write (relocated pointers live in the writable
 * segments, RELRO included, which stay), so dropping one loses nothing.
 * Ranges are rounded inward so a page shared with a writable neighbour is
 * never touched. The program headers sit in the first read-only segment:
 * all ranges are taken before any is dropped, or reading the next header
 * would fault that segment's first pages straight back in. The vDSO is the
 * kernel's, not a file's: left alone. */
static int release_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct release *r = arg;
    if (info->dlpi_name && strstr(info->dlpi_name, "linux-vdso")) return 0;
    if (has_text_relocations(info)) return 0;
    uintptr_t start[MAX_RANGES], end[MAX_RANGES];
    int n = 0;
    for (int i = 0; i < info->dlpi_phnum && n < MAX_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W)) continue;
        uintptr_t lo = (uintptr_t)info->dlpi_addr + (uintptr_t)ph->p_vaddr;
        uintptr_t hi = (lo + (uintptr_t)ph->p_memsz) & ~(r->page - 1);
        lo = (lo + r->page - 1) & ~(r->page - 1);
        if (hi <= lo) continue;
        start[n] = lo;
        end[n++] = hi;
    }
    for (int i = 0; i < n; i++)
        if (madvise((void *)start[i], end[i] - start[i], MADV_DONTNEED) == 0)
            r->n_released_len += end[i] - start[i];
    return 0;
}

/* A debugger plants its breakpoints in private copies of code pages:
 * dropping those would remove the breakpoints without its knowing. */
static int traced(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f) return 0;
    char line[128];
    long tracer = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "TracerPid:", 10) == 0) tracer = strtol(line + 10, NULL, 10);
    fclose(f);
    return tracer != 0;
}

size_t ed_plat_mem_release_code(void)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || traced()) return 0;
    struct release r = {.page = (uintptr_t)page, .n_released_len = 0};
    dl_iterate_phdr(release_object, &r);
    return r.n_released_len;
}

/* What splicing produce bytes from the socket into a segment file would
 * save: a sender process (CPU 0) streams MIB mebibytes over loopback TCP in
 * 1 MiB writes; the receiver (CPU 1) takes them 1 MiB at a time in one of
 * three ways and prints its own CPU time (getrusage) per MiB:
 *
 *   recv   recv into a buffer, CRC32C of the buffer, pwrite to the file
 *          (what Eddy's produce path does);
 *   mmap   splice socket -> pipe -> file, then CRC32C of the file range
 *          through a read-only mapping (checking the page cache in place);
 *   pread  splice socket -> pipe -> file, then pread the range back and
 *          CRC32C it.
 *
 *   build/bench/splice_bench MODE MIB FILE     (make build/bench/splice_bench)
 *
 * FILE must be on the disk under test; it is removed at the end. Linux
 * only (splice, sched_setaffinity). docs/benchmarks.md has the reading. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage/batch.h"

#define CHUNK (1u << 20)

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void pin(int cpu)
{
    cpu_set_t cs;
    CPU_ZERO(&cs);
    CPU_SET(cpu, &cs);
    if (sched_setaffinity(0, sizeof cs, &cs) != 0) die("sched_setaffinity");
}

static void send_all(const struct sockaddr_in *a, long total)
{
    pin(0);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (const struct sockaddr *)a, sizeof *a) != 0) die("connect");
    char *b = malloc(CHUNK);
    if (!b) die("malloc");
    memset(b, 'x', CHUNK);
    for (long left = total; left > 0;) {
        ssize_t w = write(s, b, CHUNK);
        if (w <= 0) die("write");
        left -= w;
    }
    close(s);
    free(b);
    exit(0);
}

/* Moves len bytes from socket s into file f at off through pipe pp. */
static size_t splice_in(int s, const int pp[2], int f, long off, size_t len)
{
    size_t have = 0;
    while (have < len) {
        ssize_t n = splice(s, NULL, pp[1], NULL, len - have, SPLICE_F_MOVE);
        if (n < 0) die("splice from socket");
        if (n == 0) break;
        loff_t at = off + (loff_t)have;
        for (ssize_t m = n; m > 0;) {
            ssize_t k = splice(pp[0], NULL, f, &at, (size_t)m, SPLICE_F_MOVE);
            if (k <= 0) die("splice to file");
            m -= k;
        }
        have += (size_t)n;
    }
    return have;
}

static double usec(const struct timeval *a, const struct timeval *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e6 + (double)(b->tv_usec - a->tv_usec);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: splice_bench recv|mmap|pread MIB FILE\n");
        return 2;
    }
    const char *mode = argv[1];
    long total = atol(argv[2]) << 20;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 1) != 0 ||
        getsockname(ls, (struct sockaddr *)&a, &al) != 0)
        die("listen");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) send_all(&a, total);
    pin(1);
    int s = accept(ls, NULL, NULL);
    int f = open(argv[3], O_RDWR | O_CREAT | O_TRUNC, 0644);
    uint8_t *buf = malloc(CHUNK);
    int pp[2];
    if (s < 0 || f < 0 || !buf || pipe(pp) != 0) die("set-up");
    if (fcntl(pp[1], F_SETPIPE_SZ, CHUNK) < 0) die("F_SETPIPE_SZ");
    long got = 0;
    uint32_t crc = 0;
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    while (got < total) {
        size_t have = 0;
        if (strcmp(mode, "recv") == 0) {
            while (have < CHUNK) {
                ssize_t n = recv(s, buf + have, CHUNK - have, 0);
                if (n < 0) die("recv");
                if (n == 0) break;
                have += (size_t)n;
            }
            crc = ed_crc32c(crc, buf, have);
            if (pwrite(f, buf, have, got) != (ssize_t)have) die("pwrite");
        } else {
            have = splice_in(s, pp, f, got, CHUNK);
            if (strcmp(mode, "mmap") == 0) {
                uint8_t *m = mmap(NULL, have, PROT_READ, MAP_SHARED | MAP_POPULATE, f, got);
                if (m == MAP_FAILED) die("mmap");
                crc = ed_crc32c(crc, m, have);
                munmap(m, have);
            } else {
                if (pread(f, buf, have, got) != (ssize_t)have) die("pread");
                crc = ed_crc32c(crc, buf, have);
            }
        }
        if (have == 0) break;
        got += (long)have;
    }
    getrusage(RUSAGE_SELF, &r1);
    double mib = (double)got / (1 << 20);
    double u = usec(&r0.ru_utime, &r1.ru_utime), k = usec(&r0.ru_stime, &r1.ru_stime);
    printf("mode=%s mib=%.0f user_us_per_mib=%.0f sys_us_per_mib=%.0f cpu_us_per_mib=%.0f "
           "crc=%08x\n",
           mode, mib, u / mib, k / mib, (u + k) / mib, crc);
    waitpid(pid, NULL, 0);
    unlink(argv[3]);
    free(buf);
    return 0;
}
